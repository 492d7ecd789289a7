package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/referrald/referrald/adminclient"
	"github.com/referrald/referrald/config"
	"github.com/referrald/referrald/store"
)

// backup writes a consistent copy of the store to a file. With the server
// stopped it reads the store directly; while it runs (the file is locked)
// it asks the server for GET /v1/admin/backup with an admin token. The copy
// is written beside the target, fsync'd, renamed into place and checked.
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
	tmp := dst + ".partial"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		fmt.Fprintln(stderr, "referrald: backup:", err)
		return exitFailed
	}
	defer os.Remove(tmp)
	var source string
	err = storeOrServer(cfg, *url, env.Get, "back it up",
		func(st *store.Store) error {
			source = cfg.StorePath()
			_, err := st.Backup(context.Background(), f, func(int64) {})
			return err
		},
		func(api *adminclient.Client) error {
			source = api.BaseURL
			return api.Backup(context.Background(), f)
		})
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

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
