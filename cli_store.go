package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/user"
	"time"

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
	onStore func(*store.Store) error, onServer func(*serverAPI) error) error {
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
	return onServer(&serverAPI{base: cmp.Or(baseURL, "http://"+cfg.Listen), token: token})
}

// cliClient talks to a running server; it bounds the wait for an answer
// to start, not the streaming of a large backup or export.
var cliClient = &http.Client{Transport: &http.Transport{ResponseHeaderTimeout: time.Minute}}

// serverAPI is a running referrald's admin API.
type serverAPI struct {
	base, token string
}

// call sends body (as JSON, when not nil) and returns the response of a
// 200 OK for the caller to read and close; any other status is an error
// that carries the server's problem detail.
func (c *serverAPI) call(ctx context.Context, method, path string, body any) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := cliClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("the store is in use, and asking the server failed: %w", err)
	}
	if res.StatusCode != http.StatusOK {
		defer res.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(res.Body, 4<<10))
		var problem struct{ Detail string }
		if json.Unmarshal(b, &problem) == nil && problem.Detail != "" {
			b = []byte(problem.Detail)
		}
		return nil, fmt.Errorf("the server answered %s: %s", res.Status, b)
	}
	return res, nil
}

// decode calls the API and reads its JSON answer into out.
func (c *serverAPI) decode(ctx context.Context, method, path string, body, out any) error {
	res, err := c.call(ctx, method, path, body)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 4<<20))
	if err != nil {
		return err
	}
	return json.Unmarshal(b, out)
}

// copyTo calls the API and streams its answer to w, checking it arrived
// whole when the server said how long it is.
func (c *serverAPI) copyTo(ctx context.Context, path string, w io.Writer) error {
	res, err := c.call(ctx, "GET", path, nil)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	n, err := io.Copy(w, res.Body)
	if err == nil && res.ContentLength >= 0 && n != res.ContentLength {
		err = fmt.Errorf("the server sent %d of %d bytes", n, res.ContentLength)
	}
	return err
}
