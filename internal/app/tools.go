package app

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/cerberus-iam/cerberus/internal/config"
	"github.com/cerberus-iam/cerberus/internal/crypto"
)

const healthcheckUsage = `Usage: cerberus healthcheck [--url URL]

GETs URL/health (default http://127.0.0.1:PORT) and exits 0 on 200, 1
otherwise. Containers use it as their health check.
`

var healthcheckCommand = command{
	summary: "probe a running server's /health (container health check)",
	usage:   healthcheckUsage,
	run:     runHealthcheck,
}

func runHealthcheck(ctx context.Context, e *Env, args []string) int {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	base := fs.String("url", "", "base URL of the server")
	if code := parseFlags(fs, e, healthcheckUsage, args); code >= 0 {
		return code
	}
	if fs.NArg() > 0 {
		return usageError(e, healthcheckUsage, "unexpected argument %q", fs.Arg(0))
	}
	if *base == "" {
		*base = "http://127.0.0.1:" + strconv.Itoa(portFromEnv(e))
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, *base+"/health", nil)
	if err != nil {
		return usageError(e, healthcheckUsage, "invalid --url: %v", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintf(e.Stderr, "cerberus: health check failed: %v\n", err)
		return ExitFailure
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(e.Stderr, "cerberus: health check answered %d\n", resp.StatusCode)
		return ExitFailure
	}
	fmt.Fprintln(e.Stdout, "ok")
	return ExitOK
}

// portFromEnv reads PORT without a full configuration load, so the health
// check works even where other variables are incomplete.
func portFromEnv(e *Env) int {
	cfg, _, _, err := config.Load(e.Environ, e.Dir)
	if err != nil || cfg == nil || cfg.Port == 0 {
		return 4000
	}
	return cfg.Port
}

const secretsUsage = `Usage: cerberus secrets generate
       cerberus secrets rotate [--dry-run]

  generate   print a new random SECRET_ENCRYPTION_KEY (base64 of 32 bytes)
  rotate     re-seal every stored secret with SECRET_ENCRYPTION_KEY
             (see cerberus secrets rotate --help)
`

var secretsCommand = command{
	summary: "generate encryption keys, re-seal stored secrets with a new one",
	usage:   secretsUsage,
	run:     runSecrets,
}

func runSecrets(ctx context.Context, e *Env, args []string) int {
	if len(args) > 0 && args[0] == "rotate" {
		return runSecretsRotate(ctx, e, args[1:])
	}
	if len(args) != 1 || args[0] != "generate" {
		return usageError(e, secretsUsage, "secrets needs a subcommand")
	}
	fmt.Fprintln(e.Stdout, crypto.GenerateKey())
	return ExitOK
}
