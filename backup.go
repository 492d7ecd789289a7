package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/referrald/referrald/adminclient"
	"github.com/referrald/referrald/config"
	"github.com/referrald/referrald/store"
)

// backup writes a consistent copy of the store to a file. With the server
// stopped it reads the store directly; while it runs (the file is locked)
// it asks the server for GET /v1/admin/backup with an admin token. The copy
// is written beside the target, fsync'd, checked and renamed into place
// (store.WriteBackupFile).
func backup(args []string, env config.Env, stderr io.Writer) int {
	var url *string
	fs, cfg, ok := commandFlags("backup", args, env, stderr, func(fs *flag.FlagSet) {
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
	var source string
	sum, err := store.WriteBackupFile(dst, func(f io.Writer) error {
		return storeOrServer(cfg, *url, env.Get, "back it up",
			func(st *store.Store) error {
				source = cfg.StorePath()
				_, err := st.Backup(context.Background(), f, func(int64) {})
				return err
			},
			func(api *adminclient.Client) error {
				source = api.BaseURL
				return api.Backup(context.Background(), f)
			})
	})
	if err != nil {
		fmt.Fprintln(stderr, "referrald: backup:", err)
		return exitFailed
	}
	fmt.Fprintf(stderr, "backup of %s written to %s and checked: %d programs, %d ambassadors, %d impressions, %d referrals\n",
		source, dst, sum.Programs, sum.Ambassadors, sum.Impressions, sum.Referrals)
	return exitOK
}
