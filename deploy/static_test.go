package deploy_test

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// buildLine finds the `go build` command of the Dockerfile's build stage.
var buildLine = regexp.MustCompile(`(?s)CGO_ENABLED=0 GOOS=linux go build (.*?)\n\n`)

// TestDockerfileBuildsStaticBinary builds the binary with the flags the
// Dockerfile uses and checks that the result needs no dynamic loader and
// no shared library, so it runs on a distroless static base.
func TestDockerfileBuildsStaticBinary(t *testing.T) {
	docker := string(readRepoFile(t, "Dockerfile"))
	m := buildLine.FindStringSubmatch(docker)
	if m == nil {
		t.Fatal("Dockerfile has no `CGO_ENABLED=0 GOOS=linux go build` step")
	}
	for _, want := range []string{"-trimpath", `-s -w`, "-X main.version=",
		"-X main.commit=", "-X main.date=", "./cmd/cerberus"} {
		if !strings.Contains(m[1], want) {
			t.Errorf("Dockerfile build step lacks %q:\n%s", want, m[1])
		}
	}
	for _, want := range []string{"distroless/static", "USER 65532",
		"EXPOSE 4000", `"cerberus", "healthcheck"`, "ENTRYPOINT"} {
		if !strings.Contains(strings.ReplaceAll(docker, "/usr/local/bin/", ""), want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}

	bin := buildLikeDockerfile(t)
	assertStatic(t, bin)
	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("cerberus version: %v\n%s", err, out)
	}
	for _, want := range []string{"cerberus 9.9.9-test", "commit abc1234",
		"built 2030-01-02T03:04:05Z"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("version output lacks %q:\n%s", want, out)
		}
	}
}

// buildLikeDockerfile runs the Dockerfile's build command with fixed
// stamp values and returns the binary's path.
func buildLikeDockerfile(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "cerberus")
	ldflags := "-s -w -X main.version=9.9.9-test -X main.commit=abc1234 " +
		"-X main.date=2030-01-02T03:04:05Z"
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", ldflags,
		"-o", bin, "./cmd/cerberus")
	cmd.Dir = repoRoot(t)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// assertStatic fails unless bin has no interpreter, no needed shared
// library and no symbol table (-s), and, where the tools exist, file(1)
// and ldd(1) agree.
func assertStatic(t *testing.T, bin string) {
	t.Helper()
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("binary has a PT_INTERP program header: it is dynamic")
		}
	}
	if libs, err := f.ImportedLibraries(); err != nil || len(libs) > 0 {
		t.Errorf("binary needs shared libraries %v (%v)", libs, err)
	}
	if f.Section(".symtab") != nil {
		t.Error("binary keeps its symbol table: -s was not applied")
	}
	if path, err := exec.LookPath("file"); err == nil {
		out, _ := exec.Command(path, bin).CombinedOutput()
		if !strings.Contains(string(out), "statically linked") {
			t.Errorf("file(1) does not call it static: %s", out)
		}
	}
	if path, err := exec.LookPath("ldd"); err == nil {
		out, _ := exec.Command(path, bin).CombinedOutput()
		if !strings.Contains(string(out), "not a dynamic executable") {
			t.Errorf("ldd(1) lists libraries: %s", out)
		}
	}
}
