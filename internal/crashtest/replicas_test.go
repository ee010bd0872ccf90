package crashtest

import (
	"context"
	"fmt"
	"net/mail"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/correio-dev/correio/internal/pgtest"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/mailtest"
	"github.com/correio-dev/correio/outbound"
	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/store/postgres"
	"github.com/correio-dev/correio/transport/smtp"
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// TestReplicas runs three replicas of a host (replica.Replica over the
// Poller and the Sender) as separate processes over one Postgres, started
// at the same moment: each must take its share without a grab, one is
// killed with SIGKILL midway and restarted. Counted and checked: double
// polls seen by the IMAP server (a folder selected by two connections at
// once: none), the takeover time of the killed replica's mailboxes (within
// the TTL plus a round), inbound messages lost (none) or handed twice
// (none), outbound messages all sent, resent at most once per connection
// in flight at the kill (same Message-ID), and each outbound mailbox's
// connections and sends per second against its own limits, which hold for
// the cluster.
//
// CI runs 12 mailboxes with a 2 s TTL and a per-host cap of 3 (so every
// replica's mailboxes rotate beyond its cap, and the survivors' more so).
// The long round, with the library's defaults (TTL, MaxConnectionsPerHost
// 100, Sender Lease):
//
//	CORREIO_REPLICA_LONG=1 go test -v -run TestReplicas -timeout 30m ./internal/crashtest/
//
// (CORREIO_REPLICA_MAILBOXES, _MESSAGES, _PER_MAILBOX, _TTL and _PER_HOST
// set the sizes one by one).
func TestReplicas(t *testing.T) {
	long := os.Getenv("CORREIO_REPLICA_LONG") != ""
	nMB, nOut, perMB, ttl, perHost := 12, 300, 6, "2s", "3"
	if long {
		nMB, nOut, perMB, ttl, perHost = 300, 3000, 10, "", ""
	}
	nMB = envInt("CORREIO_REPLICA_MAILBOXES", nMB)
	nOut = envInt("CORREIO_REPLICA_MESSAGES", nOut)
	perMB = envInt("CORREIO_REPLICA_PER_MAILBOX", perMB)
	if v, ok := os.LookupEnv(envTTL); ok {
		ttl = v
	}
	if v, ok := os.LookupEnv(envPerHost); ok {
		perHost = v
	}
	nSlow := nOut / 10
	ctx := context.Background()
	dsn := pgtest.Database(t)
	st, err := postgres.Open(ctx, dsn, postgres.Options{CheckInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
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
	slowSrv, err := mailtest.NewSMTPServer(mailtest.SMTPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer slowSrv.Close()
	for i := range nMB {
		imapSrv.AddUser(fmt.Sprintf("u%03d", i), "pw")
	}
	appendMsgs := func(from, to int) {
		for i := range nMB {
			u := fmt.Sprintf("u%03d", i)
			for j := from; j < to; j++ {
				raw := fmt.Sprintf("From: c@example.com\r\nTo: %s@example.com\r\nSubject: m\r\nMessage-ID: <%s-%d@replica.example>\r\n\r\nbody\r\n", u, u, j)
				if _, err := imapSrv.Append(u, "INBOX", []byte(raw)); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	third := max(perMB/3, 1)
	appendMsgs(0, third)
	// The parent enqueues; the replicas send.
	cat, err := replicaCatalog(ctx, nMB, imapSrv.Port(), smtpSrv.Port(), slowSrv.Port())
	if err != nil {
		t.Fatal(err)
	}
	enq, err := outbound.New(outbound.Options{Outbox: st.Outbox(), Catalog: cat, Transport: smtp.New(smtp.Options{})})
	if err != nil {
		t.Fatal(err)
	}
	for i := range nOut + nSlow {
		mb, subj := mailbox.ID("out"), fmt.Sprintf("n %d", i)
		if i >= nOut {
			mb, subj = "slow", fmt.Sprintf("s %d", i-nOut)
		}
		if _, err := enq.Enqueue(ctx, store.Message{Mailbox: mb, Subject: subj, Text: "hello", To: []store.Address{{Address: "customer@example.org"}}}); err != nil {
			t.Fatal(err)
		}
	}

	startReplica := func(owner string) (*exec.Cmd, <-chan struct{}, *strings.Builder) {
		cmd, ready, stderr := child(t, envChild+"=replica", envDB+"="+dsn, envOwner+"="+owner,
			envIMAPPort+"="+strconv.Itoa(imapSrv.Port()), envSMTPPort+"="+strconv.Itoa(smtpSrv.Port()),
			envSlowPort+"="+strconv.Itoa(slowSrv.Port()), envMailboxes+"="+strconv.Itoa(nMB), envTTL+"="+ttl, envPerHost+"="+perHost)
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		return cmd, ready, stderr
	}
	waitReady := func(owner string, ready <-chan struct{}, stderr *strings.Builder) {
		select {
		case <-ready:
		case <-time.After(60 * time.Second):
			t.Fatalf("replica %s never ready: %s", owner, stderr)
		}
	}
	// A simultaneous start: all three processes at once.
	var cmds []*exec.Cmd
	var readies []<-chan struct{}
	var stderrs []*strings.Builder
	for r := range 3 {
		cmd, ready, stderr := startReplica("r" + strconv.Itoa(r))
		cmds, readies, stderrs = append(cmds, cmd), append(readies, ready), append(stderrs, stderr)
	}
	for r := range 3 {
		waitReady("r"+strconv.Itoa(r), readies[r], stderrs[r])
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
		deadline := time.Now().Add(5 * time.Minute)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("never happened: %s", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	total := nMB + 2 // the outbound mailboxes are leased too
	share := (total + 2) / 3
	maxHeld := func() int {
		return count("SELECT coalesce(max(n), 0) FROM (SELECT count(*) AS n FROM correio_leases WHERE expires_at > clock_timestamp() GROUP BY owner) s")
	}
	// Record the most leases one replica held while the first shares were
	// taken: a grab would show all of them.
	peak := 0
	waitFor("leases spread over the three replicas", func() bool {
		peak = max(peak, maxHeld())
		return count("SELECT count(DISTINCT owner) FROM correio_leases WHERE expires_at > clock_timestamp()") == 3 &&
			count("SELECT count(*) FROM correio_leases WHERE expires_at > clock_timestamp()") == total
	})
	waitFor("r0 handles mail", func() bool { return count("SELECT count(*) FROM crash_owner WHERE owner = 'r0'") > 0 })
	waitFor("some mail sent", func() bool { return len(smtpSrv.Messages()) > nOut/4 })
	owned := count("SELECT count(*) FROM correio_leases WHERE owner = 'r0'")
	if err := cmds[0].Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	appendMsgs(third, 2*third)
	waitFor("r0's leases taken over", func() bool {
		return count("SELECT count(*) FROM correio_leases WHERE owner = 'r0' AND expires_at > clock_timestamp()") == 0 &&
			count("SELECT count(*) FROM correio_leases WHERE owner <> 'r0' AND expires_at > clock_timestamp()") == total
	})
	takeover := time.Since(killed)
	waitFor("the messages appended after the kill handed", func() bool {
		return count(fmt.Sprintf("SELECT count(DISTINCT message_id) FROM crash_handled WHERE message_id LIKE '%%-%d@replica.example'", 2*third-1)) == nMB
	})
	survivors := time.Since(killed)

	// r0 comes back (same ID, a new process) and gets its share again.
	cmd, ready, stderr := startReplica("r0")
	waitReady("r0", ready, stderr)
	cmds[0] = cmd
	waitFor("r0 back with its share", func() bool {
		return count("SELECT count(DISTINCT owner) FROM correio_leases WHERE expires_at > clock_timestamp()") == 3 &&
			count("SELECT count(*) FROM correio_leases WHERE expires_at > clock_timestamp()") == total &&
			maxHeld() <= share
	})
	appendMsgs(2*third, perMB)
	all := nMB * perMB
	waitFor("every message handed", func() bool { return count("SELECT count(DISTINCT message_id) FROM crash_handled") == all })
	sentAll := func(srv *mailtest.SMTPServer, n int) func() bool {
		return func() bool {
			seen := map[string]bool{}
			for _, m := range srv.Messages() {
				if msg, err := mail.ReadMessage(strings.NewReader(string(m.Data))); err == nil {
					seen[msg.Header.Get("Subject")] = true
				}
			}
			return len(seen) == n
		}
	}
	waitFor("every message sent", sentAll(smtpSrv, nOut))
	waitFor("every slow message sent", sentAll(slowSrv, nSlow))

	// The coordination cost at rest: transactions of the three replicas
	// (lease rounds, the Senders' looks at the outbox) over 10 s.
	xacts := func() int {
		return count("SELECT (xact_commit + xact_rollback)::int FROM pg_stat_database WHERE datname = current_database()")
	}
	time.Sleep(time.Second) // the statistics are flushed about every second
	x0, t0 := xacts(), time.Now()
	time.Sleep(10 * time.Second)
	xps := float64(xacts()-x0) / time.Since(t0).Seconds()
	for _, c := range cmds {
		_ = c.Process.Signal(syscall.SIGKILL)
	}

	sel := imapSrv.SelectStats()
	handedTwice := count("SELECT count(*) FROM crash_handled") - all
	type sendStats struct{ resent, other, peakConns, maxPerSecond int }
	outStats := func(srv *mailtest.SMTPServer) sendStats {
		var s sendStats
		got := map[string]map[string]int{}
		var at []time.Time
		for _, m := range srv.Messages() {
			msg, err := mail.ReadMessage(strings.NewReader(string(m.Data)))
			if err != nil {
				t.Fatal(err)
			}
			subj := msg.Header.Get("Subject")
			if got[subj] == nil {
				got[subj] = map[string]int{}
			}
			got[subj][msg.Header.Get("Message-Id")]++
			at = append(at, m.At)
		}
		for _, ids := range got {
			if len(ids) > 1 {
				s.other++
			}
			for _, c := range ids {
				s.resent += c - 1
			}
		}
		// The most messages in any one-second window.
		slices.SortFunc(at, func(a, b time.Time) int { return a.Compare(b) })
		for i, j := 0, 0; j < len(at); j++ {
			for at[j].Sub(at[i]) >= time.Second {
				i++
			}
			s.maxPerSecond = max(s.maxPerSecond, j-i+1)
		}
		s.peakConns = srv.PeakSessions()
		return s
	}
	out, slow := outStats(smtpSrv), outStats(slowSrv)
	t.Logf("replicas 3 (TTL %q, per-host cap %q; empty: the defaults), mailboxes %d inbound + 2 outbound, inbound messages %d, outbound %d + %d", ttl, perHost, nMB, all, nOut, nSlow)
	t.Logf("simultaneous start: most leases one replica held while the shares were taken %d (share %d of %d)", peak, share, total)
	t.Logf("double polls (server side): %d SELECTs found the folder selected on another connection (max %d at once), of %d", sel.Overlaps, sel.MaxConcurrent, sel.Selects)
	t.Logf("r0 (held %d) killed: its leases taken over %v after the kill; the mail appended after the kill handed %v after it", owned, takeover.Round(10*time.Millisecond), survivors.Round(10*time.Millisecond))
	t.Logf("inbound lost: %d; handed twice: %d", all-count("SELECT count(DISTINCT message_id) FROM crash_handled"), handedTwice)
	t.Logf("outbound \"out\" (MaxConnections %d, %d/s): peak connections %d, most sends in one second %d, resent with the same Message-ID %d, anything else twice %d",
		outConns, outRate, out.peakConns, out.maxPerSecond, out.resent, out.other)
	t.Logf("outbound \"slow\" (MaxConnections %d, %d/s): peak connections %d, most sends in one second %d, resent %d, other %d",
		slowConns, slowRate, slow.peakConns, slow.maxPerSecond, slow.resent, slow.other)
	t.Logf("Postgres at rest: %.1f transactions/s for the three replicas", xps)
	if sel.Overlaps != 0 {
		t.Errorf("double polls: %d (by user %v)", sel.Overlaps, sel.Users)
	}
	if peak > share {
		t.Errorf("a replica held %d leases at the start, over its share %d: a grab", peak, share)
	}
	if handedTwice != 0 || out.other != 0 || slow.other != 0 || out.resent+slow.resent > outConns+slowConns {
		t.Errorf("guarantee broken: handed twice %d, outbound other %d/%d, resent %d/%d", handedTwice, out.other, slow.other, out.resent, slow.resent)
	}
	if out.peakConns > outConns || slow.peakConns > slowConns {
		t.Errorf("connection caps exceeded over the cluster: out %d > %d or slow %d > %d", out.peakConns, outConns, slow.peakConns, slowConns)
	}
	// The rate window starts at most N sends in any one second; the
	// server counts arrivals, which may lag their start by up to one send
	// per connection. Three replicas each with their own limit would let
	// 3N through (a token bucket with a burst of N, 2N).
	if out.maxPerSecond > outRate+outConns || slow.maxPerSecond > slowRate+slowConns {
		t.Errorf("rate limits exceeded over the cluster: out %d/s (limit %d), slow %d/s (limit %d)", out.maxPerSecond, outRate, slow.maxPerSecond, slowRate)
	}
}
