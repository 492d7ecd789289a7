package deploy

import (
	"bufio"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/referrald/referrald/config"
)

// The Compose file runs the image as docs/operations.md says: a named
// volume on /data, loopback port 8080, settings from an env file, a
// restart policy, and the image's own health check.
func TestComposeFile(t *testing.T) {
	b, err := os.ReadFile("compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]map[string]any
		Volumes  map[string]any
	}
	if err := yaml.Unmarshal(b, &compose); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	svc, ok := compose.Services["referrald"]
	if !ok || len(compose.Services) != 1 {
		t.Fatalf("services %v: want referrald alone (PostgreSQL stays commented out until its driver ships)", compose.Services)
	}
	list := func(key string) []string {
		var out []string
		items, _ := svc[key].([]any)
		for _, it := range items {
			s, _ := it.(string)
			out = append(out, s)
		}
		return out
	}
	if image, _ := svc["image"].(string); !strings.Contains(image, "referrald:latest") || svc["pull_policy"] != "never" {
		t.Errorf("image %q, pull_policy %v: want the local referrald:latest, never pulled", image, svc["pull_policy"])
	}
	if r, _ := svc["restart"].(string); r != "unless-stopped" {
		t.Errorf("restart %q, want unless-stopped", r)
	}
	if svc["env_file"] != "referrald.env" {
		t.Errorf("env_file %v, want referrald.env", svc["env_file"])
	}
	if got := list("ports"); !slices.Equal(got, []string{"127.0.0.1:8080:8080"}) {
		t.Errorf("ports %q, want 127.0.0.1:8080:8080 alone", got)
	}
	if got := list("volumes"); !slices.Equal(got, []string{"referrald-data:/data"}) {
		t.Errorf("volumes %q, want referrald-data:/data", got)
	}
	if _, ok := compose.Volumes["referrald-data"]; !ok {
		t.Errorf("top-level volumes %v lack referrald-data", compose.Volumes)
	}
	if _, ok := svc["healthcheck"]; ok {
		t.Error("the service sets a healthcheck: the image's own should apply")
	}
}

// The env file example names only settings referrald knows, commits no
// admin token, and its copy is ignored by git; the PostgreSQL settings
// the Compose file shows commented out are still refused, as it says.
func TestComposeEnvExample(t *testing.T) {
	f, err := os.Open("referrald.env.example")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	vars := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		// Commented-out settings (# REFERRALD_X=...) must be right too.
		if rest, ok := strings.CutPrefix(line, "# REFERRALD_"); ok && strings.Contains(rest, "=") {
			line = "REFERRALD_" + rest
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || !strings.HasPrefix(k, "REFERRALD_") {
			t.Fatalf("referrald.env.example: %q is not REFERRALD_NAME=value", line)
		}
		vars[k] = v
	}
	if token, ok := vars["REFERRALD_ADMIN_TOKEN"]; !ok || token != "" {
		t.Errorf("REFERRALD_ADMIN_TOKEN is %q (present %v): want it present and empty, never a token in the repository", token, ok)
	}
	if _, err := config.Load("", testEnv(vars)); err != nil {
		t.Errorf("referrald.env.example: %v", err)
	}
	if out, err := exec.Command("git", "check-ignore", "-q", "referrald.env").CombinedOutput(); err != nil {
		t.Errorf("git does not ignore deploy/referrald.env, the copy with the token: %v %s", err, out)
	}
	for _, k := range []string{"REFERRALD_STORE_DRIVER", "REFERRALD_STORE_DSN"} {
		if _, err := config.Load("", testEnv(map[string]string{k: "postgres"})); err == nil || !strings.Contains(err.Error(), "unknown variable") {
			t.Errorf("%s is accepted now (%v): uncomment compose.yaml's PostgreSQL variant and update its comment", k, err)
		}
	}
}

// testEnv is an environment of exactly vars.
func testEnv(vars map[string]string) config.Env {
	return config.Env{
		Get: func(k string) string { return vars[k] },
		List: func() []string {
			var out []string
			for k, v := range vars {
				out = append(out, k+"="+v)
			}
			return out
		},
	}
}
