package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// benchResult is what referrald-bench reports; --json prints it.
type benchResult struct {
	Target     string              `json:"target"`
	Durable    bool                `json:"durable"`
	Clients    int                 `json:"clients"`
	Seconds    float64             `json:"seconds"`
	Requests   int                 `json:"requests"`
	PerSecond  float64             `json:"requests_per_second"`
	Ops        map[string]*opStats `json:"operations"`
	Errors     map[string]int      `json:"errors_by_status"`
	Commits    uint64              `json:"store_commits,omitempty"`
	AvgBatch   float64             `json:"store_avg_batch,omitempty"`
	AvgPages   float64             `json:"store_pages_per_commit,omitempty"`
	StoreBytes int64               `json:"store_file_bytes,omitempty"`
	// ImpressionsReused counts signups that had to reuse an impression
	// because the pool ran out.
	ImpressionsReused int64 `json:"impressions_reused,omitempty"`
	latencies         map[string][]time.Duration
}

type opStats struct {
	Count     int     `json:"count"`
	PerSecond float64 `json:"per_second"`
	P50ms     float64 `json:"p50_ms"`
	P95ms     float64 `json:"p95_ms"`
	P99ms     float64 `json:"p99_ms"`
	MaxMs     float64 `json:"max_ms"`
}

// benchFixture is what the load refers to: a program, ambassadors with a
// placement each, and impressions to sign up from.
type benchFixture struct {
	base, token string
	durable     bool
	target      *url.URL
	program     string
	ambassadors []string
	// placements holds the scan code of each ambassador's placement.
	placements []string
	// perClient gives each client one impression for all its signups;
	// otherwise every signup takes the next impression from pool, in the
	// order they were made, as real signups follow recent scans.
	perClient   bool
	impressions []string
	pool        []string
	next        atomic.Int64
	reused      atomic.Int64
	// consumers are the webhook endpoints' consumer names (-webhook),
	// and delivered counts what their receiver was sent.
	consumers []string
	delivered *atomic.Int64
	// gate, when set, holds growth back while a consumer lags (-max-lag).
	gate *lagGate
}

// impression is the impression client c signs up from next.
func (fx *benchFixture) impression(c int) string {
	if fx.perClient {
		return fx.impressions[c]
	}
	i := fx.next.Add(1) - 1
	if i >= int64(len(fx.pool)) {
		fx.reused.Add(1)
	}
	return fx.pool[i%int64(len(fx.pool))]
}

// fillPool makes n more impressions for the pool, untimed, with clients
// connections.
func (fx *benchFixture) fillPool(n, clients int) error {
	if fx.perClient || n <= 0 {
		return nil
	}
	fx.trim()
	bodies := make([][]byte, len(fx.ambassadors))
	for i, amb := range fx.ambassadors {
		bodies[i], _ = json.Marshal(map[string]string{"program_id": fx.program, "ambassador_id": amb})
	}
	made := make([][]string, clients)
	err := fx.spread(clients, n, func(c int, conn *benchConn, i int64) error {
		status, b, err := conn.do("POST", "/v1/impressions", bodies[(i-1)%int64(len(bodies))])
		if err != nil || status != 201 {
			return fmt.Errorf("create an impression: %d %s %v", status, b, err)
		}
		made[c] = append(made[c], jsonID(b))
		return nil
	})
	if err != nil {
		return err
	}
	// IDs sort in creation order.
	fresh := slices.Concat(made...)
	slices.Sort(fresh)
	fx.pool = append(fx.pool, fresh...)
	return nil
}

// spread makes n calls of do (the i-th with i from 1 to n) from clients
// goroutines, each with its own connection, and stops at the first error.
func (fx *benchFixture) spread(clients, n int, do func(c int, conn *benchConn, i int64) error) error {
	var next atomic.Int64
	var failed atomic.Bool
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn := &benchConn{target: fx.target, token: fx.token}
			defer conn.close()
			for i := next.Add(1); i <= int64(n) && !failed.Load(); i = next.Add(1) {
				if err := do(c, conn, i); err != nil {
					once.Do(func() { firstErr = err })
					failed.Store(true)
					return
				}
			}
		}()
	}
	wg.Wait()
	return firstErr
}

// printResult prints v as indented JSON, or as text prints it.
func printResult(w io.Writer, asJSON bool, v any, text func()) int {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(v)
	} else {
		text()
	}
	return exitOK
}

// trim drops the impressions already used, so that a long run's client
// does not grow the heap -grow measures. No signup may run meanwhile.
func (fx *benchFixture) trim() {
	used := min(int(fx.next.Swap(0)), len(fx.pool))
	fx.pool = append([]string(nil), fx.pool[used:]...)
}

// poolRate is the pool's size per second of timed load: above any rate
// the machines it runs on reach, so that no impression is used twice.
const poolRate = 16_000

// maxBenchAmbassadors bounds -ambassadors: more than a large program has,
// and few enough to create in a second or two.
const maxBenchAmbassadors = 10_000

// benchSetup creates the fixture through the API: the program with
// net/http, then the ambassadors and their placements from clients load
// connections at once.
func benchSetup(base, token string, clients, ambassadors int, perClient bool) (*benchFixture, error) {
	tr := &http.Transport{MaxIdleConns: clients, MaxIdleConnsPerHost: clients}
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	do := func(method, path string, body any) (int, []byte, error) {
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req, _ := http.NewRequest(method, base+path, rd)
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("User-Agent", "Mozilla/5.0 (referrald bench)")
		res, err := client.Do(req)
		if err != nil {
			return 0, nil, err
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		return res.StatusCode, b, err
	}
	create := func(path string, body any) (map[string]any, error) {
		status, b, err := do("POST", path, body)
		if err != nil || status != 201 {
			return nil, fmt.Errorf("setup %s: %d %s %v", path, status, b, err)
		}
		var m map[string]any
		json.Unmarshal(b, &m)
		return m, nil
	}
	prg, err := create("/v1/programs", map[string]any{"name": "Bench", "landing_url": "https://example.com/join"})
	if err != nil {
		return nil, err
	}
	fx := &benchFixture{base: base, token: token, program: prg["id"].(string), perClient: perClient,
		ambassadors: make([]string, ambassadors), placements: make([]string, ambassadors)}
	if fx.target, err = url.Parse(base); err != nil {
		return nil, err
	}
	run := rand.Int64()
	err = fx.spread(min(clients, ambassadors), ambassadors, func(_ int, conn *benchConn, i int64) error {
		body, _ := json.Marshal(map[string]string{"first_name": "Bench", "last_name": "Mark",
			"email": fmt.Sprintf("bench-%d-%d@example.com", run, i)})
		status, b, err := conn.do("POST", "/v1/ambassadors", body)
		if err != nil || status != 201 {
			return fmt.Errorf("setup /v1/ambassadors: %d %s %v", status, b, err)
		}
		amb := jsonID(b)
		if amb == "" {
			return fmt.Errorf("setup /v1/ambassadors: no id in %s", b)
		}
		body, _ = json.Marshal(map[string]string{"program_id": fx.program, "ambassador_id": amb, "label": "bench"})
		status, b, err = conn.do("POST", "/v1/placements", body)
		var plc struct{ Code string }
		if err != nil || status != 201 || json.Unmarshal(b, &plc) != nil || plc.Code == "" {
			return fmt.Errorf("setup /v1/placements: %d %s %v", status, b, err)
		}
		fx.ambassadors[i-1], fx.placements[i-1] = amb, plc.Code
		return nil
	})
	if err != nil {
		return nil, err
	}
	if perClient {
		fx.impressions = make([]string, clients)
	}
	for i := range fx.impressions {
		m, err := create("/v1/impressions", map[string]any{"program_id": fx.program, "ambassador_id": fx.ambassadors[i%ambassadors]})
		if err != nil {
			return nil, err
		}
		fx.impressions[i] = m["id"].(string)
	}
	return fx, nil
}

func runBench(fx *benchFixture, clients int, duration time.Duration, retryShare, getShare, scanShare float64) (*benchResult, error) {
	res := &benchResult{Target: fx.base, Durable: fx.durable, Clients: clients, Errors: map[string]int{}, Ops: map[string]*opStats{},
		latencies: map[string][]time.Duration{}}
	var mu sync.Mutex
	run := rand.Int64()
	deadline := time.Now().Add(duration)
	began := time.Now()
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat := map[string][]time.Duration{}
			errs := map[string]int{}
			conn := &benchConn{target: fx.target, token: fx.token}
			defer conn.close()
			var made []string
			// sent keeps each create's body, so a retry repeats one exactly.
			var sent [][]byte
			for i := 0; time.Now().Before(deadline); i++ {
				roll := rand.Float64()
				op, method, path, want := "create", "POST", "/v1/referrals", 201
				var body []byte
				switch {
				case roll < scanShare:
					op, method, path, want = "scan", "GET", "/s/"+fx.placements[rand.IntN(len(fx.placements))], 302
				case roll < scanShare+getShare && len(made) > 0:
					op, method, path, want = "get", "GET", "/v1/referrals/"+made[rand.IntN(len(made))], 200
				case roll < scanShare+getShare+retryShare && len(sent) > 0:
					op, body = "retry", sent[rand.IntN(len(sent))]
				default:
					key := fmt.Sprintf("bench-%d-%d-%d", run, c, i)
					body, _ = json.Marshal(benchReferral{ImpressionID: fx.impression(c), FirstName: "Ben", LastName: "Ch",
						Email: key + "@example.com", IdempotencyKey: key})
					if retryShare > 0 {
						sent = append(sent, body)
					}
				}
				t0 := time.Now()
				status, b, err := conn.do(method, path, body)
				lat[op] = append(lat[op], time.Since(t0))
				switch {
				case err != nil:
					errs["transport"]++
				case status != want:
					errs[fmt.Sprint(status)]++
				case op == "create":
					if id := jsonID(b); id != "" {
						made = append(made, id)
					}
				}
			}
			mu.Lock()
			for op, l := range lat {
				res.latencies[op] = append(res.latencies[op], l...)
			}
			for k, v := range errs {
				res.Errors[k] += v
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.Seconds = time.Since(began).Seconds()
	for op, l := range res.latencies {
		slices.Sort(l)
		pct := func(p float64) float64 { return float64(l[min(len(l)-1, int(p*float64(len(l))))]) / 1e6 }
		res.Ops[op] = &opStats{Count: len(l), PerSecond: float64(len(l)) / res.Seconds, P50ms: pct(0.50), P95ms: pct(0.95),
			P99ms: pct(0.99), MaxMs: float64(l[len(l)-1]) / 1e6}
		res.Requests += len(l)
	}
	res.PerSecond = float64(res.Requests) / res.Seconds
	res.ImpressionsReused = fx.reused.Swap(0)
	if res.Requests == 0 {
		return nil, errors.New("no request completed")
	}
	return res, nil
}

type benchReferral struct {
	ImpressionID   string `json:"impression_id"`
	FirstName      string `json:"first_name"`
	LastName       string `json:"last_name"`
	Email          string `json:"email"`
	IdempotencyKey string `json:"idempotency_key"`
}

// benchConn is one load client: a single keep-alive HTTP/1.1 connection
// that writes each request in one piece and reads the response in place.
// net/http's client costs about as much CPU per request as the server's
// create path, and on a 2-core machine the load generator's CPU is taken
// from the server under test; this one costs a fraction of it.
type benchConn struct {
	target *url.URL
	token  string
	conn   net.Conn
	rd     *bufio.Reader
	req    []byte
	body   []byte
}

func (bc *benchConn) dial() error {
	host := bc.target.Host
	var err error
	if bc.target.Scheme == "https" {
		if bc.target.Port() == "" {
			host += ":443"
		}
		bc.conn, err = tls.Dial("tcp", host, &tls.Config{ServerName: bc.target.Hostname()})
	} else {
		if bc.target.Port() == "" {
			host += ":80"
		}
		bc.conn, err = net.Dial("tcp", host)
	}
	if err != nil {
		return err
	}
	bc.rd = bufio.NewReaderSize(bc.conn, 16<<10)
	return nil
}

func (bc *benchConn) close() {
	if bc.conn != nil {
		bc.conn.Close()
		bc.conn = nil
	}
}

// do sends one request and returns the response's status and body (valid
// until the next call). A failed connection is closed; the next call dials
// anew.
func (bc *benchConn) do(method, path string, body []byte) (int, []byte, error) {
	if bc.conn == nil {
		if err := bc.dial(); err != nil {
			return 0, nil, err
		}
	}
	r := append(bc.req[:0], method...)
	r = append(r, ' ')
	r = append(r, bc.target.Path...)
	r = append(r, path...)
	r = append(r, " HTTP/1.1\r\nHost: "...)
	r = append(r, bc.target.Host...)
	r = append(r, "\r\nAuthorization: Bearer "...)
	r = append(r, bc.token...)
	r = append(r, "\r\nUser-Agent: Mozilla/5.0 (referrald bench)\r\n"...)
	if body != nil {
		r = append(r, "Content-Type: application/json\r\nContent-Length: "...)
		r = strconv.AppendInt(r, int64(len(body)), 10)
		r = append(r, "\r\n"...)
	}
	r = append(r, "\r\n"...)
	r = append(r, body...)
	bc.req = r
	if _, err := bc.conn.Write(r); err != nil {
		bc.close()
		return 0, nil, err
	}
	res, err := http.ReadResponse(bc.rd, nil)
	if err != nil {
		bc.close()
		return 0, nil, err
	}
	buf := bytes.NewBuffer(bc.body[:0])
	_, err = buf.ReadFrom(res.Body)
	res.Body.Close()
	bc.body = buf.Bytes()
	if err != nil || res.Close {
		bc.close()
	}
	return res.StatusCode, bc.body, err
}

// jsonID returns the top-level "id" of a JSON object, cheaply: a
// referral's id is its first field.
func jsonID(b []byte) string {
	const field = `{"id":"`
	if !bytes.HasPrefix(b, []byte(field)) {
		return ""
	}
	id, _, ok := bytes.Cut(b[len(field):], []byte{'"'})
	if !ok {
		return ""
	}
	return string(id)
}

func printBench(w io.Writer, r *benchResult) {
	durability := "durable: every answered write was fsync'd first"
	if !r.Durable {
		durability = "UNSAFE (-no-sync): writes were NOT fsync'd"
	}
	fmt.Fprintf(w, "referrald bench: %d clients for %.1fs against %s (%s)\n", r.Clients, r.Seconds, r.Target, durability)
	fmt.Fprintf(w, "  %d requests, %.0f requests/s\n", r.Requests, r.PerSecond)
	ops := make([]string, 0, len(r.Ops))
	for op := range r.Ops {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	fmt.Fprintf(w, "  %-8s %9s %9s %9s %9s %9s %9s\n", "op", "count", "per s", "p50 ms", "p95 ms", "p99 ms", "max ms")
	for _, op := range ops {
		s := r.Ops[op]
		fmt.Fprintf(w, "  %-8s %9d %9.0f %9.2f %9.2f %9.2f %9.2f\n", op, s.Count, s.PerSecond, s.P50ms, s.P95ms, s.P99ms, s.MaxMs)
	}
	if len(r.Errors) == 0 {
		fmt.Fprintln(w, "  errors: none")
	} else {
		var parts []string
		for k, v := range r.Errors {
			parts = append(parts, fmt.Sprintf("%s: %d", k, v))
		}
		sort.Strings(parts)
		fmt.Fprintf(w, "  errors by status: %s\n", strings.Join(parts, ", "))
	}
	if r.ImpressionsReused > 0 {
		fmt.Fprintf(w, "  %d signups reused an impression: the pool ran out\n", r.ImpressionsReused)
	}
	if r.Commits > 0 {
		fmt.Fprintf(w, "  store: %d commits, %.1f writes and %.1f pages written per commit, file %d bytes\n",
			r.Commits, r.AvgBatch, r.AvgPages, r.StoreBytes)
	}
}
