// Package app is the composition root of Cerberus IAM: it reads the
// configuration, opens the database, builds the services, the HTTP server
// and the workers, and implements the commands of the cerberus binary.
package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

// Exit codes of every command.
const (
	ExitOK      = 0
	ExitFailure = 1
	ExitUsage   = 2
)

// Build describes the binary; the linker sets it.
type Build struct {
	Version string
	Commit  string
	Date    string
}

// Env is what a command runs with: its streams, environment and working
// directory (where .env and the development data/ folder are).
type Env struct {
	Stdout  io.Writer
	Stderr  io.Writer
	Environ []string
	Dir     string
	Build   Build
}

// command is one subcommand of the binary.
type command struct {
	summary string
	usage   string
	run     func(ctx context.Context, e *Env, args []string) int
}

// commands is the table of subcommands, by name.
func commands() map[string]command {
	return map[string]command{
		"serve":       serveCommand,
		"migrate":     migrateCommand,
		"preflight":   preflightCommand,
		"verify":      verifyCommand,
		"healthcheck": healthcheckCommand,
		"secrets":     secretsCommand,
		"version":     versionCommand,
		"keys":        keysCommand,
		"cleanup":     cleanupCommand,
		"tokens":      tokensCommand,
		"users":       usersCommand,
	}
}

// Main runs the command named by args[0] and returns the exit code.
// SIGINT and SIGTERM cancel the command's context.
func Main(args []string, e *Env) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return Run(ctx, args, e)
}

// Run is Main with a caller-controlled context.
func Run(ctx context.Context, args []string, e *Env) int {
	cmds := commands()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		if len(args) > 1 {
			if c, ok := cmds[args[1]]; ok {
				fmt.Fprint(e.Stdout, c.usage)
				return ExitOK
			}
		}
		printHelp(e.Stdout, cmds)
		if len(args) == 0 {
			return ExitUsage
		}
		return ExitOK
	}
	c, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(e.Stderr, "cerberus: unknown command %q\n\n", args[0])
		printHelp(e.Stderr, cmds)
		return ExitUsage
	}
	return c.run(ctx, e, args[1:])
}

func printHelp(w io.Writer, cmds map[string]command) {
	fmt.Fprintln(w, "Cerberus IAM: identity and access management server.")
	fmt.Fprintln(w, "\nUsage: cerberus <command> [arguments]\n\nCommands:")
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-13s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'cerberus help <command>' for a command's arguments.")
	fmt.Fprintln(w, "Configuration comes from the environment and ./.env; see docs/configuration.md.")
}

// parseFlags parses a command's flags; help returns ExitOK, errors
// ExitUsage, success -1.
func parseFlags(fs *flag.FlagSet, e *Env, usage string, args []string) int {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(e.Stdout, usage)
		return ExitOK
	}
	if err != nil {
		fmt.Fprintf(e.Stderr, "cerberus: %v\n\n%s", err, usage)
		return ExitUsage
	}
	return -1
}

// usageError prints a usage problem and returns ExitUsage.
func usageError(e *Env, usage, format string, args ...any) int {
	fmt.Fprintf(e.Stderr, "cerberus: "+format+"\n\n%s", append(args, usage)...)
	return ExitUsage
}

var versionCommand = command{
	summary: "print version, commit, build date and Go version",
	usage:   "Usage: cerberus version\n\nPrints build information.\n",
	run: func(_ context.Context, e *Env, args []string) int {
		if len(args) > 0 {
			return usageError(e, "Usage: cerberus version\n", "version takes no arguments")
		}
		b := e.Build
		fmt.Fprintf(e.Stdout, "cerberus %s\ncommit %s\nbuilt %s\n%s\n",
			orUnknown(b.Version), orUnknown(b.Commit), orUnknown(b.Date), goVersion())
		return ExitOK
	},
}

func orUnknown(s string) string {
	if strings.TrimSpace(s) == "" {
		return "unknown"
	}
	return s
}

// DefaultEnv returns the Env of the running process.
func DefaultEnv(b Build) *Env {
	return &Env{Stdout: os.Stdout, Stderr: os.Stderr, Environ: os.Environ(), Dir: ".",
		Build: b}
}
