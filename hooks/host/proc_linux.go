package host

import (
	"os/exec"
	"syscall"
)

// isolate starts the plugin in a process group of its own, so that
// killGroup reaches whatever it starts (a wrapper script's children keep
// its output pipes open, and go-plugin waits for those to close), and has
// the kernel kill it if referrald dies without stopping it (SIGKILL, a
// crash).
func isolate(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// killGroup kills the process group that isolate gave the plugin whose
// pid is leader. The group's id stays taken while any member lives, so
// this cannot reach a stranger while the plugin or its children remain;
// once none is left it finds no group, unless the id went to a new group
// in the moment between.
func killGroup(leader int) {
	// 0 and 1 would mean our own group and every process we may signal.
	if leader > 1 {
		syscall.Kill(-leader, syscall.SIGKILL)
	}
}
