// Command load drives a running Cerberus IAM server over HTTP and reports,
// per scenario, how many requests succeeded, were throttled or failed, the
// throughput of the successful ones and their latency percentiles.
//
// It needs nothing but the server's base URL: before the scenarios run it
// onboards a fresh organisation through the public API and, with the
// owner's session, creates a confidential client for the client
// credentials grant and an API key (see setup.go). Every run leaves that
// organisation behind.
//
// The server's rate limits apply to the tool like to any client: raise
// RATE_MAX, AUTH_RATE_MAX and TOKEN_RATE_MAX on the server under test, or
// the throttled column measures the limiter rather than the endpoint.
//
// Usage:
//
//	go run ./bench/load -url http://127.0.0.1:4000 -workers 8 -duration 10s
//	go run ./bench/load -scenarios token,introspect
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"
)

// config is the command line.
type config struct {
	url       string
	scenarios []scenario
	opts      Options
}

func main() {
	cfg, err := parseFlags(os.Args[1:], os.Stderr)
	if err == flag.ErrHelp {
		return
	}
	if err != nil {
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string, out io.Writer) (*config, error) {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() { usage(fs) }
	cfg := &config{}
	fs.StringVar(&cfg.url, "url", "http://127.0.0.1:4000", "base URL of the server")
	names := fs.String("scenarios", strings.Join(scenarioNames(), ","),
		"comma-separated scenarios to run, in order")
	fs.IntVar(&cfg.opts.Workers, "workers", 8, "concurrent workers per scenario")
	fs.DurationVar(&cfg.opts.Duration, "duration", 10*time.Second, "run time per scenario")
	fs.DurationVar(&cfg.opts.Timeout, "timeout", 10*time.Second, "timeout of one request")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	var err error
	if cfg.scenarios, err = pickScenarios(*names); err != nil {
		fmt.Fprintln(out, err)
		return nil, err
	}
	if cfg.opts.Workers < 1 || cfg.opts.Duration <= 0 || cfg.opts.Timeout <= 0 {
		err = fmt.Errorf("-workers, -duration and -timeout must be positive")
		fmt.Fprintln(out, err)
		return nil, err
	}
	cfg.url = strings.TrimSuffix(cfg.url, "/")
	return cfg, nil
}

func usage(fs *flag.FlagSet) {
	w := fs.Output()
	fmt.Fprintf(w, "Usage: go run ./bench/load [flags]\n\n"+
		"Onboards a fresh organisation on the server, then runs each scenario\n"+
		"with -workers concurrent workers for -duration.\n\nScenarios:\n")
	for _, s := range scenarios {
		fmt.Fprintf(w, "  %-12s %s\n", s.name, s.about)
	}
	fmt.Fprintf(w, "\nFlags:\n")
	fs.PrintDefaults()
}

// run sets the organisation up and runs the scenarios one after the other,
// printing the table at the end. It fails when setup fails or when any
// scenario had unexpected errors.
func run(ctx context.Context, cfg *config, out io.Writer) error {
	c := newClient(cfg.opts.Workers, cfg.opts.Timeout)
	f, err := Setup(ctx, c, cfg.url)
	if err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	fmt.Fprintf(out, "organisation %s on %s, %d workers, %s per scenario\n\n",
		f.Slug, cfg.url, cfg.opts.Workers, cfg.opts.Duration)
	var reports []*Report
	for _, s := range cfg.scenarios {
		if ctx.Err() != nil {
			break // interrupted: report what ran
		}
		r, err := Run(ctx, c, f, s, cfg.opts)
		if err != nil {
			return err
		}
		reports = append(reports, r)
	}
	Print(out, reports)
	for _, r := range reports {
		if r.Errors > 0 {
			return fmt.Errorf("%s: %d unexpected errors", r.Scenario, r.Errors)
		}
	}
	return nil
}
