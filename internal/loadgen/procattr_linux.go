package loadgen

import "syscall"

// sysProcAttr puts the server in its own process group, so that a Ctrl-C meant for the harness does
// not reach it before the harness has finished measuring, and has the kernel send it SIGTERM if the
// harness dies first.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}
