package crypto

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/crypto/argon2"
)

// Sizes of the salt and hash of a new Argon2id password hash.
const (
	SaltSize = 16
	HashSize = 32
)

// HashParams are the Argon2id cost parameters (RFC 9106): memory in KiB,
// passes over memory, and lanes computed in parallel.
type HashParams struct {
	MemoryKiB   uint32
	Iterations  uint32
	Parallelism uint8
}

// DefaultHashParams are the parameters used when PASSWORD_HASH_* are unset:
// 64 MiB, 3 passes, 4 lanes.
var DefaultHashParams = HashParams{
	MemoryKiB:   65536,
	Iterations:  3,
	Parallelism: 4,
}

// valid reports whether Argon2 accepts the parameters.
func (p HashParams) valid() bool {
	return p.Iterations >= 1 && p.Parallelism >= 1 &&
		p.MemoryKiB >= 8*uint32(p.Parallelism)
}

// ErrHasherBusy means every hashing slot stayed taken for the whole wait.
// The caller should answer 503 and let the client retry.
var ErrHasherBusy = errors.New("password hasher busy")

// dummyPassword is hashed once to build the hash VerifyDummy checks against.
const dummyPassword = "cerberus dummy password for unknown accounts"

// PasswordHasher hashes and verifies passwords and backup codes with
// Argon2id, encoded in the PHC string format
// $argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<hash> (salt and hash
// in unpadded standard base64).
//
// Each computation takes Argon2 memory, so the hasher lets at most
// concurrency computations run at once; the memory they hold is bounded by
// MaxMemory as long as stored hashes use no more memory than the hasher's
// own parameters. A caller waits for a slot at most the configured wait and
// then gets ErrHasherBusy. A slot is held only while Argon2 runs.
//
// A PasswordHasher is safe for concurrent use.
type PasswordHasher struct {
	params  HashParams
	slots   chan struct{}
	wait    time.Duration
	observe func(time.Duration)

	dummyMu sync.Mutex
	dummy   string

	// slotHook, when set by tests, is called with +1 after a slot is taken
	// and with -1 before it is given back.
	slotHook func(delta int)
}

// NewPasswordHasher returns a hasher that makes new hashes with p and runs
// at most concurrency computations at once. A caller that cannot get a slot
// within wait gets ErrHasherBusy. observe, if not nil, receives the time
// each caller spent waiting for a slot, whether it got one or not.
//
// The parameters must be ones Argon2 accepts (Iterations ≥ 1,
// Parallelism ≥ 1, MemoryKiB ≥ 8 × Parallelism) and concurrency at least 1;
// configuration validates both, so anything else is a programming error and
// panics.
func NewPasswordHasher(p HashParams, concurrency int, wait time.Duration,
	observe func(time.Duration)) *PasswordHasher {
	if !p.valid() {
		panic(fmt.Sprintf("crypto: invalid Argon2id parameters %+v", p))
	}
	if concurrency < 1 {
		panic(fmt.Sprintf("crypto: hasher concurrency %d < 1", concurrency))
	}
	return &PasswordHasher{
		params:  p,
		slots:   make(chan struct{}, concurrency),
		wait:    wait,
		observe: observe,
	}
}

// Params returns the parameters new hashes are made with.
func (h *PasswordHasher) Params() HashParams {
	return h.params
}

// MaxMemory returns the most memory, in bytes, that the hasher's Argon2
// computations hold at once: MemoryKiB × 1024 × concurrency. Verifying a
// stored hash made with more memory than the hasher's own parameters can
// exceed it until that hash is upgraded.
func (h *PasswordHasher) MaxMemory() uint64 {
	return uint64(h.params.MemoryKiB) * 1024 * uint64(cap(h.slots))
}

// Hash returns the PHC string of a new Argon2id hash of password under a
// fresh random salt. Errors: ErrHasherBusy, or the context's error when ctx
// ends while waiting for a slot.
func (h *PasswordHasher) Hash(ctx context.Context, password string) (
	string, error) {
	ph := phc{params: h.params, salt: RandomBytes(SaltSize)}
	err := h.compute(ctx, func() {
		ph.hash = idKey(password, ph.salt, ph.params, HashSize)
	})
	if err != nil {
		return "", err
	}
	return ph.String(), nil
}

// Verify reports whether password matches the stored PHC hash and, when it
// does, whether the hash should be replaced by a new one because it was made
// with other parameters or sizes than the hasher's. A malformed or
// unsupported stored hash is an error; so are ErrHasherBusy and the
// context's error.
func (h *PasswordHasher) Verify(ctx context.Context, password, stored string) (
	ok, rehash bool, err error) {
	ph, err := parsePHC(stored)
	if err != nil {
		return false, false, err
	}
	ok, err = h.check(ctx, password, ph)
	if err != nil || !ok {
		return false, false, err
	}
	return true, h.outdated(ph), nil
}

// outdated reports whether ph differs from what Hash makes now.
func (h *PasswordHasher) outdated(ph phc) bool {
	return ph.params != h.params || len(ph.salt) != SaltSize ||
		len(ph.hash) != HashSize
}

// check recomputes the hash of password with ph's salt and parameters and
// compares it with ph's hash in constant time.
func (h *PasswordHasher) check(ctx context.Context, password string,
	ph phc) (bool, error) {
	var got []byte
	err := h.compute(ctx, func() {
		got = idKey(password, ph.salt, ph.params, uint32(len(ph.hash)))
	})
	if err != nil {
		return false, err
	}
	return subtle.ConstantTimeCompare(got, ph.hash) == 1, nil
}

// VerifyDummy spends the work of one Verify against a fixed hash made with
// the hasher's parameters, so a login for an unknown account takes as long
// as one for a known account. The dummy hash is made on first use. Errors
// are those of Verify.
func (h *PasswordHasher) VerifyDummy(ctx context.Context, password string) error {
	dummy, err := h.dummyHash(ctx)
	if err != nil {
		return err
	}
	_, err = h.check(ctx, password, dummy)
	return err
}

// dummyHash returns the dummy hash, making it if no call has yet succeeded.
// Concurrent first callers may each make one; the first stored is kept.
func (h *PasswordHasher) dummyHash(ctx context.Context) (phc, error) {
	h.dummyMu.Lock()
	stored := h.dummy
	h.dummyMu.Unlock()

	if stored == "" {
		made, err := h.Hash(ctx, dummyPassword)
		if err != nil {
			return phc{}, fmt.Errorf("make dummy hash: %w", err)
		}
		h.dummyMu.Lock()
		if h.dummy == "" {
			h.dummy = made
		}
		stored = h.dummy
		h.dummyMu.Unlock()
	}
	return parsePHC(stored)
}

// compute runs f while holding a slot. The slot is given back when f
// returns or panics.
func (h *PasswordHasher) compute(ctx context.Context, f func()) error {
	if err := h.acquire(ctx); err != nil {
		return err
	}
	defer h.release()

	if h.slotHook != nil {
		h.slotHook(+1)
	}
	f()
	return nil
}

// acquire takes a slot, waiting at most h.wait, and reports the time spent.
func (h *PasswordHasher) acquire(ctx context.Context) error {
	start := time.Now()
	err := h.waitSlot(ctx)
	if h.observe != nil {
		h.observe(time.Since(start))
	}
	return err
}

func (h *PasswordHasher) waitSlot(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("wait for password hasher: %w", err)
	}
	select {
	case h.slots <- struct{}{}:
		return nil
	default:
	}

	timer := time.NewTimer(h.wait)
	defer timer.Stop()
	select {
	case h.slots <- struct{}{}:
		return nil
	case <-timer.C:
		return ErrHasherBusy
	case <-ctx.Done():
		return fmt.Errorf("wait for password hasher: %w", ctx.Err())
	}
}

func (h *PasswordHasher) release() {
	if h.slotHook != nil {
		h.slotHook(-1)
	}
	<-h.slots
}

// idKey runs Argon2id; the parameters must be valid.
func idKey(secret string, salt []byte, p HashParams, size uint32) []byte {
	return argon2.IDKey([]byte(secret), salt, p.Iterations, p.MemoryKiB,
		p.Parallelism, size)
}
