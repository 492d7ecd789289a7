package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/referrald/referrald/config"
	"github.com/referrald/referrald/model"
	"github.com/referrald/referrald/paging"
	"github.com/referrald/referrald/store"
)

// keys runs `referrald keys create|list|revoke` on the store file. Only
// `keys create -create-store` makes a store where there is none: a first
// run's key goes into a new one, and a mistyped data dir is an error.
func keys(args []string, env config.Env, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: referrald keys create --scope read|write|admin --name NAME [-create-store] | keys list | keys revoke ID")
		return exitUsage
	}
	if args[0] != "create" && args[0] != "list" && args[0] != "revoke" {
		fmt.Fprintf(stderr, "referrald: unknown keys command %q\n", args[0])
		return exitUsage
	}
	var scope, name *string
	var createStore bool
	fs, cfg, ok := commandFlags("keys "+args[0], args[1:], env, stderr, func(fs *flag.FlagSet) {
		scope = fs.String("scope", "", "read, write or admin (create)")
		name = fs.String("name", "", "what the key is for (create)")
		if args[0] == "create" {
			fs.BoolVar(&createStore, "create-store", false, "make a new, empty store if there is none at data_dir (a first run)")
		}
	})
	if !ok {
		return exitUsage
	}
	open := openExisting
	if createStore {
		open = openStore
	}
	st, err := open(cfg)
	if err != nil {
		if errors.Is(err, errNoStore) && args[0] == "create" {
			fmt.Fprintf(stderr, "referrald: no store at %s (check data_dir or REFERRALD_DATA_DIR; for a first run, add -create-store)\n", cfg.StorePath())
			return exitFailed
		}
		fmt.Fprintln(stderr, "referrald:", err)
		if errors.Is(err, store.ErrLocked) {
			fmt.Fprintln(stderr, "referrald: while the server runs, manage keys through the API: POST/GET /v1/keys, DELETE /v1/keys/ID")
		}
		return exitFailed
	}
	defer st.Close()
	ctx := cliContext()

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
		for k, err := range paging.All(ctx, st.FindAPIKeys) {
			if err != nil {
				fmt.Fprintln(stderr, "referrald:", err)
				return exitFailed
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", k.ID, k.Scope, k.Name, k.CreatedAt.Format(model.TimeLayout), optTime(k.RevokedAt))
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
	}
	return exitOK
}
