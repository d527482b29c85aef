package retention

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/cerberus-iam/cerberus/internal/db"
)

// LockName is the database lock whose holder runs the retention jobs.
const LockName = "cleanup"

// Scheduler runs the retention jobs on their intervals, on the one
// instance holding the cleanup lock. An instance that cannot take the lock
// tries again every Tick, so another takes over when the holder stops.
//
// The lock is a PostgreSQL session lock on a connection the holder keeps;
// if that connection breaks, another instance may start running the jobs
// while the first still does. Every job is idempotent, so the only cost
// is duplicated work.
type Scheduler struct {
	Runner *Runner
	Jobs   []Job
	Log    *slog.Logger
	// Tick is how often it checks for due jobs (default 1 min).
	Tick time.Duration

	next map[string]time.Time
}

// Run runs due jobs until ctx ends, then releases the lock. A job that
// fails is logged and tried again at the next tick. Run returns nil once
// ctx ends.
func (s *Scheduler) Run(ctx context.Context) error {
	tick := s.Tick
	if tick <= 0 {
		tick = time.Minute
	}
	t := time.NewTimer(0)
	defer t.Stop()
	var release func()
	defer func() {
		if release != nil {
			release()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if release == nil {
			release = s.acquire(ctx)
		}
		if release != nil {
			s.RunDue(ctx)
		}
		t.Reset(tick)
	}
}

// acquire takes the cleanup lock, or returns nil when another instance
// holds it or the database cannot be reached.
func (s *Scheduler) acquire(ctx context.Context) func() {
	release, err := s.Runner.DB.TryLock(ctx, LockName)
	switch {
	case errors.Is(err, db.ErrLockHeld):
		return nil
	case err != nil:
		if ctx.Err() == nil {
			s.Log.Warn("retention: cannot take the cleanup lock", "error", err.Error())
		}
		return nil
	}
	s.Log.Info("retention: this instance runs the retention jobs")
	return release
}

// RunDue runs every job whose interval has passed since it last ran
// (every job, the first time).
func (s *Scheduler) RunDue(ctx context.Context) {
	if s.next == nil {
		s.next = map[string]time.Time{}
	}
	for _, j := range s.Jobs {
		now := s.Runner.Now()
		if ctx.Err() != nil || now.Before(s.next[j.Name]) {
			continue
		}
		start := time.Now()
		res, err := s.Runner.Run(ctx, j)
		logResults(s.Log, res, time.Since(start))
		if err != nil {
			if ctx.Err() == nil {
				s.Log.Error("retention job failed", "job", j.Name, "error", err.Error())
			}
			continue
		}
		s.next[j.Name] = now.Add(j.Every)
	}
}
