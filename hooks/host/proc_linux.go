package host

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes the kernel kill the plugin if referrald dies
// without stopping it (SIGKILL, a crash), so no orphan outlives it.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
