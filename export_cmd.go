package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"slices"
	"strings"

	"github.com/referrald/referrald/adminclient"
	"github.com/referrald/referrald/config"
	"github.com/referrald/referrald/export"
	"github.com/referrald/referrald/store"
)

// exportCommand runs `referrald export KIND` (ambassadors, referrals,
// earnings, commissions, payouts): the same CSV as GET
// /v1/exports/KIND.csv, from the store file when the server is stopped,
// through the API while it runs.
func exportCommand(args []string, env config.Env, stdout, stderr io.Writer) int {
	if len(args) == 0 || !slices.Contains(export.Kinds, args[0]) {
		fmt.Fprintln(stderr, "usage: referrald export "+strings.Join(export.Kinds, "|")+" [-o FILE] [-program_id ID] [-ambassador_id ID] [-status S] ...")
		return exitUsage
	}
	kind := args[0]
	filters := map[string]*string{}
	var out, baseURL *string
	_, cfg, ok := commandFlags("export "+kind, args[1:], env, stderr, func(fs *flag.FlagSet) {
		out = fs.String("o", "", "write to FILE instead of standard output")
		baseURL = fs.String("url", "", "the running server's base URL (default: http://<listen>)")
		for _, name := range export.FilterNames {
			filters[name] = fs.String(name, "", "filter, as in the API")
		}
	})
	if !ok {
		return exitUsage
	}
	w := stdout
	var file *os.File
	if *out != "" {
		var err error
		if file, err = os.OpenFile(*out+".partial", os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600); err != nil {
			fmt.Fprintln(stderr, "referrald: export:", err)
			return exitFailed
		}
		defer os.Remove(*out + ".partial")
		w = file
	}
	rows, err := runExport(kind, filters, cfg, *baseURL, env.Get, w)
	if file != nil {
		if cerr := file.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Rename(*out+".partial", *out)
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, "referrald: export:", describe(err))
		return exitFailed
	}
	if rows >= 0 {
		fmt.Fprintf(stderr, "exported %d %s\n", rows, kind)
	}
	return exitOK
}

// runExport writes the CSV and returns the rows written (-1 when the
// server wrote them and did not say).
func runExport(kind string, filters map[string]*string, cfg config.Config, baseURL string, getenv func(string) string, w io.Writer) (int, error) {
	rows := -1
	err := storeOrServer(cfg, baseURL, getenv, "export",
		func(st *store.Store) error {
			f, err := export.ParseFilter(func(name string) string { return *filters[name] })
			if err != nil {
				return err
			}
			rows, err = export.Write(context.Background(), export.Services{Ambassadors: st, Referrals: st, Earnings: st}, kind, f, w)
			return err
		},
		func(api *adminclient.Client) error {
			q := url.Values{}
			for name, v := range filters {
				if *v != "" {
					q.Set(name, *v)
				}
			}
			return api.Export(context.Background(), kind, q, w)
		})
	return rows, err
}
