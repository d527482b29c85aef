// Command cerberus is the Cerberus IAM server and its operational tools:
// serve, migrate, preflight, verify, keys, secrets and the incident
// commands. Run `cerberus help` for the list.
package main

import (
	"os"

	"github.com/cerberus-iam/cerberus/internal/app"
)

// Set by the linker: -X main.version=… -X main.commit=… -X main.date=….
var (
	version = "dev"
	commit  = ""
	date    = ""
)

func main() {
	env := app.DefaultEnv(app.Build{Version: version, Commit: commit, Date: date})
	os.Exit(app.Main(os.Args[1:], env))
}
