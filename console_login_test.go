package main

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os/exec"
	"strings"
	"testing"
)

// TestConsoleSignInWithACookieJar is the console's bar as a person with
// a terminal would meet it: `referrald users create` with the password on
// standard input, then the sign-in form posted with a cookie jar gives a
// session whose /console/ names the programs; a wrong password gives
// none.
func TestConsoleSignInWithACookieJar(t *testing.T) {
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	dataDir := t.TempDir()
	cmd := exec.Command(bin, "users", "create", "--email", "a@b.example", "--role", "owner")
	cmd.Env = append(cmd.Environ(), "REFERRALD_DATA_DIR="+dataDir)
	cmd.Stdin = strings.NewReader(cliPassword + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("users create: %v\n%s", err, out)
	}
	srv := startServer(t, dataDir)
	mustCreate(t, srv.url+"/v1/programs", map[string]any{"name": "Campus Spring Drive", "landing_url": "https://example.com"})

	signIn := func(password string) (*http.Client, *http.Response) {
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar}
		res, err := c.PostForm(srv.url+"/console/login", url.Values{"email": {"a@b.example"}, "password": {password}})
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return c, res
	}
	overview := func(c *http.Client) (*http.Response, string) {
		res, err := c.Get(srv.url + "/console/")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res, string(body)
	}

	c, _ := signIn(cliPassword)
	res, body := overview(c)
	if res.StatusCode != http.StatusOK || res.Request.URL.Path != "/console/" ||
		!strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") || !strings.Contains(body, "Campus Spring Drive") {
		t.Fatalf("signed in: GET /console/ ended at %s with %d %s; want 200 HTML naming the program\n%.600s",
			res.Request.URL, res.StatusCode, res.Header.Get("Content-Type"), body)
	}

	c, login := signIn("not the password at all")
	if login.StatusCode == http.StatusOK && login.Request.URL.Path == "/console/" {
		t.Fatal("a wrong password signed in")
	}
	if res, body := overview(c); res.Request.URL.Path != "/console/login" || strings.Contains(body, "Campus Spring Drive") {
		t.Fatalf("a wrong password: GET /console/ ended at %s with %d; want the sign-in page", res.Request.URL, res.StatusCode)
	}
}
