package console

import (
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/referrald/referrald/model"
)

// commissionRowsOf are the commission IDs a money page lists, in order.
func commissionRowsOf(body string) []string {
	var ids []string
	for _, part := range strings.Split(body, `<th scope="row" class="num"><a href="/console/money/commissions/`)[1:] {
		ids = append(ids, part[:strings.Index(part, `"`)])
	}
	return ids
}

func commissionIDs(cs ...*model.Commission) []string {
	var ids []string
	for _, c := range cs {
		ids = append(ids, c.ID)
	}
	return ids
}

// The queue lists pending commissions by the end of their hold period;
// a manager approves several at once, each on its own, and the page
// after says which could not be and why; a viewer sees no checkboxes
// and cannot approve.
func TestCommissionQueueApproveMany(t *testing.T) {
	e := newTestEnv(t)
	w := newWorld(e)
	var cs []*model.Commission
	for i := range 4 {
		_, c := w.purchase(w.signup(w.grace, fmt.Sprintf("p%d@mail.example", i)), 1000)
		cs = append(cs, c)
		e.clock.Add(time.Hour)
	}
	// The last one is paid already: approved and paid out.
	ctx := context.Background()
	if _, err := e.st.ApproveCommission(ctx, cs[3].ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.st.CreatePayout(ctx, model.PayoutCreate{AmbassadorID: w.grace.ID, Currency: "USD", ExternalReference: "early"}, model.Idempotency{}); err != nil {
		t.Fatal(err)
	}
	res := e.get("/console/money/commissions", e.viewer)
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, "Awaiting approval", "Grace Hopper", "USD 5.00", `href="/console/exports/commissions.csv?status=pending"`)
	noBody(t, res, `type="checkbox"`, "Approve selected")
	if got, want := fmt.Sprint(commissionRowsOf(res.Body)), fmt.Sprint(commissionIDs(cs[0], cs[1], cs[2])); got != want {
		t.Fatalf("queue: got %v, want %v, soonest hold end first", got, want)
	}
	wantBody(t, e.get("/console/money/commissions", e.manager), `name="id" value="`+cs[0].ID+`"`, "Approve selected")
	wantStatus(t, e.get("/console/money", e.viewer), http.StatusSeeOther)

	approve := formOf("id", cs[0].ID, "id", cs[3].ID, "id", "com_01m8yqk4a5mstqtdtptfpvmbxh", "id", cs[2].ID, "view", "queue")
	wantStatus(t, e.post("/console/money/commissions/approve", e.viewer, approve), http.StatusForbidden)
	res = e.post("/console/money/commissions/approve", e.manager, approve)
	wantStatus(t, res, http.StatusSeeOther)
	if res.location() != "/console/money/commissions" {
		t.Errorf("back to %q", res.location())
	}
	page := e.follow(res, e.manager)
	wantBody(t, page, "2 of 4 approved. Not approved:", "is already paid", "There is no commission com_01m8yqk4a5mstqtdtptfpvmbxh.")
	for i, want := range []model.CommissionStatus{model.CommissionApproved, model.CommissionPending, model.CommissionApproved, model.CommissionPaid} {
		if c, _ := e.st.FindCommissionByID(ctx, cs[i].ID); c.Status != want {
			t.Errorf("commission %d: %s, want %s", i, c.Status, want)
		}
	}
	if got := fmt.Sprint(commissionRowsOf(page.Body)); got != fmt.Sprint(commissionIDs(cs[1])) {
		t.Errorf("queue after approving: %v", got)
	}
	res = e.post("/console/money/commissions/approve", e.manager, formOf("id", cs[1].ID))
	wantBody(t, e.follow(res, e.manager), "1 commission approved.")
	res = e.post("/console/money/commissions/approve", e.manager, formOf("view", "held"))
	if res.location() != "/console/money/commissions?view=held" {
		t.Errorf("nothing ticked: back to %q", res.location())
	}
	wantBody(t, e.follow(res, e.manager), "tick the commissions to approve first")
	var many []string
	for range maxApproveAtOnce + 1 {
		many = append(many, "id", cs[0].ID)
	}
	wantStatus(t, e.post("/console/money/commissions/approve", e.manager, formOf(many...)), http.StatusBadRequest)
	wantBody(t, e.get("/console/money/commissions", e.manager), "Nothing awaiting approval")
}

// A manager holds a commission from its page: it leaves the queue for
// the held list and stays pending past its hold period; released, it
// is approved; a hold the commission no longer allows is a 409 with why.
func TestCommissionHoldAndRelease(t *testing.T) {
	e := newTestEnv(t)
	w := newWorld(e)
	_, c := w.purchase(w.signup(w.ada, "ann@mail.example"), 1000)
	path := "/console/money/commissions/" + c.ID
	res := e.get(path, e.viewer)
	wantStatus(t, res, http.StatusOK)
	noBody(t, res, "/hold", "/approve", "/release")
	wantBody(t, e.get(path, e.manager), `action="`+path+`/hold"`, `action="`+path+`/approve"`)
	wantStatus(t, e.post(path+"/hold", e.viewer, url.Values{}), http.StatusForbidden)

	res = e.post(path+"/hold", e.manager, url.Values{})
	wantStatus(t, res, http.StatusSeeOther)
	page := e.follow(res, e.manager)
	wantBody(t, page, "Commission on hold.", "On hold", `action="`+path+`/release"`)
	noBody(t, page, `action="`+path+`/hold"`)
	if got := commissionRowsOf(e.get("/console/money/commissions?view=held", e.viewer).Body); fmt.Sprint(got) != fmt.Sprint(commissionIDs(c)) {
		t.Errorf("held list: %v", got)
	}
	wantBody(t, e.get("/console/money/commissions", e.viewer), "Nothing awaiting approval")

	e.clock.Add(8 * 24 * time.Hour)
	e.resign()
	if got, _ := e.st.FindCommissionByID(context.Background(), c.ID); got.Status != model.CommissionPending {
		t.Fatalf("held past its hold period: %s, want pending", got.Status)
	}
	res = e.post(path+"/release", e.manager, url.Values{})
	wantBody(t, e.follow(res, e.manager), "Commission released. Its hold period is over, so it is approved.", "Approved")
	res = e.post(path+"/hold", e.manager, url.Values{})
	wantStatus(t, res, http.StatusConflict)
	wantBody(t, res, "That cannot be done", "is already approved and can no longer be held", "How it was computed")
	wantStatus(t, e.post("/console/money/commissions/com_01m8yqk4a5mstqtdtptfpvmbxh/hold", e.manager, url.Values{}), http.StatusNotFound)
	wantStatus(t, e.get("/console/money/commissions/nonsense", e.viewer), http.StatusNotFound)
}

// A commission's page says how it was computed: the rule as it was, the
// purchase it applied to, the arithmetic and the rounding.
func TestCommissionBasis(t *testing.T) {
	e := newTestEnv(t)
	w := newWorld(e)
	ctx := context.Background()
	rule := &model.CommissionRule{Type: model.CommissionPercent, BasisPoints: 1250, Caps: map[string]int64{"USD": 2000}}
	if _, err := e.st.UpdateProgram(ctx, w.program.ID, model.ProgramUpdate{Commission: rule, CommissionSet: true}); err != nil {
		t.Fatal(err)
	}
	_, small := w.purchase(w.signup(w.ada, "ann@mail.example"), 1999)
	_, capped := w.purchase(w.signup(w.ada, "bob@mail.example"), 50000)
	res := e.get("/console/money/commissions/"+small.ID, e.viewer)
	wantBody(t, res, "The program’s commission rule", "12.5% of each purchase, at most USD 20.00", "USD 19.99",
		"12.5% of USD 19.99 is USD 2.50.", "banker’s rounding", "1250 basis points of 1999 USD")
	wantBody(t, e.get("/console/money/commissions/"+capped.ID, e.viewer), "12.5% of USD 500.00 is USD 62.50, capped at USD 20.00.")
}

// A manager refunds part of an earning with a reason: mistakes come back
// next to the inputs; the same form sent twice refunds once; the reason
// shows with the refund; a viewer sees no form.
func TestEarningRefund(t *testing.T) {
	e := newTestEnv(t)
	w := newWorld(e)
	earning, c := w.purchase(w.signup(w.ada, "ann@mail.example"), 2000)
	path := "/console/money/earnings/" + earning.ID
	res := e.get(path, e.viewer)
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, "Purchase of USD 20.00", "Recorded", `href="/console/money/commissions/`+c.ID+`"`)
	noBody(t, res, "Record a refund")
	res = e.get(path, e.manager)
	wantBody(t, res, "Record a refund", "USD 20.00 is left to refund", `name="idempotency_key" value="console-`)

	for amount, want := range map[string]string{
		"twenty": "Amount to refund must be an amount such as 5.00",
		"1.234":  "Amount to refund must be an amount such as 5.00",
		"0":      "Amount to refund must be an amount such as 5.00",
		"20.01":  "Amount to refund must be at most USD 20.00, what is left of the earning",
	} {
		res := e.post(path+"/refund", e.manager, formOf("amount", amount, "idempotency_key", "console-refund-1"))
		wantStatus(t, res, http.StatusUnprocessableEntity)
		wantBody(t, res, want, `value="`+amount+`"`)
	}
	res = e.post(path+"/refund", e.manager, formOf("amount", "5", "reason", strings.Repeat("x", 201), "idempotency_key", "console-refund-1"))
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantBody(t, res, "Reason must be at most 200 characters")
	wantStatus(t, e.post(path+"/refund", e.viewer, formOf("amount", "5")), http.StatusForbidden)

	refund := formOf("amount", "5.00", "reason", "order returned", "idempotency_key", "console-refund-1")
	res = e.post(path+"/refund", e.manager, refund)
	wantStatus(t, res, http.StatusSeeOther)
	page := e.follow(res, e.manager)
	wantBody(t, page, "Refund recorded: USD 5.00 refunded in all", "Partly refunded", "Clawback", "USD -1.25",
		"by manager@uni.example: refunded 500 USD, 1 clawbacks: order returned", "USD 15.00 is left to refund")
	wantStatus(t, e.post(path+"/refund", e.manager, refund), http.StatusSeeOther) // a second click
	got, _ := e.st.FindEarningByID(context.Background(), earning.ID)
	if got.RefundedAmount != 500 {
		t.Fatalf("refunded %d after the form was sent twice, want 500 once", got.RefundedAmount)
	}
	// The rest, with no amount.
	res = e.post(path+"/refund", e.manager, formOf("idempotency_key", "console-refund-2"))
	wantStatus(t, res, http.StatusSeeOther)
	page = e.follow(res, e.manager)
	wantBody(t, page, "USD 20.00 refunded in all", "Refunded")
	noBody(t, page, "Record a refund")
	res = e.post(path+"/refund", e.manager, formOf("idempotency_key", "console-refund-3"))
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantBody(t, res, "is already refunded in full")
	wantStatus(t, e.get("/console/money/earnings/ern_01m8yqk4a5mstqtdtptfpvmbxh", e.viewer), http.StatusNotFound)
}

// The earnings list filters by status and ambassador.
func TestEarningList(t *testing.T) {
	e := newTestEnv(t)
	w := newWorld(e)
	ada, _ := w.purchase(w.signup(w.ada, "ann@mail.example"), 2000)
	grace, _ := w.purchase(w.signup(w.grace, "bob@mail.example"), 3000)
	if _, _, err := e.st.RefundEarning(context.Background(), grace.ID, model.EarningRefund{}, model.Idempotency{}); err != nil {
		t.Fatal(err)
	}
	res := e.get("/console/money/earnings", e.viewer)
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, `href="/console/money/earnings/`+ada.ID+`"`, `href="/console/money/earnings/`+grace.ID+`"`, "USD 30.00", "Refunded")
	res = e.get("/console/money/earnings?status=refunded", e.viewer)
	wantBody(t, res, grace.ID, `href="/console/exports/earnings.csv?status=refunded"`)
	noBody(t, res, ada.ID)
	res = e.get("/console/money/earnings?ambassador="+w.ada.ID, e.viewer)
	wantBody(t, res, ada.ID)
	noBody(t, res, grace.ID)
	res = e.get("/console/money/earnings?status=lost", e.viewer)
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantBody(t, res, "Status must be recorded, partially refunded or refunded")
}

// A manager records a payout for an ambassador and a currency with a
// reference: the form says what it will mark paid, mistakes come back
// on it, and the payout's page lists the commissions it paid.
func TestPayoutCreate(t *testing.T) {
	e := newTestEnv(t)
	w := newWorld(e)
	_, c1 := w.purchase(w.signup(w.ada, "ann@mail.example"), 2000)
	_, c2 := w.purchase(w.signup(w.ada, "bob@mail.example"), 2000)
	w.purchase(w.signup(w.ada, "cyd@mail.example"), 2000) // stays pending
	ctx := context.Background()
	for _, c := range []*model.Commission{c1, c2} {
		if _, err := e.st.ApproveCommission(ctx, c.ID); err != nil {
			t.Fatal(err)
		}
	}
	wantStatus(t, e.get("/console/money/payouts/new", e.viewer), http.StatusForbidden)
	res := e.get("/console/money/payouts/new?ambassador_id="+w.ada.ID, e.manager)
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, "Record a payout (mark paid)", "What Ada Lovelace is owed", "This payout marks <strong>USD 10.00</strong> paid",
		`value="USD"`, `value="`+w.ada.ID+`"`)

	res = e.post("/console/money/payouts/new", e.manager, formOf("ambassador_id", "ada", "currency", "dollars", "external_reference", " ",
		"idempotency_key", "console-payout-1"))
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantBody(t, res, "There are 3 problems", "Ambassador ID is not an ambassador’s ID", "Currency must be a currency’s three-letter code", "Reference is required")
	res = e.post("/console/money/payouts/new", e.manager, formOf("ambassador_id", w.grace.ID, "currency", "usd", "external_reference", "SEPA 1",
		"idempotency_key", "console-payout-1"))
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantBody(t, res, "has no approved commissions in USD to pay", "What Grace Hopper is owed")

	form := formOf("ambassador_id", w.ada.ID, "currency", "usd", "external_reference", "SEPA 2026-11-20", "idempotency_key", "console-payout-2")
	res = e.post("/console/money/payouts/new", e.manager, form)
	wantStatus(t, res, http.StatusSeeOther)
	page := e.follow(res, e.manager)
	wantBody(t, page, "Payout recorded: USD 10.00 for 2 commissions, now marked paid.", "SEPA 2026-11-20",
		`href="/console/money/commissions/`+c1.ID+`"`, `href="/console/money/commissions/`+c2.ID+`"`)
	again := e.post("/console/money/payouts/new", e.manager, form)
	if again.location() != res.location() {
		t.Errorf("the form sent twice: to %q, want the first payout %q", again.location(), res.location())
	}
	for _, c := range []*model.Commission{c1, c2} {
		if got, _ := e.st.FindCommissionByID(ctx, c.ID); got.Status != model.CommissionPaid {
			t.Errorf("%s: %s, want paid", c.ID, got.Status)
		}
	}
	list := e.get("/console/money/payouts?currency=usd&ambassador="+w.ada.ID, e.viewer)
	wantStatus(t, list, http.StatusOK)
	wantBody(t, list, "SEPA 2026-11-20", "Ada Lovelace", `href="/console/exports/payouts.csv?ambassador=`+w.ada.ID+`&amp;currency=USD"`)
	noBody(t, list, "Record a payout</a>")
	wantBody(t, e.get("/console/money/payouts?ambassador="+w.grace.ID, e.viewer), "No payouts match")
	wantStatus(t, e.get("/console/money/payouts?currency=dollars", e.viewer), http.StatusUnprocessableEntity)
	wantStatus(t, e.get("/console/money/payouts/pay_01m8yqk4a5mstqtdtptfpvmbxh", e.viewer), http.StatusNotFound)
	wantStatus(t, e.post("/console/money/payouts/new", e.viewer, form), http.StatusForbidden)
}

// Balances sum each ambassador's commissions by status, with a link to
// pay what is approved for a manager.
func TestBalances(t *testing.T) {
	e := newTestEnv(t)
	w := newWorld(e)
	_, c := w.purchase(w.signup(w.ada, "ann@mail.example"), 2000)
	w.purchase(w.signup(w.ada, "bob@mail.example"), 2000)
	if _, err := e.st.ApproveCommission(context.Background(), c.ID); err != nil {
		t.Fatal(err)
	}
	res := e.get("/console/money/balances", e.manager)
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, "Ada Lovelace", "<strong>USD 5.00</strong>", "Grace Hopper", "No commissions yet",
		`href="/console/money/payouts/new?ambassador_id=`+w.ada.ID+`&amp;currency=USD"`)
	noBody(t, e.get("/console/money/balances", e.viewer), "/console/money/payouts/new")
}

// readCSV downloads a console export and returns its rows.
func (e *testEnv) readCSV(path string, u *testUser) [][]string {
	e.t.Helper()
	res := e.get(path, u)
	wantStatus(e.t, res, http.StatusOK)
	if ct := res.Header.Get("Content-Type"); ct != "text/csv; charset=utf-8" || !strings.Contains(res.Header.Get("Content-Disposition"), "attachment") {
		e.t.Fatalf("%s: Content-Type %q, Content-Disposition %q", path, ct, res.Header.Get("Content-Disposition"))
	}
	rows, err := csv.NewReader(strings.NewReader(res.Body)).ReadAll()
	if err != nil {
		e.t.Fatalf("%s: %v", path, err)
	}
	return rows
}

// Each list's export holds every row its filters match, through the
// export package; a viewer downloads them; a filter that is not right
// refuses the export.
func TestExports(t *testing.T) {
	e := newTestEnv(t)
	w := newWorld(e)
	ann := w.signup(w.ada, "ann@mail.example")
	bob := w.signup(w.grace, "bob@mail.example")
	reject := model.ReferralRejected
	if _, err := e.st.UpdateReferral(context.Background(), bob.ID, model.ReferralUpdate{Status: &reject}); err != nil {
		t.Fatal(err)
	}
	earning, c := w.purchase(ann, 2000)
	if _, err := e.st.ApproveCommission(context.Background(), c.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.st.CreatePayout(context.Background(), model.PayoutCreate{AmbassadorID: w.ada.ID, Currency: "USD", ExternalReference: "wire"}, model.Idempotency{}); err != nil {
		t.Fatal(err)
	}
	ids := func(rows [][]string) []string {
		var out []string
		for _, r := range rows[1:] {
			out = append(out, r[0])
		}
		return out
	}
	rows := e.readCSV("/console/exports/referrals.csv", e.viewer)
	if rows[0][0] != "id" || len(rows) != 3 {
		t.Fatalf("all referrals: %v", rows)
	}
	if got := ids(e.readCSV("/console/exports/referrals.csv?status=rejected&program="+w.program.ID, e.viewer)); fmt.Sprint(got) != fmt.Sprint([]string{bob.ID}) {
		t.Errorf("rejected referrals: %v", got)
	}
	if got := ids(e.readCSV("/console/exports/referrals.csv?ambassador="+w.ada.ID+"&email=ANN@mail.example", e.viewer)); fmt.Sprint(got) != fmt.Sprint([]string{ann.ID}) {
		t.Errorf("Ada's referrals by email: %v", got)
	}
	if got := ids(e.readCSV("/console/exports/earnings.csv?ambassador="+w.ada.ID, e.viewer)); fmt.Sprint(got) != fmt.Sprint([]string{earning.ID}) {
		t.Errorf("earnings: %v", got)
	}
	if got := ids(e.readCSV("/console/exports/commissions.csv?status=paid", e.viewer)); fmt.Sprint(got) != fmt.Sprint([]string{c.ID}) {
		t.Errorf("paid commissions: %v", got)
	}
	if rows := e.readCSV("/console/exports/commissions.csv?status=pending", e.viewer); len(rows) != 1 {
		t.Errorf("pending commissions: %v, want the header alone", rows)
	}
	if rows := e.readCSV("/console/exports/payouts.csv?currency=USD&ambassador="+w.ada.ID, e.viewer); len(rows) != 2 || rows[1][6] != "wire" {
		t.Errorf("payouts: %v", rows)
	}
	res := e.get("/console/exports/referrals.csv?status=lost", e.viewer)
	wantStatus(t, res, http.StatusBadRequest)
	wantBody(t, res, "The export’s filters are not right: Status must be pending, converted or rejected.")
	wantStatus(t, e.get("/console/exports/ambassadors.txt", e.viewer), http.StatusNotFound)
	wantStatus(t, e.get("/console/exports/secrets.csv", e.viewer), http.StatusNotFound)
	if res := e.get("/console/exports/referrals.csv", nil); res.StatusCode != http.StatusSeeOther {
		t.Errorf("signed out: got %d, want the sign-in page", res.StatusCode)
	}
}
