// Package deploy holds what runs beside referrald: the systemd unit, the
// Prometheus alert rules and the Grafana dashboard. Its tests check the
// rules with promtool, run their unit tests, and check that every metric
// the rules and the dashboard query is one the real service serves.
package deploy

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

const (
	rulesFile     = "prometheus/referrald-alerts.yml"
	rulesTestFile = "prometheus/referrald-alerts.test.yml"
	dashboardFile = "grafana/referrald.json"
	operationsDoc = "../docs/operations.md"
	// runbookBase is where every rule's runbook_url points, followed by
	// the anchor of the alert's section.
	runbookBase = "https://github.com/referrald/referrald/blob/main/docs/operations.md#"
)

// promtool finds Prometheus' rule checker, which `make test-deps`
// installs. Without it the rules are untested, so the test fails rather
// than skips.
func promtool(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool is not installed: run `make test-deps`, which takes it from Debian's prometheus package")
	}
	return path
}

func runPromtool(t *testing.T, args ...string) {
	t.Helper()
	cmd := exec.Command(promtool(t), args...)
	cmd.Dir = filepath.Dir(rulesFile)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

type rule struct {
	Alert       string            `yaml:"alert"`
	Record      string            `yaml:"record"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []rule `yaml:"rules"`
	} `yaml:"groups"`
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func alertRules(t *testing.T) []rule {
	t.Helper()
	var f ruleFile
	readYAML(t, rulesFile, &f)
	if len(f.Groups) != 1 || f.Groups[0].Name != "referrald" || len(f.Groups[0].Rules) == 0 {
		t.Fatalf("%s: want one group, referrald, with rules", rulesFile)
	}
	return f.Groups[0].Rules
}

// The rules pass promtool's check and their unit tests.
func TestAlertRulesPromtool(t *testing.T) {
	t.Parallel()
	runPromtool(t, "check", "rules", filepath.Base(rulesFile))
	runPromtool(t, "test", "rules", filepath.Base(rulesTestFile))
}

// Every alert says how urgent it is, what happened and what to do, links
// to its runbook section in docs/operations.md, selects the referrald
// job, and has unit tests in which it fires and in which it does not.
func TestAlertRulesAreComplete(t *testing.T) {
	anchors := docAnchors(t)
	fires, quiet := alertTestCases(t)
	for _, r := range alertRules(t) {
		t.Run(r.Alert, func(t *testing.T) {
			if !regexp.MustCompile(`^Referrald[A-Z][A-Za-z]+$`).MatchString(r.Alert) {
				t.Errorf("alert name %q: want Referrald<What>", r.Alert)
			}
			if s := r.Labels["severity"]; s != "page" && s != "ticket" {
				t.Errorf("severity %q: want page or ticket", s)
			}
			for _, a := range []string{"summary", "description"} {
				if len(r.Annotations[a]) < 20 {
					t.Errorf("annotation %s is %q: want a sentence", a, r.Annotations[a])
				}
			}
			anchor := "alert-" + strings.ToLower(r.Alert)
			if got := r.Annotations["runbook_url"]; got != runbookBase+anchor {
				t.Errorf("runbook_url %q: want %s%s", got, runbookBase, anchor)
			}
			if !anchors[anchor] {
				t.Errorf("%s has no section \"### Alert: %s\" (anchor #%s)", operationsDoc, r.Alert, anchor)
			}
			if !strings.Contains(r.Expr, `job="referrald"`) {
				t.Errorf("expr does not select job=\"referrald\", which the docs tell operators to replace:\n%s", r.Expr)
			}
			if fires[r.Alert] == 0 {
				t.Errorf("no test case in %s in which it fires", rulesTestFile)
			}
			if quiet[r.Alert] == 0 {
				t.Errorf("no test case in %s in which it does not fire", rulesTestFile)
			}
		})
	}
}

// alertTestCases counts, per alert, the unit test cases expecting it to
// fire and those expecting it not to.
func alertTestCases(t *testing.T) (fires, quiet map[string]int) {
	t.Helper()
	var f struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string `yaml:"alertname"`
				ExpAlerts []any  `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	readYAML(t, rulesTestFile, &f)
	fires, quiet = map[string]int{}, map[string]int{}
	for _, group := range f.Tests {
		for _, c := range group.AlertRuleTest {
			if len(c.ExpAlerts) > 0 {
				fires[c.Alertname]++
			} else {
				quiet[c.Alertname]++
			}
		}
	}
	return fires, quiet
}

// docAnchors are the anchors GitHub gives the headings of docs/operations.md.
func docAnchors(t *testing.T) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(operationsDoc)
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	drop := regexp.MustCompile(`[^a-z0-9 _-]`)
	for _, line := range strings.Split(string(b), "\n") {
		if title, ok := strings.CutPrefix(line, "#"); ok {
			title = strings.TrimSpace(strings.TrimLeft(title, "#"))
			anchors[strings.ReplaceAll(drop.ReplaceAllString(strings.ToLower(title), ""), " ", "-")] = true
		}
	}
	return anchors
}

type dashboard struct {
	SchemaVersion int `json:"schemaVersion"`
	UID           string
	Title         string
	Inputs        []struct {
		Name, Type, PluginID string
	} `json:"__inputs"`
	Templating struct {
		List []struct {
			Name       string          `json:"name"`
			Type       string          `json:"type"`
			Query      json.RawMessage `json:"query"`
			Datasource *datasource     `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
	Panels []panel `json:"panels"`
}

type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type panel struct {
	ID         int         `json:"id"`
	Type       string      `json:"type"`
	Title      string      `json:"title"`
	Datasource *datasource `json:"datasource"`
	Targets    []struct {
		RefID      string      `json:"refId"`
		Expr       string      `json:"expr"`
		Datasource *datasource `json:"datasource"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // a collapsed row's
}

func readDashboard(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	return d
}

// allPanels flattens rows, collapsed or not.
func (d dashboard) allPanels() []panel {
	var out []panel
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			out = append(out, p)
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

// grafanaVars stand in for Grafana's interval variables, so that
// promtool can parse what Grafana will send.
var grafanaVars = strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h")

// The dashboard imports anywhere: a Prometheus data source input and
// variable that every query uses, job and instance variables every
// query filters on, and queries promtool can parse.
func TestDashboard(t *testing.T) {
	t.Parallel()
	d := readDashboard(t)
	if d.SchemaVersion < 36 || d.UID != "referrald" || d.Title == "" {
		t.Errorf("schemaVersion %d, uid %q, title %q: want 36 or later, referrald and a title", d.SchemaVersion, d.UID, d.Title)
	}
	if len(d.Inputs) != 1 || d.Inputs[0].Name != "DS_PROMETHEUS" || d.Inputs[0].PluginID != "prometheus" {
		t.Errorf("__inputs %+v: want DS_PROMETHEUS, a prometheus data source", d.Inputs)
	}
	var vars []string
	for _, v := range d.Templating.List {
		vars = append(vars, v.Name+":"+v.Type)
	}
	if !slices.Equal(vars, []string{"datasource:datasource", "job:query", "instance:query"}) {
		t.Errorf("variables %v: want datasource, job and instance", vars)
	}
	want := datasource{Type: "prometheus", UID: "${datasource}"}
	ids := map[int]bool{}
	var recording strings.Builder
	recording.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	queries := 0
	for _, p := range d.allPanels() {
		if ids[p.ID] {
			t.Errorf("panel id %d is used twice", p.ID)
		}
		ids[p.ID] = true
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || *p.Datasource != want || len(p.Targets) == 0 {
			t.Errorf("panel %q: datasource %v, %d queries; want %v and queries", p.Title, p.Datasource, len(p.Targets), want)
		}
		for _, q := range p.Targets {
			if q.Datasource == nil || *q.Datasource != want {
				t.Errorf("panel %q query %s: datasource %v, want %v", p.Title, q.RefID, q.Datasource, want)
			}
			if !strings.Contains(q.Expr, `job=~"$job",instance=~"$instance"`) {
				t.Errorf("panel %q query %s does not filter on $job and $instance: %s", p.Title, q.RefID, q.Expr)
			}
			queries++
			fmt.Fprintf(&recording, "      - record: dashboard:panel_%d_%s\n        expr: %q\n", p.ID, q.RefID, grafanaVars.Replace(q.Expr))
		}
	}
	if queries == 0 {
		t.Fatal("the dashboard has no queries")
	}
	// promtool parses the queries as recording rules.
	path := filepath.Join(t.TempDir(), "dashboard-queries.yml")
	if err := os.WriteFile(path, []byte(recording.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool(t), "check", "rules", path).CombinedOutput(); err != nil {
		t.Fatalf("the dashboard's queries do not parse: %v\n%s", err, out)
	}
}
