// Command referrald runs referral programs for student ambassadors: QR
// scans become impressions, signups become referrals, purchases become
// earnings. One binary, one bbolt file.
//
// Usage:
//
//	referrald serve [-config FILE]            run the service
//	referrald keys create --scope S --name N  print a new API token once
//	referrald keys list | keys revoke ID      manage API keys
//	referrald users create --email E --role R create a console user (password on stdin)
//	referrald users list | users disable      manage console users
//	referrald backup FILE                     write a consistent copy of the store
//	referrald healthcheck [-url URL]          exit 0 if the running server is ready
//	referrald version                         print the version
//
// This package parses the command line; app builds and runs the server,
// config reads the settings. Each command has its own file.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/referrald/referrald/config"
	"github.com/referrald/referrald/hooks"
	"github.com/referrald/referrald/model"
)

// version is stamped by `make build` with -ldflags.
var version = "dev"

// Exit codes.
const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2
)

func main() {
	os.Exit(run(os.Args[1:], config.Env{Get: os.Getenv, List: os.Environ}, os.Stdout, os.Stderr))
}

func run(args []string, env config.Env, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "serve":
		return serve(args[1:], env, stdout, stderr)
	case "keys":
		return keys(args[1:], env, stdout, stderr)
	case "users":
		return usersCommand(args[1:], env, os.Stdin, stdout, stderr)
	case "backup":
		return backup(args[1:], env, stderr)
	case "hooks":
		return hooksCommand(args[1:], env, stdout, stderr)
	case "export":
		return exportCommand(args[1:], env, stdout, stderr)
	case "healthcheck":
		return healthcheck(args[1:], env, stderr)
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, "referrald", version)
		return exitOK
	case "help", "-h", "-help", "--help":
		usage(stdout)
		return exitOK
	}
	fmt.Fprintf(stderr, "referrald: unknown command %q\n", args[0])
	usage(stderr)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage: referrald <command> [-config FILE] [flags]

commands:
  serve                              run the service
  keys create --scope S --name N [-create-store]
                                     create an API key and print its token once
                                     (-create-store: make the store if there is none yet)
  keys list                          list API keys
  keys revoke ID                     revoke an API key
  users create --email E --role owner|manager|viewer
                                     create a console user; the password is read from
                                     standard input (makes the store if there is none)
  users list                         list console users
  users disable --email E            disable a console user and end their sessions
  backup FILE                        write a consistent copy of the store, even while it serves
  export ambassadors|referrals|earnings|commissions|payouts [-o FILE] [-program_id ID] ...
                                     write records as CSV, with the list filters
  hooks dead-letters --plugin P      list a hook plugin's dead letters
  hooks retry --plugin P [EVENT...]  deliver dead letters again (all of P's when none are named)
  healthcheck [-url URL]             exit 0 if the server at listen (or URL) answers /readyz with 200,
                                     else 1 with the reason: the container image's HEALTHCHECK
  version                            print the version

Settings come from -config FILE (see config.example.yaml) and the
environment (REFERRALD_LISTEN, REFERRALD_DATA_DIR, ...); see docs/operations.md.
The load generator is a command of its own: cmd/referrald-bench (make bench).
`)
}

// cliVariables are the REFERRALD_ variables the commands read besides the
// settings, which config.Load must therefore not take for typos.
var cliVariables = []string{"REFERRALD_CONFIG", "REFERRALD_TOKEN",
	// Set for the hook plugins referrald starts; harmless if inherited.
	hooks.Handshake.MagicCookieKey}

// parseFlags parses a command's flags, always including -config, and
// returns the config file's path. A usage problem prints one line.
func parseFlags(name string, args []string, env config.Env, stderr io.Writer, define func(*flag.FlagSet)) (*flag.FlagSet, string, bool) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", env.Get("REFERRALD_CONFIG"), "YAML settings file (default: none, or $REFERRALD_CONFIG)")
	if define != nil {
		define(fs)
	}
	if err := fs.Parse(args); err != nil {
		return nil, "", false
	}
	return fs, *configPath, true
}

// loadConfig loads the configuration; a problem prints one line.
func loadConfig(path string, env config.Env, stderr io.Writer) (config.Config, bool) {
	cfg, err := config.Load(path, env, cliVariables...)
	if err != nil {
		fmt.Fprintln(stderr, "referrald:", err)
		return cfg, false
	}
	return cfg, true
}

// commandFlags parses a command's flags and loads the configuration.
func commandFlags(name string, args []string, env config.Env, stderr io.Writer, define func(*flag.FlagSet)) (*flag.FlagSet, config.Config, bool) {
	fs, path, ok := parseFlags(name, args, env, stderr, define)
	if !ok {
		return nil, config.Config{}, false
	}
	cfg, ok := loadConfig(path, env, stderr)
	return fs, cfg, ok
}

// describe renders a domain error with its field problems for a terminal.
func describe(err error) string {
	var me *model.Error
	if !errors.As(err, &me) {
		return err.Error()
	}
	s := me.Message
	for _, f := range me.Fields {
		s += fmt.Sprintf("; %s: %s", f.Field, f.Message)
	}
	return s
}
