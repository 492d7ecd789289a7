package host

import (
	"context"

	"github.com/referrald/referrald/model"
)

var _ model.HookAdmin = (*Host)(nil)

func (h *Host) known(plugin string) error {
	if h.Plugin(plugin) == nil {
		return model.Errorf(model.ENotFound, "no hook plugin named %q is configured", plugin)
	}
	return nil
}

// HookPlugins implements model.HookAdmin.
func (h *Host) HookPlugins(ctx context.Context) ([]model.HookPlugin, error) {
	out := make([]model.HookPlugin, 0, len(h.plugins))
	for _, p := range h.plugins {
		d, running := p.Description()
		p.mu.RLock()
		if !running && p.last != nil {
			d = *p.last
		}
		p.mu.RUnlock()
		cursor, err := h.store.HookCursor(ctx, p.Name())
		if err != nil {
			return nil, err
		}
		lag, err := h.store.HookLag(ctx, p.Name(), 100_000)
		if err != nil {
			return nil, err
		}
		hp := model.HookPlugin{Name: p.Name(), Version: d.Version, Running: running, Refused: p.Refused(), Events: d.Events,
			BeforeReferralCreate: d.BeforeReferralCreate, Policy: p.cfg.Policy, Restarts: p.Restarts(),
			Cursor: cursor, Backlog: lag.Depth}
		if len(p.cfg.Events) > 0 {
			hp.Events = p.cfg.Events
		}
		if hp.Events == nil {
			hp.Events = []string{}
		}
		if !lag.Oldest.IsZero() {
			t := model.NewTime(lag.Oldest)
			hp.OldestPendingAt = &t
		}
		if until, paused := p.CheckPausedUntil(); paused {
			t := model.NewTime(until)
			hp.CheckPausedUntil = &t
		}
		out = append(out, hp)
	}
	return out, nil
}

// FindDeadLetters implements model.HookAdmin.
func (h *Host) FindDeadLetters(ctx context.Context, plugin string, opt model.ListOptions) (model.Page[*model.DeadLetter], error) {
	if err := h.known(plugin); err != nil {
		return model.Page[*model.DeadLetter]{}, err
	}
	return h.store.FindDeadLetters(ctx, plugin, opt)
}

// RetryDeadLetters implements model.HookAdmin and wakes the dispatcher.
func (h *Host) RetryDeadLetters(ctx context.Context, plugin string, eventIDs []string) (int, error) {
	if err := h.known(plugin); err != nil {
		return 0, err
	}
	n, err := h.store.RetryDeadLetters(ctx, plugin, eventIDs)
	if err == nil {
		h.Wake()
	}
	return n, err
}

// FindHookResults implements model.HookAdmin.
func (h *Host) FindHookResults(ctx context.Context, plugin, ambassadorID string, limit int) ([]*model.HookResult, error) {
	if plugin != "" {
		if err := h.known(plugin); err != nil {
			return nil, err
		}
	}
	return h.store.FindHookResults(ctx, plugin, ambassadorID, limit)
}
