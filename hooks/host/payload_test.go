package host_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/referrald/referrald/hooks"
	"github.com/referrald/referrald/model"
)

// The payload types plugins import must carry every field the core
// writes, so the contract cannot drift from the events: each payload the
// core makes decodes into its hooks type with no field left over, and
// encodes back to the same JSON.
func TestHookPayloadsMatchTheEvents(t *testing.T) {
	at := model.NewTime(time.Date(2026, 11, 23, 18, 4, 33, 593_000_000, time.UTC))
	str := func(s string) *string { return &s }
	ref := &model.Referral{ID: "ref_1", ImpressionID: "imp_1", FirstName: "Jo", LastName: "Doe", Email: "jo@example.com",
		ProfilePictureURL: str("https://example.com/jo.jpg"), Metadata: model.Metadata(`{"k":"v"}`), Status: model.ReferralConverted,
		ProgramID: "prg_1", AmbassadorID: "amb_1", PlacementID: str("plc_1"), Flags: model.Flags{"self_referral"},
		ErasedAt: &at, CreatedAt: at, UpdatedAt: at}
	ern := &model.Earning{ID: "ern_1", ReferralID: "ref_1", ProgramID: "prg_1", AmbassadorID: "amb_1", Amount: 1999,
		Currency: "USD", ExternalID: str("order-1"), Metadata: model.Metadata(`{"sku":"x"}`), Status: model.EarningPartiallyRefunded,
		RefundedAmount: 500, CreatedAt: at, UpdatedAt: at}
	imp := &model.Impression{ID: "imp_1", ProgramID: "prg_1", AmbassadorID: "amb_1", PlacementID: str("plc_1"),
		UserAgent: str("Mozilla"), Referrer: str("https://example.com"), Flags: model.Flags{"repeat_scan"},
		Metadata: model.Metadata(`{"a":1}`), CreatedAt: at}
	amb := &model.Ambassador{ID: "amb_1", FirstName: "Ada", LastName: "Lovelace", Email: "ada@example.com", School: str("Somerville"),
		Status: model.AmbassadorActive, Metadata: model.Metadata(`{"t":1}`), CreatedAt: at, UpdatedAt: at}
	com := &model.Commission{ID: "com_1", AmbassadorID: "amb_1", ProgramID: "prg_1", ReferralID: "ref_1", EarningID: str("ern_1"),
		Kind: "commission", Amount: 200, Currency: "USD", Status: model.CommissionApproved, ApprovableAt: at, OnHold: true,
		PayoutID: str("pay_1"), Basis: model.CommissionBasis{Source: "rule", EarningAmount: 1999, Rounding: "half_even", Note: "10 %"},
		CreatedAt: at, UpdatedAt: at}
	pay := &model.Payout{ID: "pay_1", AmbassadorID: "amb_1", Amount: 200, Currency: "USD", Commissions: 1, ExternalReference: "wire 1", CreatedAt: at}
	cases := map[string]struct {
		core any
		hook any
	}{
		model.EventReferralCreated:       {ref, &hooks.Referral{}},
		model.EventReferralStatusChanged: {model.ReferralStatusChangedData{Referral: ref, PreviousStatus: model.ReferralPending}, &hooks.ReferralStatusChanged{}},
		model.EventReferralErased:        {model.ReferralErasedData{ID: ref.ID, ErasedAt: at}, &hooks.ReferralErased{}},
		model.EventImpressionCreated:     {imp, &hooks.Impression{}},
		model.EventEarningCreated:        {ern, &hooks.Earning{}},
		model.EventEarningRefunded:       {model.EarningRefundedData{Earning: ern, Amount: 500}, &hooks.EarningRefunded{}},
		model.EventAmbassadorCreated:     {amb, &hooks.Ambassador{}},
		model.EventCommissionApproved:    {com, &hooks.CommissionRecord{}},
		model.EventPayoutCreated:         {pay, &hooks.Payout{}},
		model.EventCommissionCreated:     {com, &hooks.CommissionRecord{}},
		model.EventCommissionPaid:        {com, &hooks.CommissionRecord{}},
	}
	for _, typ := range model.EventTypes {
		c, ok := cases[typ]
		if !ok {
			t.Errorf("event type %s has no hooks payload type in this test", typ)
			continue
		}
		data, err := json.Marshal(c.core)
		if err != nil {
			t.Fatal(err)
		}
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		if err := dec.Decode(c.hook); err != nil {
			t.Errorf("%s: the hooks type cannot take the core's payload: %v", typ, err)
			continue
		}
		back, err := json.Marshal(c.hook)
		if err != nil {
			t.Fatal(err)
		}
		var want, got any
		json.Unmarshal(data, &want)
		json.Unmarshal(back, &got)
		if !reflect.DeepEqual(want, got) {
			t.Errorf("%s: the hooks type loses something:\n core  %s\n hooks %s", typ, data, back)
		}
	}
	contract := []string{hooks.EventReferralCreated, hooks.EventReferralStatusChanged, hooks.EventImpressionCreated,
		hooks.EventEarningCreated, hooks.EventEarningRefunded, hooks.EventReferralErased,
		hooks.EventAmbassadorCreated, hooks.EventCommissionApproved, hooks.EventPayoutCreated,
		hooks.EventCommissionCreated, hooks.EventCommissionPaid}
	if !slices.Equal(contract, model.EventTypes) {
		t.Errorf("the contract's event types %v differ from the core's %v", contract, model.EventTypes)
	}
}
