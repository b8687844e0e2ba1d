package redistest

import "syscall"

// sysProcAttr makes the server die with the test process (SIGKILL when its
// parent exits).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
