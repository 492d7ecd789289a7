// Package browsertest drives referrald's web pages in a real browser:
// Chromium, through chromedp, against a real `referrald serve` process on
// a fresh store. It holds only tests; `go test ./browsertest` runs them,
// and `make test-deps` installs Chromium when it is missing.
//
// # Adding a test of your pages
//
// Write a file of your own, say ambassadors_test.go, with one test per
// journey a person takes. The helpers of harness_test.go give you:
//
//	srv := startServer(t)                     // referrald serve on a fresh store; srv.URL, srv.Log()
//	srv := startServer(t, withUser(u))        // with console users made first (referrald users create)
//	srv := startServer(t, withStore(prepare)) // prepare(*store.Store) runs on the fresh store first
//	b := newBrowser(t)                        // a fresh Chromium profile: no cookies
//	b.signIn(srv, u)                          // through the sign-in form; fails the test if it does not work
//	b.open(srv.URL + "/console/programs")     // navigate; returns the HTTP status
//	b.fill("#f-name", "Spring")               // type into an input, by CSS selector
//	b.submit("form button[type=submit]")      // click and wait for the next page; returns its status
//	b.text("h1")                              // an element's text
//	b.screenshot("programs")                  // bin/screenshots/programs-desktop.png and -phone.png
//
// Each helper fails the test with what went wrong, so a test reads as the
// steps a person takes. Screenshots are written to bin/screenshots/ at the
// repository's root, at 1280 and 360 pixels wide, full page, for people to
// look at; name them after the page.
package browsertest
