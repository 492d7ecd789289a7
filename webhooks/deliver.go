package webhooks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/referrald/referrald/model"
)

// run is the goroutine of one endpoint: it delivers until ctx ends (Stop,
// or the endpoint was disabled or deleted). prev, when set, is closed
// when the endpoint's previous worker has stopped.
func (d *Dispatcher) run(ctx context.Context, w *worker, prev <-chan struct{}) {
	defer d.wg.Done()
	defer close(w.done)
	if prev != nil {
		select {
		case <-prev:
		case <-ctx.Done():
			return
		}
	}
	log := d.log.With("endpoint_id", w.id)
	failures := 0
	for {
		progressed, err := d.round(ctx, w.id)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			if model.ErrorCode(err) == model.ENotFound {
				// Deleted: the supervisor stops this worker at its next look.
				if !sleep(ctx, d.cfg.PollInterval, w.wake) {
					return
				}
				continue
			}
			failures++
			log.Error("webhook delivery: store error", "err", err)
			if !sleep(ctx, backoff(failures), nil) {
				return
			}
			continue
		}
		failures = 0
		if !progressed && !sleep(ctx, d.cfg.PollInterval, w.wake) {
			return
		}
	}
}

// round delivers the endpoint's next message: the event whose attempts
// are under way, else an operator's retry, else the next event after the
// cursor that the endpoint wants (acknowledging those it passes over). It
// reports whether it got anywhere.
func (d *Dispatcher) round(ctx context.Context, id string) (bool, error) {
	// Store calls are not cut off by Stop: they are quick, and a record
	// half made is worse than a stop a moment later.
	bg := context.WithoutCancel(ctx)
	ep, err := d.store.FindWebhookEndpointByID(bg, id)
	if err != nil || ep.Disabled {
		return false, err
	}
	consumer := model.WebhookConsumer(id)
	prog, err := d.store.WebhookProgressOf(bg, id)
	if err != nil {
		return false, err
	}
	retry, err := d.store.NextHookRetry(bg, consumer)
	if err != nil {
		return false, err
	}
	cursor, err := d.store.HookCursor(bg, consumer)
	if err != nil {
		return false, err
	}
	events, err := d.store.FindEvents(bg, cursor, batchSize)
	if err != nil {
		return false, err
	}
	var head *model.Event
	skipped := ""
	for _, ev := range events {
		if ep.Wants(ev.Type) {
			head = ev
			break
		}
		skipped = ev.ID
	}
	if skipped != "" {
		// Move past unwanted events in one write, before a delivery that
		// may take long, so a restart does not walk them again.
		if err := d.store.AckHookEvent(bg, consumer, skipped, nil); err != nil {
			return false, err
		}
	}
	underWay := prog != nil && head != nil && prog.EventID == head.ID
	switch {
	case retry != nil && !underWay:
		return true, d.deliver(ctx, ep, retry, prog, true)
	case head != nil:
		return true, d.deliver(ctx, ep, head, prog, false)
	}
	return skipped != "", nil
}

// deliver makes the attempts of ev until it is delivered, has failed on
// every attempt (then it is a failed message), the endpoint is disabled,
// or ctx ends. An event of saved progress goes on at its next attempt,
// when that is due. retry says ev is an operator's retry rather than the
// event after the cursor.
func (d *Dispatcher) deliver(ctx context.Context, ep *model.WebhookEndpoint, ev *model.Event, prog *model.WebhookProgress, retry bool) error {
	bg := context.WithoutCancel(ctx)
	consumer := model.WebhookConsumer(ep.ID)
	finish := func(dl *model.DeadLetter) error {
		switch {
		case retry:
			return d.store.AckHookRetry(bg, consumer, ev.ID, nil, dl)
		case dl != nil:
			return d.store.DeadLetterHookEvent(bg, *dl)
		}
		return d.store.AckHookEvent(bg, consumer, ev.ID, nil)
	}
	log := d.log.With("endpoint_id", ep.ID, "event_id", ev.ID, "event_type", ev.Type)
	n := len(d.cfg.Schedule)
	attempt, due := 1, time.Time{}
	if prog != nil && prog.EventID == ev.ID {
		// A schedule shortened since the progress was saved leaves the
		// event its last attempt.
		attempt, due = min(prog.Attempts+1, n), prog.NextAt
	} else if w := d.cfg.Schedule[0]; w > 0 {
		due = d.cfg.Now().Add(d.jitter(w))
	}
	for {
		if !due.IsZero() && !sleep(ctx, due.Sub(d.cfg.Now()), nil) {
			return nil
		}
		// A change to the endpoint (URL, events, disabled) takes effect
		// at its next attempt.
		cur, err := d.store.FindWebhookEndpointByID(bg, ep.ID)
		if err != nil {
			return err
		}
		if cur.Disabled {
			return nil
		}
		ep = cur
		if !ep.Wants(ev.Type) {
			return finish(nil) // unsubscribed meanwhile: passed over
		}
		secrets, err := d.store.WebhookSecrets(bg, ep.ID)
		if err != nil {
			return err
		}
		at := d.cfg.Now()
		res := d.send(ctx, ep, ev, secrets, at)
		if res.err != nil && ctx.Err() != nil {
			return nil // cut off by Stop: made again at the next start
		}
		d.metrics.attempt(ep.ID, res)
		a := model.WebhookAttempt{EndpointID: ep.ID, EventID: ev.ID, EventType: ev.Type, Attempt: attempt,
			At: model.NewTime(at), Status: res.status, DurationMS: res.dur.Milliseconds(), Response: res.body,
			Succeeded: res.ok()}
		if res.err != nil {
			a.Error = res.err.Error()
		}
		health := *ep
		switch {
		case res.ok():
			health.FailingSince = nil
			if err := d.store.RecordWebhookAttempt(bg, a, &health, nil); err != nil {
				return err
			}
			log.Debug("webhook delivered", "status", res.status, "attempt", attempt, "duration", res.dur)
			return finish(nil)
		case res.status == http.StatusGone:
			// The event stays undelivered: enabled again, the endpoint
			// resumes with it, from its first attempt.
			health.Disable(model.WebhookDisabledGone, at)
			log.Error("webhook endpoint disabled: it answered 410 Gone", "reason", model.WebhookDisabledGone, "attempt", attempt)
			return d.store.RecordWebhookAttempt(bg, a, &health, nil)
		}
		if health.FailingSince == nil {
			t := model.NewTime(at)
			health.FailingSince = &t
		} else if at.Sub(health.FailingSince.Time) > model.WebhookFailingFor {
			health.Disable(model.WebhookDisabledFailing, at)
			log.Error("webhook endpoint disabled: every attempt failed for too long", "reason", model.WebhookDisabledFailing,
				"failing_since", health.FailingSince.Time, "status", res.status, "attempt", attempt, "err", a.Error)
			return d.store.RecordWebhookAttempt(bg, a, &health, nil)
		}
		if attempt >= n {
			if err := d.store.RecordWebhookAttempt(bg, a, &health, nil); err != nil {
				return err
			}
			last := a.Error
			if last == "" {
				last = fmt.Sprintf("HTTP %d", res.status)
			}
			d.metrics.failed(ep.ID)
			log.Error("webhook message failed on every attempt; it is a failed message now", "attempts", attempt,
				"status", res.status, "err", a.Error)
			return finish(&model.DeadLetter{Plugin: consumer, EventID: ev.ID, EventType: ev.Type, Attempts: attempt,
				LastError: last, FailedAt: model.NewTime(d.cfg.Now())})
		}
		wait := d.jitter(d.cfg.Schedule[attempt])
		if ra, ok := res.retryAfter(at); ok {
			wait = retryAfterWait(ra, wait)
		}
		next := d.cfg.Now().Add(wait)
		if err := d.store.RecordWebhookAttempt(bg, a, &health, &model.WebhookProgress{EventID: ev.ID, Attempts: attempt, NextAt: next}); err != nil {
			return err
		}
		log.Warn("webhook delivery failed; will try again", "status", res.status, "attempt", attempt,
			"next_try_in", wait.Round(time.Millisecond), "err", a.Error)
		attempt, due = attempt+1, next
	}
}

// retryAfterWait is the wait after an answer with a Retry-After asking
// for ra, where the schedule's next step is step: as long as asked, but
// never shorter than the step (a receiver cannot make us retry faster
// than the schedule) nor longer than MaxRetryAfter.
func retryAfterWait(ra, step time.Duration) time.Duration {
	return max(step, min(ra, MaxRetryAfter))
}

// result is what one attempt came to.
type result struct {
	status int
	header http.Header
	// body is the start of the answer, valid UTF-8.
	body    string
	err     error
	refused bool
	dur     time.Duration
}

func (r result) ok() bool { return r.err == nil && r.status >= 200 && r.status < 300 }

// retryAfter is the wait a 429 or 503 asks for with Retry-After, in
// seconds or as an HTTP date.
func (r result) retryAfter(now time.Time) (time.Duration, bool) {
	if r.status != http.StatusTooManyRequests && r.status != http.StatusServiceUnavailable {
		return 0, false
	}
	v := strings.TrimSpace(r.header.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		return time.Duration(min(secs, int64(MaxRetryAfter/time.Second))) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// Payload is the body of a delivery: the event's type, its creation time
// and its data as it is.
func Payload(ev *model.Event) []byte {
	typ, _ := json.Marshal(ev.Type)
	ts, _ := ev.CreatedAt.MarshalJSON()
	data := []byte(ev.Data)
	if len(data) == 0 {
		data = []byte("null")
	}
	b := make([]byte, 0, len(typ)+len(ts)+len(data)+40)
	b = append(b, `{"type":`...)
	b = append(b, typ...)
	b = append(b, `,"timestamp":`...)
	b = append(b, ts...)
	b = append(b, `,"data":`...)
	b = append(b, data...)
	return append(b, '}')
}

// send makes one attempt of ev at time at.
func (d *Dispatcher) send(ctx context.Context, ep *model.WebhookEndpoint, ev *model.Event, secrets []string, at time.Time) (res result) {
	body := Payload(ev)
	sig := Sign(secrets, ev.ID, at, body)
	if sig == "" {
		return result{err: errors.New("the endpoint has no valid signing secret")}
	}
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.URL, bytes.NewReader(body))
	if err != nil || (req.URL.Scheme != "https" && req.URL.Scheme != "http") {
		return result{err: errors.New("the endpoint URL is not a valid http(s) URL")}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", d.cfg.UserAgent)
	req.Header.Set("webhook-id", ev.ID)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(at.Unix(), 10))
	req.Header.Set("webhook-signature", sig)
	start := time.Now()
	defer func() { res.dur = time.Since(start) }()
	resp, err := d.client.Do(req)
	if err != nil {
		return d.failure(ctx, err)
	}
	defer resp.Body.Close()
	// The status decides; a body cut short (by the timeout, say) is kept
	// as far as it came.
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponseRead))
	return result{status: resp.StatusCode, header: resp.Header, body: clipUTF8(b, responseKept)}
}

// failure describes an attempt that got no answer, without the URL (it
// may carry a token).
func (d *Dispatcher) failure(ctx context.Context, err error) result {
	var refused *RefusedError
	if errors.As(err, &refused) {
		return result{err: refused, refused: true}
	}
	var timeout interface{ Timeout() bool }
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.As(err, &timeout) && timeout.Timeout() {
		return result{err: fmt.Errorf("no answer within %s", d.cfg.Timeout)}
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return result{err: err}
}

// clipUTF8 returns at most n bytes of b as valid UTF-8: a rune cut at the
// end is dropped, invalid bytes become U+FFFD.
func clipUTF8(b []byte, n int) string {
	if len(b) > n {
		b = b[:n]
		for i := 0; i < utf8.UTFMax && len(b) > 0; i++ {
			if r, size := utf8.DecodeLastRune(b); r != utf8.RuneError || size > 1 {
				break
			}
			b = b[:len(b)-1]
		}
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}
