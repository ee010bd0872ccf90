package mailstack

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// A stack whose owner is gone is stopped through its own pid files and
// removed; a live owner's stack and processes that merely share a pid file
// path's shape are left alone.
func TestReapStale(t *testing.T) {
	if err := Available(); err != nil {
		if os.Getenv("CORREIO_SKIP_MAILSTACK") == "1" {
			t.Skip("SKIPPING the real-server tier because CORREIO_SKIP_MAILSTACK=1")
		}
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	live, err := Start(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	stale, err := Start(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer stale.Close()

	// An unrelated process named in a pid file of an orphaned directory
	// must survive: its command line is not that stack's.
	other := exec.Command("sleep", "60")
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = other.Process.Kill(); _ = other.Wait() }()
	fake := filepath.Join(os.TempDir(), stackPrefix+"fake-"+strconv.Itoa(os.Getpid()))
	if err := os.MkdirAll(filepath.Join(fake, "dovecot", "run"), 0o755); err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(fake)
	if err := os.WriteFile(filepath.Join(fake, "dovecot", "run", "master.pid"), []byte(strconv.Itoa(other.Process.Pid)), 0o644); err != nil {
		t.Fatal(err)
	}
	// pid 1 lives, but not with this start time: the owner is gone.
	for _, d := range []string{fake, stale.Dir} {
		if err := os.WriteFile(filepath.Join(d, ownerFile), []byte("1 1\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	reapStale(os.TempDir())

	if anyListening([]int{stale.IMAPPort, stale.IMAPSPort, stale.LMTPPort, stale.SubmissionPort, stale.SMTPSPort}) {
		t.Error("the orphaned stack's servers still listen")
	}
	for _, d := range []string{fake, stale.Dir} {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("%s not removed: %v", d, err)
		}
	}
	if err := syscall.Kill(other.Process.Pid, 0); err != nil {
		t.Errorf("an unrelated process was signalled: %v", err)
	}
	if !anyListening([]int{live.IMAPPort}) || !anyListening([]int{live.SubmissionPort}) {
		t.Error("the live stack was stopped")
	}
	if _, err := os.Stat(live.Dir); err != nil {
		t.Errorf("the live stack's directory: %v", err)
	}
}
