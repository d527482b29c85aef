package oauth

import (
	"context"
	"log/slog"
	"time"
)

// RotationCheckInterval is how often each instance checks whether the
// signing keys are due for rotation.
const RotationCheckInterval = time.Hour

// Rotator is the background worker that rotates the signing keys when due
// and purges retired ones. Only the instance holding the key-rotation lock
// acts; the others skip.
type Rotator struct {
	Keys     *KeyStore
	Log      *slog.Logger
	Interval time.Duration
}

// Run checks at once and then every Interval until ctx ends.
func (r *Rotator) Run(ctx context.Context) error {
	interval := r.Interval
	if interval <= 0 {
		interval = RotationCheckInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		r.check(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (r *Rotator) check(ctx context.Context) {
	rotated, err := r.Keys.RotateIfDue(ctx)
	switch {
	case err != nil && ctx.Err() == nil:
		r.Log.Error("signing key rotation check failed", "error", err.Error())
	case rotated:
		r.Log.Info("signing keys rotated", "event", "system.keys_rotated")
	}
}
