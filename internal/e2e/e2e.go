// Package e2e starts the real cerberus binary for end-to-end tests: it
// builds the binary once per test process, runs it on a free port against a
// fresh database, waits until it answers, and stops or kills it at the end
// of the test. Tests then drive it over HTTP like any client would.
package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/dbtest"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// Binary returns the path of the cerberus binary, building it on first use.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		root, err := moduleRoot()
		if err != nil {
			buildErr = err
			return
		}
		dir, err := os.MkdirTemp("", "cerberus-e2e-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "cerberus")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/cerberus")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatalf("build cerberus: %v", buildErr)
	}
	return binPath
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the test directory")
		}
		dir = parent
	}
}

// FreePort returns a TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// NewKey returns a random SECRET_ENCRYPTION_KEY value.
func NewKey() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

// Options configure a server.
type Options struct {
	// Engine selects a fresh database when DatabaseURL is empty (default
	// SQLite).
	Engine      db.Engine
	DatabaseURL string
	// Env adds or overrides variables (see Start for the defaults).
	Env map[string]string
	// Dir is the working directory (default: a new temporary directory).
	Dir string
	// NoWait returns without waiting for /health.
	NoWait bool
}

// Server is a running cerberus process.
type Server struct {
	URL  string
	Port int
	Dir  string
	Env  map[string]string

	cmd  *exec.Cmd
	logs *syncBuffer
	done chan struct{}
	exit int
}

// Start runs `cerberus serve` with NODE_ENV=test, a free PORT, ISSUER_URL
// http://127.0.0.1:PORT, a fresh database, a random encryption key,
// MIGRATE_ON_START=true, LOG_LEVEL=debug and SHUTDOWN_TIMEOUT_SEC=5, plus
// o.Env. The process is killed when t ends if still running.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	port := FreePort(t)
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	if o.DatabaseURL == "" {
		e := o.Engine
		if e == "" {
			e = db.SQLite
		}
		o.DatabaseURL = dbtest.URL(t, e)
	}
	env := map[string]string{
		"NODE_ENV": "test", "PORT": strconv.Itoa(port),
		"ISSUER_URL":   "http://127.0.0.1:" + strconv.Itoa(port),
		"DATABASE_URL": o.DatabaseURL, "SECRET_ENCRYPTION_KEY": NewKey(),
		"MIGRATE_ON_START": "true", "LOG_LEVEL": "debug", "SHUTDOWN_TIMEOUT_SEC": "5",
	}
	for k, v := range o.Env {
		env[k] = v
	}
	s := &Server{URL: env["ISSUER_URL"], Port: port, Dir: o.Dir, Env: env}
	if p, err := strconv.Atoi(env["PORT"]); err == nil {
		s.Port = p
	}
	s.start(t, env, "serve")
	if !o.NoWait {
		s.WaitHealthy(t, 20*time.Second)
	}
	return s
}

// Command starts `cerberus args…` in dir with exactly env (plus PATH and
// HOME). Set URL before calling WaitHealthy.
func Command(t testing.TB, dir string, env map[string]string, args ...string) *Server {
	t.Helper()
	s := &Server{Dir: dir, Env: env}
	s.start(t, env, args...)
	return s
}

func (s *Server) start(t testing.TB, env map[string]string, args ...string) {
	t.Helper()
	s.cmd = exec.Command(Binary(t), args...)
	s.cmd.Dir = s.Dir
	s.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range env {
		s.cmd.Env = append(s.cmd.Env, k+"="+v)
	}
	s.logs = &syncBuffer{}
	s.cmd.Stdout, s.cmd.Stderr = s.logs, s.logs
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start cerberus: %v", err)
	}
	s.done = make(chan struct{})
	go func() {
		_ = s.cmd.Wait()
		s.exit = s.cmd.ProcessState.ExitCode()
		close(s.done)
	}()
	t.Cleanup(func() {
		s.Kill()
		if t.Failed() {
			t.Logf("cerberus log:\n%s", s.Logs())
		}
	})
}

// WaitHealthy polls /health until it answers 200.
func (s *Server) WaitHealthy(t testing.TB, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			t.Fatalf("cerberus exited with %d before answering:\n%s", s.exit, s.Logs())
		default:
		}
		resp, err := http.Get(s.URL + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("cerberus did not become healthy within %s:\n%s", within, s.Logs())
}

// Signal sends sig to the process.
func (s *Server) Signal(sig os.Signal) error { return s.cmd.Process.Signal(sig) }

// Wait waits for the process to exit (bounded by ctx) and returns its exit
// code, or -1 when ctx ends first.
func (s *Server) Wait(ctx context.Context) int {
	select {
	case <-s.done:
		return s.exit
	case <-ctx.Done():
		return -1
	}
}

// Stop sends SIGTERM and waits up to 30 s for the exit code.
func (s *Server) Stop(t testing.TB) int {
	t.Helper()
	_ = s.Signal(syscall.SIGTERM)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code := s.Wait(ctx)
	if code == -1 {
		t.Fatalf("cerberus did not stop within 30 s:\n%s", s.Logs())
	}
	return code
}

// Kill ends the process at once (SIGKILL), as a crash would.
func (s *Server) Kill() {
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Kill()
	<-s.done
}

// Exited reports whether the process has ended.
func (s *Server) Exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// Logs returns what the process has written so far.
func (s *Server) Logs() string { return s.logs.String() }

// Run runs a one-shot cerberus command with env in dir and returns its exit
// code and combined output.
func Run(t testing.TB, dir string, env map[string]string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(Binary(t), args...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	if err != nil && cmd.ProcessState == nil {
		t.Fatalf("run cerberus %v: %v", args, err)
	}
	return cmd.ProcessState.ExitCode(), string(out)
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
