// Package adminclient is a client of a running referrald's admin API:
// backups, CSV exports and the hooks' dead letters, with an admin token.
// The referrald command uses it while the server holds the store file's
// lock, so that the same commands work with the server stopped or running.
package adminclient

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/referrald/referrald/model"
)

// httpClient bounds the wait for an answer to start, not the streaming of
// a large backup or export.
var httpClient = &http.Client{Transport: &http.Transport{ResponseHeaderTimeout: time.Minute}}

// Client is a running referrald's admin API.
type Client struct {
	// BaseURL is the server's base URL, such as http://127.0.0.1:8080.
	BaseURL string
	// Token is an admin API token.
	Token string
}

// NoAnswerError is the error of a request the server never answered (it
// is not running, or BaseURL is wrong), kept apart from an answer that was
// not 200 so that a caller can say why it asked.
type NoAnswerError struct{ Err error }

func (e *NoAnswerError) Error() string { return "asking the server failed: " + e.Err.Error() }
func (e *NoAnswerError) Unwrap() error { return e.Err }

// Backup streams a consistent copy of the store, GET /v1/admin/backup, to w.
func (c *Client) Backup(ctx context.Context, w io.Writer) error {
	return c.copyTo(ctx, "/v1/admin/backup", w)
}

// Export streams the CSV of GET /v1/exports/KIND.csv, with the list
// filters in q, to w.
func (c *Client) Export(ctx context.Context, kind string, q url.Values, w io.Writer) error {
	return c.copyTo(ctx, "/v1/exports/"+kind+".csv?"+q.Encode(), w)
}

// FindDeadLetters returns a page of plugin's dead letters, GET
// /v1/admin/hooks/dead-letters.
func (c *Client) FindDeadLetters(ctx context.Context, plugin string, opt model.ListOptions) (model.Page[*model.DeadLetter], error) {
	var page model.Page[*model.DeadLetter]
	q := url.Values{"plugin": {plugin}, "limit": {fmt.Sprint(opt.Limit)}}
	if opt.Cursor != "" {
		q.Set("cursor", opt.Cursor)
	}
	err := c.decode(ctx, "GET", "/v1/admin/hooks/dead-letters?"+q.Encode(), nil, &page)
	return page, err
}

// RetryDeadLetters queues plugin's dead letters, the ones named or all of
// them, for delivery again (POST /v1/admin/hooks/dead-letters/retry) and
// returns how many were queued.
func (c *Client) RetryDeadLetters(ctx context.Context, plugin string, eventIDs []string) (int, error) {
	body := map[string]any{"plugin": plugin}
	if len(eventIDs) > 0 {
		body["event_ids"] = eventIDs
	}
	var out struct{ Queued int }
	err := c.decode(ctx, "POST", "/v1/admin/hooks/dead-letters/retry", body, &out)
	return out.Queued, err
}

// call sends body (as JSON, when not nil) and returns the response of a
// 200 OK for the caller to read and close; any other status is an error
// that carries the server's problem detail.
func (c *Client) call(ctx context.Context, method, path string, body any) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := httpClient.Do(req)
	if err != nil {
		return nil, &NoAnswerError{err}
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
func (c *Client) decode(ctx context.Context, method, path string, body, out any) error {
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
func (c *Client) copyTo(ctx context.Context, path string, w io.Writer) error {
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
