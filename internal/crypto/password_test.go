package crypto_test

import (
	"context"
	"encoding/base64"
	"errors"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cerberus-iam/cerberus/internal/crypto"
)

// fastParams keep the tests quick; the format and logic do not depend on
// the cost.
var fastParams = crypto.HashParams{MemoryKiB: 1024, Iterations: 2, Parallelism: 1}

// A generous wait: tests that expect a slot never rely on timing.
const longWait = time.Minute

// refHash was made by the Argon2 reference implementation:
// echo -n "correct horse" | argon2 somesalt16bytes! -id -m 10 -t 2 -p 1 -l 32 -e
const refHash = "$argon2id$v=19$m=1024,t=2,p=1$c29tZXNhbHQxNmJ5dGVzIQ" +
	"$ORKFY2V5aGrFS4IeWsK8E5fYjMueulnAXNkNMVa97nc"

var phcFormat = regexp.MustCompile(
	`^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$`)

func newHasher(p crypto.HashParams, concurrency int) *crypto.PasswordHasher {
	return crypto.NewPasswordHasher(p, concurrency, longWait, nil)
}

func TestHashFormat(t *testing.T) {
	h := newHasher(crypto.DefaultHashParams, 1)
	phc, err := h.Hash(t.Context(), "Correct-Horse-1")
	if err != nil {
		t.Fatalf("Hash: %v", err)
	}
	m := phcFormat.FindStringSubmatch(phc)
	if m == nil {
		t.Fatalf("Hash() = %q, not an argon2id PHC string", phc)
	}
	if m[1] != "65536" || m[2] != "3" || m[3] != "4" {
		t.Errorf("parameters m=%s,t=%s,p=%s; want m=65536,t=3,p=4", m[1], m[2], m[3])
	}
	salt, err := base64.RawStdEncoding.DecodeString(m[4])
	if err != nil || len(salt) != 16 {
		t.Errorf("salt %q: %d bytes, %v; want 16 bytes raw std base64",
			m[4], len(salt), err)
	}
	hash, err := base64.RawStdEncoding.DecodeString(m[5])
	if err != nil || len(hash) != 32 {
		t.Errorf("hash %q: %d bytes, %v; want 32 bytes raw std base64",
			m[5], len(hash), err)
	}

	again, _ := h.Hash(t.Context(), "Correct-Horse-1")
	if again == phc {
		t.Error("two hashes of one password are equal; salt is not random")
	}
}

func TestVerify(t *testing.T) {
	h := newHasher(fastParams, 2)
	phc, err := h.Hash(t.Context(), "Correct-Horse-1")
	if err != nil {
		t.Fatalf("Hash: %v", err)
	}
	tests := map[string]bool{
		"Correct-Horse-1":  true,
		"correct-horse-1":  false,
		"Correct-Horse-1 ": false,
		"":                 false,
	}
	for password, want := range tests {
		ok, rehash, err := h.Verify(t.Context(), password, phc)
		if err != nil || ok != want || rehash {
			t.Errorf("Verify(%q) = %v, %v, %v; want %v, false, nil",
				password, ok, rehash, err, want)
		}
	}
}

func TestVerifyReferenceVector(t *testing.T) {
	h := newHasher(fastParams, 1)
	ok, rehash, err := h.Verify(t.Context(), "correct horse", refHash)
	if err != nil || !ok || rehash {
		t.Fatalf("Verify(reference) = %v, %v, %v; want true, false, nil",
			ok, rehash, err)
	}
	ok, _, err = h.Verify(t.Context(), "correct horse!", refHash)
	if err != nil || ok {
		t.Fatalf("Verify(wrong password) = %v, %v; want false, nil", ok, err)
	}
}

func TestVerifyRehash(t *testing.T) {
	stronger := fastParams
	stronger.Iterations++
	h := newHasher(stronger, 1)

	ok, rehash, err := h.Verify(t.Context(), "correct horse", refHash)
	if err != nil || !ok || !rehash {
		t.Fatalf("Verify(older params) = %v, %v, %v; want true, true, nil",
			ok, rehash, err)
	}
	ok, rehash, err = h.Verify(t.Context(), "wrong", refHash)
	if err != nil || ok || rehash {
		t.Errorf("Verify(wrong, older params) = %v, %v, %v; want false, false, nil",
			ok, rehash, err)
	}

	// A 24-byte salt with the hasher's own parameters still needs a rehash.
	// echo -n pw | argon2 saltsaltsaltsaltsaltsalt -id -m 10 -t 2 -p 1 -l 32 -e
	const longSalt = "$argon2id$v=19$m=1024,t=2,p=1" +
		"$c2FsdHNhbHRzYWx0c2FsdHNhbHRzYWx0$uVGONqO382SCG9zlcg/EgHSLBfLHcaJbj3gaUNlk20E"
	ok, rehash, err = newHasher(fastParams, 1).Verify(t.Context(), "pw", longSalt)
	if err != nil || !ok || !rehash {
		t.Errorf("Verify(24-byte salt) = %v, %v, %v; want true, true, nil",
			ok, rehash, err)
	}
}

func TestVerifyMalformed(t *testing.T) {
	h := newHasher(fastParams, 1)
	parts := strings.Split(refHash, "$")
	with := func(i int, v string) string {
		p := append([]string(nil), parts...)
		p[i] = v
		return strings.Join(p, "$")
	}
	tests := map[string]string{
		"empty":          "",
		"bcrypt":         "$2a$10$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234",
		"argon2i":        with(1, "argon2i"),
		"old version":    with(2, "v=16"),
		"missing hash":   strings.Join(parts[:5], "$"),
		"extra field":    refHash + "$x",
		"params order":   with(3, "t=2,m=1024,p=1"),
		"params missing": with(3, "m=1024,t=2"),
		"zero time":      with(3, "m=1024,t=0,p=1"),
		"zero lanes":     with(3, "m=1024,t=2,p=0"),
		"tiny memory":    with(3, "m=4,t=2,p=1"),
		"huge memory":    with(3, "m=99999999999,t=2,p=1"),
		"huge time":      with(3, "m=1024,t=1000000,p=1"),
		"lanes > 255":    with(3, "m=1024,t=2,p=256"),
		"negative":       with(3, "m=-1,t=2,p=1"),
		"padded salt":    with(4, parts[4]+"=="),
		"bad salt":       with(4, "not base64!"),
		"short salt":     with(4, "c2FsdA"),
		"short hash":     with(5, "c2FsdA"),
		"bad hash":       with(5, "***"),
	}
	for name, phc := range tests {
		ok, rehash, err := h.Verify(t.Context(), "correct horse", phc)
		if !errors.Is(err, crypto.ErrMalformedHash) || ok || rehash {
			t.Errorf("%s: Verify = %v, %v, %v; want ErrMalformedHash",
				name, ok, rehash, err)
		}
	}
}

func TestVerifyDummy(t *testing.T) {
	var computations atomic.Int32
	h := newHasher(fastParams, 1)
	crypto.SetSlotHook(h, func(delta int) {
		if delta > 0 {
			computations.Add(1)
		}
	})

	if err := h.VerifyDummy(t.Context(), "anything"); err != nil {
		t.Fatalf("first VerifyDummy: %v", err)
	}
	// The first call also makes the dummy hash.
	if got := computations.Load(); got != 2 {
		t.Errorf("first VerifyDummy ran %d hashes, want 2", got)
	}
	if err := h.VerifyDummy(t.Context(), "anything"); err != nil {
		t.Fatalf("second VerifyDummy: %v", err)
	}
	if got := computations.Load(); got != 3 {
		t.Errorf("second VerifyDummy ran %d hashes, want 1 more", got-2)
	}
}

func TestCanceledContext(t *testing.T) {
	h := newHasher(fastParams, 1)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := h.Hash(ctx, "x"); !errors.Is(err, context.Canceled) {
		t.Errorf("Hash(canceled) error = %v, want context.Canceled", err)
	}
	_, _, err := h.Verify(ctx, "correct horse", refHash)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Verify(canceled) error = %v, want context.Canceled", err)
	}
}

// With one slot held, every other caller waits out its tiny wait and gets
// ErrHasherBusy; no two computations ever overlap. The holder keeps the
// slot until all others have returned, so the outcome does not depend on
// scheduling.
func TestConcurrencyBoundBusy(t *testing.T) {
	const callers = 8
	var waits atomic.Int32
	h := crypto.NewPasswordHasher(fastParams, 1, time.Millisecond,
		func(time.Duration) { waits.Add(1) })

	var inside, peak atomic.Int32
	others := make(chan struct{})
	crypto.SetSlotHook(h, func(delta int) {
		n := inside.Add(int32(delta))
		storeMax(&peak, n)
		if delta > 0 {
			<-others
		}
	})

	errs := make(chan error, callers)
	for range callers {
		go func() {
			_, err := h.Hash(t.Context(), "pw")
			errs <- err
		}()
	}

	// callers-1 of them must fail while the first holds the slot.
	for range callers - 1 {
		if err := <-errs; !errors.Is(err, crypto.ErrHasherBusy) {
			t.Fatalf("Hash error = %v while the slot was held, want ErrHasherBusy",
				err)
		}
	}
	close(others)
	if err := <-errs; err != nil {
		t.Fatalf("slot holder's Hash: %v", err)
	}
	if p := peak.Load(); p != 1 {
		t.Errorf("peak simultaneous computations = %d, want 1", p)
	}
	if w := waits.Load(); w != callers {
		t.Errorf("observe called %d times, want %d", w, callers)
	}
}

// Many callers with enough patience all succeed, and the number computing
// at once reaches the bound but never passes it. The first `bound` entrants
// wait for each other, so the bound is reached whatever the scheduling.
func TestConcurrencyBoundPeak(t *testing.T) {
	const bound, callers = 3, 12
	h := newHasher(fastParams, bound)

	var inside, peak atomic.Int32
	full := make(chan struct{})
	var once sync.Once
	crypto.SetSlotHook(h, func(delta int) {
		n := inside.Add(int32(delta))
		storeMax(&peak, n)
		if n == bound {
			once.Do(func() { close(full) })
		}
		if delta > 0 {
			<-full
		}
	})

	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			if _, err := h.Hash(t.Context(), "pw"); err != nil {
				t.Errorf("Hash: %v", err)
			}
		})
	}
	wg.Wait()
	if p := peak.Load(); p != bound {
		t.Errorf("peak simultaneous computations = %d, want %d", p, bound)
	}
}

func TestSlotReleasedOnPanic(t *testing.T) {
	h := crypto.NewPasswordHasher(fastParams, 1, time.Millisecond, nil)
	var panicked atomic.Bool
	crypto.SetSlotHook(h, func(delta int) {
		if delta > 0 && panicked.CompareAndSwap(false, true) {
			panic("computation failed")
		}
	})

	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("the panic did not reach the caller")
			}
		}()
		h.Hash(t.Context(), "pw")
	}()

	// With the slot leaked, this would wait out its millisecond and fail.
	if _, err := h.Hash(t.Context(), "pw"); err != nil {
		t.Fatalf("Hash after a panic: %v", err)
	}
}

func TestNewPasswordHasherPanicsOnBadConfig(t *testing.T) {
	tests := map[string]func(){
		"zero lanes": func() {
			newHasher(crypto.HashParams{MemoryKiB: 1024, Iterations: 1}, 1)
		},
		"zero concurrency": func() { newHasher(fastParams, 0) },
	}
	for name, f := range tests {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: NewPasswordHasher did not panic", name)
				}
			}()
			f()
		}()
	}
}

func storeMax(peak *atomic.Int32, n int32) {
	for {
		p := peak.Load()
		if n <= p || peak.CompareAndSwap(p, n) {
			return
		}
	}
}
