package identity_test

import (
	"bufio"
	"context"
	"errors"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cerberus-iam/cerberus/internal/crypto"
	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/dbtest"
	"github.com/cerberus-iam/cerberus/internal/identity"
)

// Shape of the login burst of the memory test. Under the race detector,
// which slows Argon2 several times, each hash uses a quarter of the memory.
const (
	burstLogins      = 200
	burstConcurrency = 2
)

var burstMemoryKiB = uint32(32 * 1024)

func init() {
	if raceEnabled {
		burstMemoryKiB /= 4
	}
}

// TestConcurrentLoginsStayWithinHashMemory sends 200 concurrent logins for
// one account and reports the growth of resident memory (peak VmHWM over
// the resident size before the burst). The hasher's semaphore lets only
// burstConcurrency Argon2 computations hold their 32 MiB at once, so the
// growth stays near that bound instead of 200 × 32 MiB = 6.25 GiB.
//
// The growth is checked against four times the bound: Go's collector lets
// garbage reach the size of the live heap before reclaiming it (the
// default GOGC=100), so the buffers of finished computations linger for a
// cycle beside those of the running ones, and the runtime keeps some of
// the freed memory mapped. Under the race detector, whose shadow memory
// multiplies the figure, it is only reported.
func TestConcurrentLoginsStayWithinHashMemory(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc/self/status")
	}
	hasher := crypto.NewPasswordHasher(crypto.HashParams{MemoryKiB: burstMemoryKiB,
		Iterations: 1, Parallelism: 1}, burstConcurrency, 5*time.Minute, nil)
	r := newRig(t, dbtest.Open(t, db.Postgres), hasher)
	r.onboard(t, "burst@example.com")

	baseline := settle(t)
	ok := loginBurst(t, r)
	peak := procStatus(t, "VmHWM")
	growth := peak - baseline
	bound := int64(hasher.MaxMemory())

	t.Logf("%d concurrent logins (%d succeeded): resident %d MiB before, peak %d MiB, "+
		"growth %d MiB; semaphore bound %d MiB; unbounded would be %d MiB",
		burstLogins, ok, baseline>>20, peak>>20, growth>>20, bound>>20,
		int64(burstLogins)*int64(burstMemoryKiB)>>10)
	if ok != burstLogins {
		t.Errorf("%d of %d logins succeeded", ok, burstLogins)
	}
	if !raceEnabled && growth > 4*bound {
		t.Errorf("resident memory grew %d MiB, over 4 × the %d MiB bound",
			growth>>20, bound>>20)
	}
}

// settle returns memory to the system, resets the peak and returns the
// resident size.
func settle(t *testing.T) int64 {
	t.Helper()
	runtime.GC()
	debug.FreeOSMemory()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		t.Skipf("cannot reset the resident peak: %v", err)
	}
	return procStatus(t, "VmRSS")
}

// loginBurst runs the logins at once and returns how many succeeded.
func loginBurst(t *testing.T, r *rig) int {
	t.Helper()
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	start := make(chan struct{})
	for range burstLogins {
		wg.Go(func() {
			<-start
			_, err := r.svc.Login(context.Background(), identity.LoginInput{
				Email: "burst@example.com", Password: password, IP: "192.0.2.7"})
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				ok++
			} else if !errors.Is(err, crypto.ErrHasherBusy) {
				t.Errorf("login: %v", err)
			}
		})
	}
	close(start)
	wg.Wait()
	return ok
}

// procStatus reads a kB field of /proc/self/status, in bytes.
func procStatus(t *testing.T, field string) int64 {
	t.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc/self/status: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || name != field {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if err != nil {
			t.Fatalf("parse %s: %v", field, err)
		}
		return kb << 10
	}
	t.Fatalf("no %s in /proc/self/status", field)
	return 0
}
