//go:build !linux

package host

import "os/exec"

// dieWithParent has no portable equivalent outside Linux; there a plugin
// whose referrald was killed exits when its connection closes.
func dieWithParent(*exec.Cmd) {}
