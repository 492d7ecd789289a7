// Command referrald runs referral programs for student ambassadors: QR
// scans become impressions, signups become referrals, purchases become
// earnings. One binary, one bbolt file.
//
// Usage:
//
//	referrald serve [-config FILE]            run the service
//	referrald keys create --scope S --name N  print a new API token once
//	referrald keys list | keys revoke ID      manage API keys
//	referrald backup FILE                     write a consistent copy of the store
//	referrald version                         print the version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"iter"
	"os"
	"path/filepath"
	"text/tabwriter"

	"github.com/referrald/referrald/config"
	"github.com/referrald/referrald/model"
	"github.com/referrald/referrald/store"
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
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

func run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "serve":
		return serve(args[1:], getenv, stderr)
	case "keys":
		return keys(args[1:], getenv, stdout, stderr)
	case "backup":
		return backup(args[1:], getenv, stderr)
	case "hooks":
		return hooksCommand(args[1:], getenv, stdout, stderr)
	case "export":
		return exportCommand(args[1:], getenv, stdout, stderr)
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
  keys create --scope S --name N     create an API key and print its token once
  keys list                          list API keys
  keys revoke ID                     revoke an API key
  backup FILE                        write a consistent copy of the store, even while it serves
  export referrals|earnings|commissions [-o FILE] [-program_id ID] ...
                                     write records as CSV, with the list filters
  hooks dead-letters --plugin P      list a hook plugin's dead letters
  hooks retry --plugin P [EVENT...]  deliver dead letters again (all of P's when none are named)
  version                            print the version

Settings come from -config FILE (see config.example.yaml) and the
environment (REFERRALD_LISTEN, REFERRALD_DATA_DIR, ...); see README.md.
The load generator is a command of its own: cmd/referrald-bench (make bench).
`)
}

// commandFlags parses a command's flags, always including -config, and
// loads the configuration. A usage or config problem prints one line.
func commandFlags(name string, args []string, getenv func(string) string, stderr io.Writer, define func(*flag.FlagSet)) (*flag.FlagSet, config.Config, bool) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", getenv("REFERRALD_CONFIG"), "YAML settings file (default: none, or $REFERRALD_CONFIG)")
	if define != nil {
		define(fs)
	}
	if err := fs.Parse(args); err != nil {
		return nil, config.Config{}, false
	}
	cfg, err := config.Load(*configPath, config.Env{Get: getenv})
	if err != nil {
		fmt.Fprintln(stderr, "referrald:", err)
		return nil, cfg, false
	}
	return fs, cfg, true
}

func keys(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: referrald keys create --scope read|write|admin --name NAME | keys list | keys revoke ID")
		return exitUsage
	}
	var scope, name *string
	fs, cfg, ok := commandFlags("keys "+args[0], args[1:], getenv, stderr, func(fs *flag.FlagSet) {
		scope = fs.String("scope", "", "read, write or admin (create)")
		name = fs.String("name", "", "what the key is for (create)")
	})
	if !ok {
		return exitUsage
	}
	st, err := store.Open(cfg.StorePath(), store.Options{SweepInterval: -1})
	if err != nil {
		fmt.Fprintln(stderr, "referrald:", err)
		if errors.Is(err, store.ErrLocked) {
			fmt.Fprintln(stderr, "referrald: while the server runs, manage keys through the API: POST/GET /v1/keys, DELETE /v1/keys/ID")
		}
		return exitFailed
	}
	defer st.Close()
	ctx := context.Background()

	switch args[0] {
	case "create":
		k, token, err := st.CreateAPIKey(ctx, model.APIKeyCreate{Name: *name, Scope: model.Scope(*scope)})
		if err != nil {
			fmt.Fprintln(stderr, "referrald:", describe(err))
			return exitUsage
		}
		fmt.Fprintf(stderr, "created %s (scope %s, name %q); the token below is shown only once:\n", k.ID, k.Scope, k.Name)
		fmt.Fprintln(stdout, token)
	case "list":
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tSCOPE\tNAME\tCREATED\tREVOKED")
		for k, err := range allKeys(ctx, st) {
			if err != nil {
				fmt.Fprintln(stderr, "referrald:", err)
				return exitFailed
			}
			revoked := "-"
			if k.RevokedAt != nil {
				revoked = k.RevokedAt.Format(model.TimeLayout)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", k.ID, k.Scope, k.Name, k.CreatedAt.Format(model.TimeLayout), revoked)
		}
		tw.Flush()
	case "revoke":
		if fs.NArg() != 1 {
			fmt.Fprintln(stderr, "usage: referrald keys revoke ID")
			return exitUsage
		}
		k, err := st.RevokeAPIKey(ctx, fs.Arg(0))
		if err != nil {
			fmt.Fprintln(stderr, "referrald:", describe(err))
			return exitFailed
		}
		fmt.Fprintf(stderr, "revoked %s at %s\n", k.ID, k.RevokedAt.Format(model.TimeLayout))
	default:
		fmt.Fprintf(stderr, "referrald: unknown keys command %q\n", args[0])
		return exitUsage
	}
	return exitOK
}

// allKeys walks every API key page by page.
func allKeys(ctx context.Context, keys model.APIKeyService) iter.Seq2[*model.APIKey, error] {
	return func(yield func(*model.APIKey, error) bool) {
		opt := model.ListOptions{Limit: model.MaxListLimit}
		for {
			page, err := keys.FindAPIKeys(ctx, opt)
			if err != nil {
				yield(nil, err)
				return
			}
			for _, k := range page.Data {
				if !yield(k, nil) {
					return
				}
			}
			if !page.HasMore {
				return
			}
			opt.Cursor = *page.NextCursor
		}
	}
}

// backup writes a consistent copy of the store to a file. With the server
// stopped it reads the store directly; while it runs (the file is locked)
// it asks the server for GET /v1/admin/backup with an admin token. The copy
// is written beside the target, fsync'd, renamed into place and checked.
func backup(args []string, getenv func(string) string, stderr io.Writer) int {
	var url *string
	fs, cfg, ok := commandFlags("backup", args, getenv, stderr, func(fs *flag.FlagSet) {
		url = fs.String("url", "", "the running server's base URL (default: http://<listen>)")
	})
	if !ok {
		return exitUsage
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "usage: referrald backup [-config FILE] [-url URL] FILE")
		return exitUsage
	}
	dst := fs.Arg(0)
	tmp := dst + ".partial"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		fmt.Fprintln(stderr, "referrald: backup:", err)
		return exitFailed
	}
	defer os.Remove(tmp)
	source, err := copyStore(cfg, *url, getenv, f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		fmt.Fprintln(stderr, "referrald: backup:", err)
		return exitFailed
	}
	// Checked before it takes the place of anything: a bad copy must
	// never replace a good backup.
	sum, err := store.Verify(tmp)
	if err != nil {
		fmt.Fprintf(stderr, "referrald: backup: the copy does not check out, %s is left as it was: %v\n", dst, err)
		return exitFailed
	}
	if err = os.Rename(tmp, dst); err == nil {
		err = syncDir(filepath.Dir(dst))
	}
	if err != nil {
		fmt.Fprintln(stderr, "referrald: backup:", err)
		return exitFailed
	}
	fmt.Fprintf(stderr, "backup of %s written to %s and checked: %d programs, %d ambassadors, %d impressions, %d referrals\n",
		source, dst, sum.Programs, sum.Ambassadors, sum.Impressions, sum.Referrals)
	return exitOK
}

// copyStore writes the store to w and says where it came from.
func copyStore(cfg config.Config, url string, getenv func(string) string, w io.Writer) (string, error) {
	st, api, err := storeOrServer(cfg, url, getenv, "back it up")
	if err != nil {
		return "", err
	}
	if st != nil {
		defer st.Close()
		_, err = st.Backup(context.Background(), w, func(int64) {})
		return cfg.StorePath(), err
	}
	return api.base, api.copyTo(context.Background(), "/v1/admin/backup", w)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
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
