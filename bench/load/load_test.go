package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/cerberus-iam/cerberus/internal/e2e"
)

// TestEveryScenarioAgainstTheBinary sets an organisation up on the real
// server and runs each scenario briefly with two workers. It checks that
// every scenario succeeds and fails nowhere; how fast is not its concern.
func TestEveryScenarioAgainstTheBinary(t *testing.T) {
	s := e2e.Start(t, e2e.Options{Env: map[string]string{
		// Limits out of the way, so every request reaches its handler.
		"RATE_MAX": "1000000", "AUTH_RATE_MAX": "1000000", "TOKEN_RATE_MAX": "1000000",
		// The cheapest Argon2id the configuration accepts, for logins.
		"PASSWORD_HASH_MEMORY_KIB": "19456", "PASSWORD_HASH_ITERATIONS": "1",
		"PASSWORD_HASH_PARALLELISM": "1",
		// Thousands of requests: keep the captured log small.
		"LOG_LEVEL": "warn",
	}})
	o := Options{Workers: 2, Duration: time.Second, Timeout: 10 * time.Second}
	c := newClient(o.Workers, o.Timeout)
	f, err := Setup(t.Context(), c, s.URL)
	if err != nil {
		t.Fatalf("setup: %v", err)
	}
	var reports []*Report
	for _, sc := range scenarios {
		r, err := Run(t.Context(), c, f, sc, o)
		if err != nil {
			t.Fatalf("%s: %v", sc.name, err)
		}
		reports = append(reports, r)
		if r.OK == 0 || r.Errors > 0 {
			t.Errorf("%s: %d ok, %d errors (%s) %s", sc.name, r.OK, r.Errors,
				r.otherStatuses(), r.FirstError)
		}
	}
	var out bytes.Buffer
	Print(&out, reports)
	t.Logf("\n%s", out.String())
}

func TestPercentileIsNearestRank(t *testing.T) {
	r := &Report{}
	for i := 1; i <= 100; i++ {
		r.Latencies = append(r.Latencies, time.Duration(i)*time.Millisecond)
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 50 * time.Millisecond}, {0.99, 99 * time.Millisecond},
		{1, 100 * time.Millisecond}, {0.001, time.Millisecond}} {
		if got := r.Percentile(c.q); got != c.want {
			t.Errorf("Percentile(%v) = %v, want %v", c.q, got, c.want)
		}
	}
	if got := (&Report{}).Percentile(0.5); got != 0 {
		t.Errorf("Percentile of nothing = %v, want 0", got)
	}
}

func TestClassify(t *testing.T) {
	cases := map[string]int{"200": classOK, "201": classOK, "429": classThrottled,
		"503": classThrottled, "401": classError, "500": classError,
		"transport": classError, "200" + labelRefused: classError}
	for label, want := range cases {
		if got := classify(label); got != want {
			t.Errorf("classify(%q) = %d, want %d", label, got, want)
		}
	}
}

func TestFlags(t *testing.T) {
	var out bytes.Buffer
	cfg, err := parseFlags([]string{"-url", "http://h:1/", "-scenarios", "token, login",
		"-workers", "3"}, &out)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.url != "http://h:1" || len(cfg.scenarios) != 2 ||
		cfg.scenarios[1].name != "login" || cfg.opts.Workers != 3 {
		t.Errorf("parsed %+v", cfg)
	}
	if _, err := parseFlags([]string{"-scenarios", "nope"}, &out); err == nil ||
		!strings.Contains(out.String(), `unknown scenario "nope"`) {
		t.Errorf("unknown scenario accepted: %v %s", err, out.String())
	}
}
