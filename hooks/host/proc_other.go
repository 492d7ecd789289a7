//go:build !linux

package host

import "os/exec"

// isolate does nothing outside Linux, where referrald is not deployed: a
// plugin whose referrald was killed exits when its connection closes, and
// what a plugin starts may outlive it. Stops stay bounded all the same
// (see Plugin.kill).
func isolate(*exec.Cmd) {}

// killGroup does nothing outside Linux; go-plugin kills the plugin itself.
func killGroup(int) {}
