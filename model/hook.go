package model

import (
	"context"
	"time"
)

// HookResult is what a plugin reported for an event, recorded by the core.
type HookResult struct {
	Plugin        string          `json:"plugin"`
	PluginVersion string          `json:"plugin_version"`
	EventID       string          `json:"event_id"`
	EventType     string          `json:"event_type"`
	Commission    *HookCommission `json:"commission"`
	RecordedAt    Time            `json:"recorded_at"`
}

// HookCommission is a commission a plugin computed for an ambassador.
type HookCommission struct {
	AmbassadorID string `json:"ambassador_id"`
	Amount       int64  `json:"amount"`
	Currency     string `json:"currency"`
	Reason       string `json:"reason"`
}

// DeadLetter is an event a plugin failed on every attempt.
type DeadLetter struct {
	Plugin    string `json:"plugin"`
	EventID   string `json:"event_id"`
	EventType string `json:"event_type"`
	Attempts  int    `json:"attempts"`
	LastError string `json:"last_error"`
	FailedAt  Time   `json:"failed_at"`
}

// HookLag is how far a plugin's delivery is behind the outbox.
type HookLag struct {
	// Depth counts undelivered events, up to the limit asked for.
	Depth int
	// Oldest is the creation time of the oldest undelivered event; zero
	// when there is none.
	Oldest time.Time
	// DeadLetters counts the events on the plugin's dead-letter list,
	// given up on and not (yet) retried, up to the limit asked for.
	DeadLetters int
}

// MailConsumer is the mailer's outbox consumer name: no plugin name can
// hold an @. Its dead letters are the emails that could not be sent.
const MailConsumer = "@mail"

// HookStore is the store's side of hook delivery: the outbox, one cursor
// per plugin, recorded results, dead letters and operator retries. Every
// method that moves a cursor does it in the same transaction as what it
// records, so a crash never loses or double-records a delivery.
type HookStore interface {
	// FindEvents returns up to limit events after afterID ("" for the
	// start), oldest first.
	FindEvents(ctx context.Context, afterID string, limit int) ([]*Event, error)
	// HookCursor is the ID of the last event the plugin is done with, or "".
	HookCursor(ctx context.Context, plugin string) (string, error)
	// StartHookCursor gives a plugin met for the first time its cursor:
	// after the newest event when fromNow (so a plugin added to a running
	// install is not sent its history), else before the oldest. A plugin
	// that has a cursor keeps it. It returns the cursor.
	StartHookCursor(ctx context.Context, plugin string, fromNow bool) (string, error)
	// AckHookEvent records that plugin is done with event eventID (and its
	// result, if any) and moves its cursor there.
	AckHookEvent(ctx context.Context, plugin, eventID string, result *HookResult) error
	// DeadLetterHookEvent records a failed event and moves the cursor past
	// it, so delivery goes on with the next.
	DeadLetterHookEvent(ctx context.Context, dl DeadLetter) error
	// FindDeadLetters lists a plugin's dead letters, newest first.
	FindDeadLetters(ctx context.Context, plugin string, opt ListOptions) (Page[*DeadLetter], error)
	// RetryDeadLetters queues a plugin's dead letters (all of them when
	// eventIDs is empty) for one more round of delivery and returns how
	// many it queued. Errors: not_found for an ID that is not a dead letter.
	RetryDeadLetters(ctx context.Context, plugin string, eventIDs []string) (int, error)
	// NextHookRetry returns the oldest queued retry of plugin, or nil.
	NextHookRetry(ctx context.Context, plugin string) (*Event, error)
	// AckHookRetry takes eventID off plugin's retry queue, recording its
	// result; with a dead letter it puts it back on the dead-letter list.
	AckHookRetry(ctx context.Context, plugin, eventID string, result *HookResult, dl *DeadLetter) error
	// FindHookResults lists recorded results, newest first, optionally of
	// one plugin and one ambassador.
	FindHookResults(ctx context.Context, plugin, ambassadorID string, limit int) ([]*HookResult, error)
	// HookLag measures plugin's backlog and dead letters, counting at most
	// limit events of each.
	HookLag(ctx context.Context, plugin string, limit int) (HookLag, error)
}

// HookPlugin is what an operator sees of one configured plugin.
type HookPlugin struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Running bool   `json:"running"`
	// Refused is set while the plugin is not started because its binary
	// is missing or does not match its configured sha256.
	Refused              bool     `json:"refused"`
	Events               []string `json:"events"`
	BeforeReferralCreate bool     `json:"before_referral_create"`
	Policy               string   `json:"policy"`
	Restarts             int64    `json:"restarts"`
	// Cursor is the last event the plugin is done with ("" before any).
	Cursor string `json:"cursor"`
	// Backlog counts undelivered events (up to 100000); OldestPendingAt is
	// when the oldest of them happened.
	Backlog         int   `json:"backlog"`
	OldestPendingAt *Time `json:"oldest_pending_at"`
	// CheckPausedUntil is set while the plugin's BeforeReferralCreate is
	// skipped after a timeout.
	CheckPausedUntil *Time `json:"check_paused_until"`
}

// HookAdmin is the operator's view of hook plugins: their state, their
// dead letters, and what they reported.
type HookAdmin interface {
	HookPlugins(ctx context.Context) ([]HookPlugin, error)
	// FindDeadLetters errors: not_found (no such plugin).
	FindDeadLetters(ctx context.Context, plugin string, opt ListOptions) (Page[*DeadLetter], error)
	// RetryDeadLetters queues dead letters for delivery again (all of the
	// plugin's when eventIDs is empty). Errors: not_found.
	RetryDeadLetters(ctx context.Context, plugin string, eventIDs []string) (int, error)
	FindHookResults(ctx context.Context, plugin, ambassadorID string, limit int) ([]*HookResult, error)
}
