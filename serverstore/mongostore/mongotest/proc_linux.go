package mongotest

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes the child end with the test process, even killed.
func dieWithParent(c *exec.Cmd) {
	c.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
