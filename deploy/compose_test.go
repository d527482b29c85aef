package deploy_test

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/cerberus-iam/cerberus/internal/config"
)

// composeFile is the part of docker-compose.yml the test inspects.
type composeFile struct {
	Services map[string]composeService `json:"services"`
}

type composeService struct {
	Image       string                       `json:"image"`
	Build       any                          `json:"build"`
	Command     []string                     `json:"command"`
	Environment map[string]string            `json:"environment"`
	DependsOn   map[string]map[string]string `json:"depends_on"`
	Healthcheck *struct {
		Test []string `json:"test"`
	} `json:"healthcheck"`
	Ports    []string `json:"ports"`
	ReadOnly bool     `json:"read_only"`
	CapDrop  []string `json:"cap_drop"`
}

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	js, err := yaml.YAMLToJSON(readRepoFile(t, "docker-compose.yml"))
	if err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	var c composeFile
	if err := json.Unmarshal(js, &c); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	return c
}

// TestComposeStartOrder checks that the server starts only after its
// dependencies are healthy and the one-shot migration has succeeded.
func TestComposeStartOrder(t *testing.T) {
	c := loadCompose(t)
	for _, name := range []string{"postgres", "redis", "mailpit", "migrate", "cerberus"} {
		if _, ok := c.Services[name]; !ok {
			t.Fatalf("service %s missing", name)
		}
	}
	migrate, server := c.Services["migrate"], c.Services["cerberus"]
	if !slices.Equal(migrate.Command, []string{"migrate", "up"}) {
		t.Errorf("migrate command %v", migrate.Command)
	}
	if migrate.Image != server.Image || migrate.Build == nil {
		t.Errorf("migrate and server must run the same built image: %q vs %q",
			migrate.Image, server.Image)
	}
	want := map[string]string{"postgres": "service_healthy", "redis": "service_healthy",
		"mailpit": "service_healthy", "migrate": "service_completed_successfully"}
	for dep, cond := range want {
		if got := server.DependsOn[dep]["condition"]; got != cond {
			t.Errorf("cerberus depends on %s with %q, want %q", dep, got, cond)
		}
	}
	for _, name := range []string{"postgres", "redis", "mailpit", "cerberus"} {
		if c.Services[name].Healthcheck == nil {
			t.Errorf("service %s has no health check", name)
		}
	}
	if hc := server.Healthcheck; hc == nil || !strings.Contains(
		strings.Join(hc.Test, " "), "cerberus healthcheck") {
		t.Errorf("server health check is not `cerberus healthcheck`")
	}
	if !slices.Contains(server.Ports, "4000:4000") || !server.ReadOnly ||
		!slices.Equal(server.CapDrop, []string{"ALL"}) {
		t.Errorf("server ports %v, read_only %v, cap_drop %v",
			server.Ports, server.ReadOnly, server.CapDrop)
	}
}

// TestComposeEnvironmentIsValid loads the server's environment from the
// compose file through the real configuration loader: no problem and no
// warning about an unknown or misspelt variable.
func TestComposeEnvironmentIsValid(t *testing.T) {
	env := loadCompose(t).Services["cerberus"].Environment
	var environ []string
	for k, v := range env {
		if strings.HasPrefix(v, "${SECRET_ENCRYPTION_KEY") {
			v = testKey
		}
		environ = append(environ, k+"="+v)
	}
	_, problems, _, err := config.Load(environ, t.TempDir())
	if err != nil || len(problems) > 0 {
		t.Fatalf("compose environment: %v %v", err, problems)
	}
	assertKnownVariables(t, env)
}

// documentedVariable matches a variable name in the first column of the
// table of docs/configuration.md.
var documentedVariable = regexp.MustCompile("(?m)^\\| `([A-Z0-9_]+)`")

// assertKnownVariables fails for any name of env that docs/configuration.md
// does not document: such a variable would be silently ignored.
func assertKnownVariables(t *testing.T, env map[string]string) {
	t.Helper()
	known := map[string]bool{}
	doc := readRepoFile(t, "docs/configuration.md")
	for _, m := range documentedVariable.FindAllSubmatch(doc, -1) {
		known[string(m[1])] = true
	}
	if len(known) < 20 {
		t.Fatalf("found only %d variables in docs/configuration.md", len(known))
	}
	for name := range env {
		if !known[name] {
			t.Errorf("%s is not a configuration variable", name)
		}
	}
}

// testKey is a strong SECRET_ENCRYPTION_KEY for configuration checks.
const testKey = "q6Jx0uXnX2b7Z2l4U9m1c3V5e8R0t2Y4w6A8s0D2f4G="
