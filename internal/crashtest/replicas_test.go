package crashtest

import (
	"context"
	"fmt"
	"net/mail"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/correio-dev/correio/internal/pgtest"
	"github.com/correio-dev/correio/mailtest"
	"github.com/correio-dev/correio/store/postgres"
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// TestReplicas runs three replicas of a host as separate processes over
// one Postgres: each polls the inbound mailboxes its leases give it and
// sends from the shared outbox. One replica is killed with SIGKILL midway;
// its mailboxes must resume on the others (after the lease TTL), every
// message must be handed exactly once, and every queued message sent, twice
// only in the in-flight window with the same Message-ID.
//
// CI runs 12 mailboxes; the full size:
//
//	CORREIO_REPLICA_MAILBOXES=300 CORREIO_REPLICA_MESSAGES=5000 go test -v -run TestReplicas ./internal/crashtest/
func TestReplicas(t *testing.T) {
	nMB := envInt("CORREIO_REPLICA_MAILBOXES", 12)
	nOut := envInt("CORREIO_REPLICA_MESSAGES", 300)
	perMB := envInt("CORREIO_REPLICA_PER_MAILBOX", 6)
	ctx := context.Background()
	dsn := pgtest.Database(t)
	st, err := postgres.Open(ctx, dsn, postgres.Options{CheckInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := pool.Exec(ctx, `CREATE TABLE crash_handled (key text NOT NULL, message_id text NOT NULL);
		CREATE TABLE crash_owner (message_id text NOT NULL, owner text NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	imapSrv, err := mailtest.NewIMAPServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer imapSrv.Close()
	smtpSrv, err := mailtest.NewSMTPServer(mailtest.SMTPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer smtpSrv.Close()
	appendMsgs := func(from, to int) {
		for i := range nMB {
			u := fmt.Sprintf("u%03d", i)
			if from == 0 {
				imapSrv.AddUser(u, "pw")
			}
			for j := from; j < to; j++ {
				raw := fmt.Sprintf("From: c@example.com\r\nTo: %s@example.com\r\nSubject: m\r\nMessage-ID: <%s-%d@replica.example>\r\n\r\nbody\r\n", u, u, j)
				if _, err := imapSrv.Append(u, "INBOX", []byte(raw)); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	half := perMB / 2
	appendMsgs(0, half)
	enqueue(t, []string{envStore + "=postgres", envDB + "=" + dsn}, smtpSrv.Port(), 0, nOut)

	var cmds []*exec.Cmd
	for r := range 3 {
		cmd, ready, stderr := child(t, envChild+"=replica", envDB+"="+dsn, envOwner+"=r"+strconv.Itoa(r),
			envIMAPPort+"="+strconv.Itoa(imapSrv.Port()), envSMTPPort+"="+strconv.Itoa(smtpSrv.Port()), envMailboxes+"="+strconv.Itoa(nMB))
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		select {
		case <-ready:
		case <-time.After(60 * time.Second):
			t.Fatalf("replica %d never ready: %s", r, stderr)
		}
		cmds = append(cmds, cmd)
	}
	count := func(q string) int {
		var n int
		if err := pool.QueryRow(ctx, q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(3 * time.Minute)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("never happened: %s", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// Kill r0 once the leases are spread and it has done some of both jobs.
	waitFor("leases spread over the replicas", func() bool {
		return count("SELECT count(DISTINCT owner) FROM correio_leases WHERE expires_at > clock_timestamp()") == 3
	})
	waitFor("r0 handles mail", func() bool { return count("SELECT count(*) FROM crash_owner WHERE owner = 'r0'") > 0 })
	waitFor("some mail sent", func() bool { return len(smtpSrv.Messages()) > nOut/4 })
	owned := count("SELECT count(*) FROM correio_leases WHERE owner = 'r0'")
	if err := cmds[0].Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	appendMsgs(half, perMB)
	waitFor("r0's leases taken over", func() bool {
		return count("SELECT count(*) FROM correio_leases WHERE owner = 'r0' AND expires_at > clock_timestamp()") == 0 &&
			count("SELECT count(*) FROM correio_leases WHERE owner <> 'r0'") == nMB
	})
	takeover := time.Since(killed)
	total := nMB * perMB
	waitFor("every message handed", func() bool { return count("SELECT count(DISTINCT message_id) FROM crash_handled") == total })
	waitFor("every message sent", func() bool {
		seen := map[string]bool{}
		for _, m := range smtpSrv.Messages() {
			if msg, err := mail.ReadMessage(strings.NewReader(string(m.Data))); err == nil {
				seen[msg.Header.Get("Subject")] = true
			}
		}
		return len(seen) == nOut
	})
	done := time.Since(killed)
	for _, c := range cmds[1:] {
		_ = c.Process.Signal(syscall.SIGKILL)
	}

	handedTwice := count("SELECT count(*) FROM crash_handled") - total
	afterKill := count(fmt.Sprintf("SELECT count(*) FROM crash_owner WHERE message_id LIKE '%%-%d@replica.example'", perMB-1))
	got := map[string]map[string]int{}
	for _, m := range smtpSrv.Messages() {
		msg, err := mail.ReadMessage(strings.NewReader(string(m.Data)))
		if err != nil {
			t.Fatal(err)
		}
		s := msg.Header.Get("Subject")
		if got[s] == nil {
			got[s] = map[string]int{}
		}
		got[s][msg.Header.Get("Message-Id")]++
	}
	inWindow, other := 0, 0
	for _, ids := range got {
		if len(ids) > 1 {
			other++
		}
		for _, c := range ids {
			inWindow += c - 1
		}
	}
	t.Logf("replicas 3, mailboxes %d (r0 held %d when killed), inbound messages %d, outbound %d", nMB, owned, total, nOut)
	t.Logf("r0's leases taken over %v after the kill (TTL %v); all work done %v after the kill", takeover.Round(10*time.Millisecond), replicaTTL, done.Round(10*time.Millisecond))
	t.Logf("inbound handed twice: %d; outbound resent with the same Message-ID: %d (bound %d); anything else twice: %d", handedTwice, inWindow, connections, other)
	if handedTwice != 0 || other != 0 || inWindow > connections || afterKill != nMB {
		t.Fatalf("guarantee broken: twice %d, other %d, in window %d, last messages handed %d of %d", handedTwice, other, inWindow, afterKill, nMB)
	}
}
