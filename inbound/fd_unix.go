//go:build unix

package inbound

import (
	"log/slog"
	"syscall"
)

// fdReserve are the descriptors kept for everything but mailbox
// connections: the store, the host's own listeners and files, spools.
const fdReserve = 256

// fitDescriptors lowers the connection cap to what the process's
// file-descriptor limit allows (Go raises the soft limit to the hard one
// at start on Linux and macOS), with a warning: past the limit a connect
// fails with "too many open files" and the mailbox retries, so a lower cap
// that rotates the excess is the better outcome.
func fitDescriptors(log *slog.Logger, want int) int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur == 0 {
		return want
	}
	avail := int64(rl.Cur) - fdReserve
	if rl.Cur > 1<<40 || int64(want) <= avail {
		return want
	}
	fit := int(max(avail, 16))
	log.Warn("inbound: MaxConnections lowered to fit the file-descriptor limit (raise it with ulimit -n or LimitNOFILE; see README)",
		"asked", want, "limit", rl.Cur, "max_connections", fit)
	return fit
}
