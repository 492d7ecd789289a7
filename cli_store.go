package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"

	"github.com/referrald/referrald/adminclient"
	"github.com/referrald/referrald/config"
	"github.com/referrald/referrald/model"
	"github.com/referrald/referrald/store"
)

// The commands read the store file when the server is stopped. Backup,
// export and hooks ask the server's admin API while it runs, since then it
// holds the file's lock; keys manages keys only through the file.

// errNoStore is openExisting's error for a store file that is not there.
var errNoStore = errors.New("no store")

// openExisting opens the store for a command: a mistyped data dir must be
// an error, not a new, empty store.
func openExisting(cfg config.Config) (*store.Store, error) {
	if _, err := os.Stat(cfg.StorePath()); err != nil {
		return nil, fmt.Errorf("%w at %s (check data_dir or REFERRALD_DATA_DIR)", errNoStore, cfg.StorePath())
	}
	return openStore(cfg)
}

// openStore opens the store, making it if there is none, for a command.
func openStore(cfg config.Config) (*store.Store, error) {
	return store.Open(cfg.StorePath(), store.Options{SweepInterval: -1})
}

// cliContext is the context of a command that changes the store file:
// its changes go to the audit log as the command line's, labelled with
// the system user who ran it.
func cliContext() context.Context {
	label := "referrald command"
	if u, err := user.Current(); err == nil {
		label += " run by " + u.Username
	}
	return model.WithActor(context.Background(), model.Actor{Kind: model.ActorCLI, Label: label, Audited: true})
}

// storeOrServer runs onStore on the store file or, when a running
// referrald holds it, onServer with a client for that server's API, and
// returns what it returns. baseURL is the -url flag; what says what the
// API is needed for, in the error for a missing token.
func storeOrServer(cfg config.Config, baseURL string, getenv func(string) string, what string,
	onStore func(*store.Store) error, onServer func(*adminclient.Client) error) error {
	st, err := openExisting(cfg)
	if err == nil {
		defer st.Close()
		return onStore(st)
	}
	if !errors.Is(err, store.ErrLocked) {
		return err
	}
	token := cmp.Or(getenv("REFERRALD_TOKEN"), cfg.AdminToken)
	if token == "" {
		return fmt.Errorf("the store is in use by a running referrald: set REFERRALD_TOKEN to an admin token to %s through its API", what)
	}
	err = onServer(&adminclient.Client{BaseURL: cmp.Or(baseURL, "http://"+cfg.Listen), Token: token})
	if _, ok := errors.AsType[*adminclient.NoAnswerError](err); ok {
		err = fmt.Errorf("the store is in use, and %w", err)
	}
	return err
}
