package mailstack

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// stackPrefix names every stack's temp directory; reapStale looks only at
// directories of this name.
const stackPrefix = "correio-mailstack-"

// ownerFile holds the pid and start time of the process that made a stack,
// so a later Start can tell a stack whose owner was killed from one that a
// concurrent test process still uses.
const ownerFile = "owner"

func writeOwner(dir string) error {
	pid := os.Getpid()
	st, err := procStart(pid)
	if err != nil {
		return fmt.Errorf("mailstack: own start time: %w", err)
	}
	return os.WriteFile(filepath.Join(dir, ownerFile), fmt.Appendf(nil, "%d %d\n", pid, st), 0o644)
}

// procStart reads a process's start time (clock ticks since boot, field 22
// of /proc/PID/stat), which tells a live owner from a reused pid.
func procStart(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces; fields after it follow
	// the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return 0, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	return strconv.ParseUint(f[19], 10, 64)
}

// ownerAlive reports whether the process that made the stack in dir still
// runs. A directory without a readable owner file counts as orphaned only
// when it is older than a minute (a concurrent Start may be writing it).
func ownerAlive(dir string) bool {
	b, err := os.ReadFile(filepath.Join(dir, ownerFile))
	if err != nil {
		fi, serr := os.Stat(dir)
		return serr == nil && time.Since(fi.ModTime()) < time.Minute
	}
	var pid int
	var st uint64
	if _, err := fmt.Sscan(string(b), &pid, &st); err != nil {
		return false
	}
	cur, err := procStart(pid)
	return err == nil && cur == st
}

// reapStale stops the servers of stacks whose owner process is gone (a
// test run killed before Close) and removes their directories. Servers are
// found only by the pid files in the stack's own directory, and a pid is
// signalled only if that process runs with the stack's own configuration,
// so nothing else on the machine is touched.
func reapStale(tmp string) {
	dirs, _ := filepath.Glob(filepath.Join(tmp, stackPrefix+"*"))
	for _, dir := range dirs {
		if ownerAlive(dir) {
			continue
		}
		stopStale(dir)
		_ = os.RemoveAll(dir)
	}
}

func stopStale(dir string) {
	pf := filepath.Join(dir, "postfix")
	if _, err := os.Stat(filepath.Join(pf, "main.cf")); err == nil {
		// Postfix stops the instance of this configuration directory by
		// its own pid file (queue/pid/master.pid).
		_ = exec.Command(PostfixBin, "-c", pf, "stop").Run()
		killIfOurs(filepath.Join(pf, "queue", "pid", "master.pid"), "MAIL_CONFIG="+pf)
	}
	killIfOurs(filepath.Join(dir, "dovecot", "run", "master.pid"), filepath.Join(dir, "dovecot.conf"))
}

// killIfOurs kills the process group named by a pid file when that
// process's command line or environment mentions marker (its config path).
func killIfOurs(pidFile, marker string) {
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		return
	}
	cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	environ, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if !bytes.Contains(cmdline, []byte(marker)) && !bytes.Contains(environ, []byte(marker)) {
		return
	}
	_ = syscall.Kill(pid, syscall.SIGTERM)
	for range 100 {
		if syscall.Kill(pid, 0) != nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
}
