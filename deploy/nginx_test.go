package deploy_test

import (
	"context"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cerberus-iam/cerberus/internal/e2e"
)

// nginxBinary finds nginx, which .ci/install.sh installs.
func nginxBinary(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"nginx", "/usr/sbin/nginx"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	t.Fatal("nginx is not installed: run .ci/install.sh (apt-get install nginx)")
	return ""
}

// proxySite is a rendering of the nginx sample for a test: its own prefix
// folder, ports on 127.0.0.1 and upstream instances.
type proxySite struct {
	prefix    string
	conf      string
	httpPort  int
	httpsPort int
	accessLog string
	// roots trusts the site's throwaway certificate.
	roots *x509.CertPool
}

// renderSample writes nginx.conf under a new prefix: a minimal main
// configuration that includes the sample, with the sample's addresses,
// certificate and log path replaced by the test's.
func renderSample(t *testing.T, upstreams []string) *proxySite {
	t.Helper()
	prefix := t.TempDir()
	certPath, keyPath, pool := throwawayCert(t, prefix)
	s := &proxySite{prefix: prefix, conf: filepath.Join(prefix, "nginx.conf"),
		httpPort: e2e.FreePort(t), httpsPort: e2e.FreePort(t),
		accessLog: filepath.Join(prefix, "cerberus.access.log"), roots: pool}
	var servers []string
	for _, u := range upstreams {
		servers = append(servers, "server "+u+" max_fails=3 fail_timeout=10s;")
	}
	sample := replaceOnce(t, string(readRepoFile(t, "deploy/nginx/cerberus.conf")),
		[2]string{"server 10.0.1.11:4000 max_fails=3 fail_timeout=10s;\n" +
			"    server 10.0.1.12:4000 max_fails=3 fail_timeout=10s;\n" +
			"    server 10.0.1.13:4000 max_fails=3 fail_timeout=10s;",
			strings.Join(servers, "\n    ")},
		[2]string{"listen 80;\n    listen [::]:80;",
			"listen 127.0.0.1:" + strconv.Itoa(s.httpPort) + ";"},
		[2]string{"listen 443 ssl http2;\n    listen [::]:443 ssl http2;",
			"listen 127.0.0.1:" + strconv.Itoa(s.httpsPort) + " ssl http2;"},
		[2]string{"/etc/nginx/tls/id.example.com/fullchain.pem", certPath},
		[2]string{"/etc/nginx/tls/id.example.com/privkey.pem", keyPath},
		[2]string{"/var/log/nginx/cerberus.access.log", s.accessLog},
	)
	writeFile(t, filepath.Join(prefix, "cerberus.conf"), sample)
	writeFile(t, s.conf, mainConf(prefix))
	return s
}

// mainConf is the smallest nginx.conf that runs the sample in the
// foreground with every path under prefix. Running as root, workers keep
// root so they can use the test's private temporary folders.
func mainConf(prefix string) string {
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;\n"
	}
	return fmt.Sprintf(`%sworker_processes 1;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log info;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path %[2]s/client_body;
    proxy_temp_path %[2]s/proxy;
    fastcgi_temp_path %[2]s/fastcgi;
    uwsgi_temp_path %[2]s/uwsgi;
    scgi_temp_path %[2]s/scgi;
    include %[2]s/cerberus.conf;
}
`, user, prefix)
}

// replaceOnce applies each old→new replacement, failing when old does not
// occur exactly once (the sample changed and the test must follow).
func replaceOnce(t *testing.T, s string, pairs ...[2]string) string {
	t.Helper()
	for _, p := range pairs {
		if n := strings.Count(s, p[0]); n != 1 {
			t.Fatalf("nginx sample: %q occurs %d times, want 1", p[0], n)
		}
		s = strings.Replace(s, p[0], p[1], 1)
	}
	return s
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestNginxSampleIsValid runs `nginx -t` on the sample.
func TestNginxSampleIsValid(t *testing.T) {
	site := renderSample(t, []string{"127.0.0.1:1", "127.0.0.1:2"})
	out, err := exec.Command(nginxBinary(t), "-t", "-p", site.prefix,
		"-c", site.conf).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "test is successful") {
		t.Fatalf("nginx -t: %v\n%s", err, out)
	}
}

// startNginx runs nginx in the foreground until the test ends and waits
// until it accepts connections.
func startNginx(t *testing.T, site *proxySite) {
	t.Helper()
	cmd := exec.Command(nginxBinary(t), "-p", site.prefix, "-c", site.conf,
		"-g", "daemon off;")
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start nginx: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(site.prefix, "error.log"))
			t.Logf("nginx output:\n%s\nerror.log:\n%s", out.String(), log)
		}
	})
	addr := "127.0.0.1:" + strconv.Itoa(site.httpsPort)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		select {
		case <-done:
			t.Fatalf("nginx exited:\n%s", out.String())
		default:
		}
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("nginx did not listen on %s:\n%s", addr, out.String())
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// waitExit waits for a stopped server's exit code.
func waitExit(s *e2e.Server, within time.Duration) int {
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	return s.Wait(ctx)
}
