package crypto_test

import (
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cerberus-iam/cerberus/internal/crypto"
)

// productionConcurrency is the default of PASSWORD_HASH_CONCURRENCY.
func productionConcurrency() int {
	return 2 * runtime.GOMAXPROCS(0)
}

// BenchmarkHash measures one password hash with the default parameters.
// Its B/op is the memory one Argon2id computation allocates (about 64 MiB).
func BenchmarkHash(b *testing.B) {
	h := crypto.NewPasswordHasher(crypto.DefaultHashParams, 1, longWait, nil)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Hash(b.Context(), "Correct-Horse-1"); err != nil {
			b.Fatalf("Hash: %v", err)
		}
	}
}

// BenchmarkVerifyConcurrent runs logins from four goroutines per CPU
// against a hasher with the production bound (2 × GOMAXPROCS), as under a
// burst of logins. It reports the peak number of simultaneous computations,
// the peak memory they imply (peak × MemoryKiB), the memory bound
// (MaxMemory) and the longest wait for a slot.
func BenchmarkVerifyConcurrent(b *testing.B) {
	p := crypto.DefaultHashParams
	var maxWait atomic.Int64
	h := crypto.NewPasswordHasher(p, productionConcurrency(), longWait,
		func(d time.Duration) { storeMax64(&maxWait, int64(d)) })
	var inside, peak atomic.Int32
	crypto.SetSlotHook(h, func(delta int) {
		storeMax(&peak, inside.Add(int32(delta)))
	})

	phc, err := h.Hash(b.Context(), "Correct-Horse-1")
	if err != nil {
		b.Fatalf("Hash: %v", err)
	}
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			ok, _, err := h.Verify(b.Context(), "Correct-Horse-1", phc)
			if err != nil || !ok {
				b.Errorf("Verify = %v, %v; want true, nil", ok, err)
				return
			}
		}
	})
	b.StopTimer()

	const mib = 1 << 20
	b.ReportMetric(float64(peak.Load()), "peak-computations")
	b.ReportMetric(float64(peak.Load())*float64(p.MemoryKiB)*1024/mib,
		"peak-MiB")
	b.ReportMetric(float64(h.MaxMemory())/mib, "bound-MiB")
	b.ReportMetric(float64(maxWait.Load())/float64(time.Millisecond),
		"max-wait-ms")
}

// TestMemoryBoundReport logs the memory bound of the default parameters at
// the production concurrency on this machine, and checks that the bound is
// MemoryKiB × 1024 × concurrency.
func TestMemoryBoundReport(t *testing.T) {
	p := crypto.DefaultHashParams
	for _, c := range []int{1, 4, 8, productionConcurrency()} {
		h := crypto.NewPasswordHasher(p, c, longWait, nil)
		want := uint64(p.MemoryKiB) * 1024 * uint64(c)
		if h.Params() != p {
			t.Errorf("Params() = %+v, want %+v", h.Params(), p)
		}
		if got := h.MaxMemory(); got != want {
			t.Errorf("concurrency %d: MaxMemory() = %d, want %d", c, got, want)
		}
		t.Logf("m=%d KiB × concurrency %d = %d MiB", p.MemoryKiB, c,
			h.MaxMemory()>>20)
	}
}

func storeMax64(peak *atomic.Int64, n int64) {
	for {
		p := peak.Load()
		if n <= p || peak.CompareAndSwap(p, n) {
			return
		}
	}
}
