package host

import (
	"context"
	"errors"
	"log/slog"

	"github.com/referrald/referrald/hooks"
	"github.com/referrald/referrald/model"
)

var _ model.ReferralChecker = (*Host)(nil)

// referralFields are the request fields a plugin may blame a rejection on.
var referralFields = map[string]bool{"impression_id": true, "first_name": true, "last_name": true,
	"email": true, "profile_picture_url": true, "metadata": true}

// CheckReferral implements model.ReferralChecker: it asks each plugin that
// wants BeforeReferralCreate, in configuration order, and stops at the
// first that rejects. A plugin that errs, times out or is down is handled
// by its policy: fail_open lets the signup through as if it had said
// nothing, fail_closed answers unavailable.
func (h *Host) CheckReferral(ctx context.Context, in model.ReferralCreate, imp *model.Impression) (model.ReferralVerdict, error) {
	var v model.ReferralVerdict
	req := hooks.ReferralRequest{ImpressionID: in.ImpressionID, FirstName: in.FirstName, LastName: in.LastName,
		Email: in.Email, ProfilePictureURL: in.ProfilePictureURL, Metadata: in.Metadata}
	if imp != nil {
		req.ProgramID, req.AmbassadorID = imp.ProgramID, imp.AmbassadorID
		if imp.PlacementID != nil {
			req.PlacementID = *imp.PlacementID
		}
	}
	for _, p := range h.plugins {
		if !p.WantsBeforeCreate() && !p.mayWantBeforeCreate() {
			continue
		}
		d, err := p.BeforeReferralCreate(ctx, req)
		if err != nil {
			// A plugin that is down or paused was reported once, when it
			// went; a line per signup would flood the log under load.
			level := slog.LevelWarn
			if errors.Is(err, ErrDown) || errors.Is(err, ErrCheckPaused) {
				level = slog.LevelDebug
			}
			if p.Config().Policy == FailClosed {
				h.log.Log(ctx, level, "BeforeReferralCreate failed; refusing the signup (fail_closed)", "plugin", p.Name(), "err", err)
				return v, model.Errorf(model.EUnavailable, "a required hook plugin (%s) could not check this signup; retry later", p.Name())
			}
			h.log.Log(ctx, level, "BeforeReferralCreate failed; creating the referral anyway (fail_open)", "plugin", p.Name(), "err", err)
			continue
		}
		if d.Reject {
			reason := d.Reason
			if reason == "" {
				reason = "rejected by " + p.Name()
			}
			if referralFields[d.Field] {
				var fe model.FieldErrors
				fe.Add(d.Field, model.ERejectedByHook, "%s", reason)
				return v, fe.Err()
			}
			return v, model.Errorf(model.ERejectedByHook, "%s", reason)
		}
		v.Flags = append(v.Flags, d.Flags...)
		if len(d.Metadata) > 0 {
			if v.Metadata == nil {
				v.Metadata = map[string]string{}
			}
			for k, val := range d.Metadata {
				if _, taken := v.Metadata[k]; !taken {
					v.Metadata[k] = val
				}
			}
		}
	}
	return v, nil
}
