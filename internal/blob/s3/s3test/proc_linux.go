package s3test

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes the kernel kill versitygw if the test binary dies
// without running its cleanups (a go test timeout, a SIGKILL), so that no
// server outlives its test.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
