// Command pause is the local cluster's sandbox ("pause") container: it holds a Pod's namespaces
// open and does nothing else. As PID 1 it reaps orphaned children and exits on SIGINT/SIGTERM.
// Built here because no container registry is reachable to pull the upstream image from.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range sigs {
		if s != syscall.SIGCHLD {
			os.Exit(0)
		}
		for { // reap every exited child; stop when none is left
			pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
