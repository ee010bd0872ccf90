package crashtest

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/correio-dev/correio/inbound"
	"github.com/correio-dev/correio/internal/pgtest"
	"github.com/correio-dev/correio/mailtest"
	"github.com/correio-dev/correio/outbound"
	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/store/memory"
	"github.com/correio-dev/correio/store/postgres"
	"github.com/correio-dev/correio/store/sqlite"
	"github.com/correio-dev/correio/transport/smtp"
)

func TestMain(m *testing.M) {
	if os.Getenv(envChild) != "" {
		childMain()
	}
	pgtest.Main(m)
}

// params returns the rounds and messages: short in CI, the full run by
// CORREIO_CRASH_ROUNDS / CORREIO_CRASH_MESSAGES.
func params() (rounds, messages int) {
	rounds, messages = 3, 200
	if v, err := strconv.Atoi(os.Getenv("CORREIO_CRASH_ROUNDS")); err == nil && v > 0 {
		rounds = v
	}
	if v, err := strconv.Atoi(os.Getenv("CORREIO_CRASH_MESSAGES")); err == nil && v > 0 {
		messages = v
	}
	return rounds, messages
}

// result is one line of the RELIABILITY.md table.
type result struct {
	Name                       string
	Rounds, Kills, Messages    int
	Lost, InWindow, OtherTwice int
	Window                     int // the documented bound of InWindow
	// BeforeFinal counts the messages done before the final round (the
	// kills hit work in progress).
	BeforeFinal int
	// Post is the inbound mailbox's post-action ("" for send rounds);
	// PostNotApplied counts handled messages it was never applied to
	// after the final round (still in the INBOX, or still unseen). Must
	// be 0.
	Post           string
	PostNotApplied int
}

var (
	resultsMu sync.Mutex
	results   []result
)

func report(t *testing.T, r result) {
	t.Helper()
	resultsMu.Lock()
	results = append(results, r)
	resultsMu.Unlock()
	post := "—"
	if r.Post != "" {
		post = fmt.Sprintf("%d (%s)", r.PostNotApplied, r.Post)
	}
	t.Logf("| %s | %d | %d | %d | %d | %d (bound %d) | %d | %s |", r.Name, r.Rounds, r.Messages, r.BeforeFinal, r.Lost, r.InWindow, r.Window, r.OtherTwice, post)
	if r.Lost != 0 || r.OtherTwice != 0 || r.InWindow > r.Window || r.PostNotApplied != 0 {
		t.Errorf("guarantee broken: %+v", r)
	}
}

// child starts the test binary as a child of the given kind.
func child(t *testing.T, env ...string) (*exec.Cmd, <-chan struct{}, *strings.Builder) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		once := false
		for sc.Scan() {
			if sc.Text() == "ready" && !once {
				once = true
				close(ready)
			}
		}
	}()
	return cmd, ready, &stderr
}

// killRound starts a child, waits until it is working, lets it run a
// random moment and kills it with SIGKILL.
func killRound(t *testing.T, rng *rand.Rand, maxDelay time.Duration, env ...string) {
	t.Helper()
	cmd, ready, stderr := child(t, env...)
	select {
	case <-ready:
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("child never ready: %s", stderr)
	}
	time.Sleep(time.Duration(rng.Int64N(int64(maxDelay))))
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
}

// finalRound runs a child until it finishes its work.
func finalRound(t *testing.T, env ...string) {
	t.Helper()
	cmd, _, stderr := child(t, env...)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("final child: %v\n%s", err, stderr)
		}
	case <-time.After(120 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("final child did not finish\n%s", stderr)
	}
}

type storeKind struct {
	name string
	// inTx hands off with postgres.HandleInTx (no in-flight window).
	inTx bool
	// post is the inbound mailbox's post-action: "move" or "seen".
	post string
	// setup returns the child's store environment and a reader of the
	// host's durable record of hand-offs (key, Message-ID).
	setup func(t *testing.T) (env []string, handled func() [][2]string)
}

func kinds() []storeKind {
	return []storeKind{
		{"sqlite", false, "move", func(t *testing.T) ([]string, func() [][2]string) {
			dir := t.TempDir()
			db, host := filepath.Join(dir, "correio.db"), filepath.Join(dir, "host.db")
			st, err := sqlite.Open(context.Background(), db, sqlite.Options{CheckInterval: -1})
			if err != nil {
				t.Fatal(err)
			}
			st.Close()
			return []string{envStore + "=sqlite", envDB + "=" + db, envHostDB + "=" + host}, func() [][2]string {
				h, err := openHostSQLite(host)
				if err != nil {
					t.Fatal(err)
				}
				defer h.Close()
				return readPairs(t, h)
			}
		}},
		{"postgres", false, "seen", postgresHost},
		{"postgres in-tx", true, "move", postgresHost},
	}
}

func readPairs(t *testing.T, db *sql.DB) [][2]string {
	rows, err := db.Query("SELECT key, message_id FROM handled")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out [][2]string
	for rows.Next() {
		var p [2]string
		if err := rows.Scan(&p[0], &p[1]); err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

// TestCrashIngest: a poller child ingests messages appended round by
// round and is killed at random moments. Every message must reach the
// host; a message may reach it twice only with the same key, at most one
// group commit's hand-offs per kill (handed off, the host committed, the
// poller's record not yet); nothing else twice.
func TestCrashIngest(t *testing.T) {
	rounds, n := params()
	for _, k := range kinds() {
		t.Run(k.name, func(t *testing.T) {
			env, handled := k.setup(t)
			srv, err := mailtest.NewIMAPServer(nil)
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			srv.AddUser(user, "pw")
			env = append(env, envChild+"=ingest", envPort+"="+strconv.Itoa(srv.Port()), envPost+"="+k.post)
			// The hand-offs not yet group-committed at a kill are
			// repeated: at most one fetch batch (the child's BatchSize,
			// under the default CommitBatch) per kill.
			window := rounds * min(childBatch, inbound.DefaultCommitBatch)
			if k.inTx {
				env = append(env, envInTx+"=1")
				window = 0
			}
			rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
			per := (n + rounds - 1) / rounds
			appended, lastUID := 0, 0
			for round := range rounds {
				for ; appended < min(n, (round+1)*per); appended++ {
					uid, err := srv.Append(user, "INBOX", crashMessage("desk@example.com", "m", appended))
					if err != nil {
						t.Fatal(err)
					}
					lastUID = int(uid)
				}
				killRound(t, rng, 150*time.Millisecond, env...)
			}
			before := len(handled())
			finalRound(t, append(env, envTarget+"="+strconv.Itoa(lastUID))...)
			r := result{Name: "ingest " + k.name, Rounds: rounds, Kills: rounds, Messages: n, Window: window, BeforeFinal: before}
			countKeys(&r, handled(), "m", n)
			// Every handled message got its post-action: none left in the
			// INBOX (move: each in the target once), or none unseen.
			r.Post = k.post
			inbox, err := srv.Status(user, "INBOX")
			if err != nil {
				t.Fatal(err)
			}
			switch k.post {
			case "move":
				r.PostNotApplied = int(*inbox.NumMessages)
				moved, err := srv.Status(user, doneFolder)
				if err != nil {
					t.Fatal(err)
				}
				if int(*moved.NumMessages) != n-r.PostNotApplied {
					t.Errorf("%d messages in %s, want %d", *moved.NumMessages, doneFolder, n-r.PostNotApplied)
				}
			case "seen":
				r.PostNotApplied = int(*inbox.NumUnseen)
			}
			report(t, r)
		})
	}
}

// TestCrashSend: messages enqueued durably are sent by a sender child
// killed at random moments. Every message must reach the SMTP server (in
// the parent); one may arrive twice only with the same Message-ID, at most
// once per connection per kill; nothing else twice.
func TestCrashSend(t *testing.T) {
	rounds, n := params()
	for _, k := range kinds() {
		if k.inTx {
			continue
		}
		t.Run(k.name, func(t *testing.T) {
			env, _ := k.setup(t)
			srv, err := mailtest.NewSMTPServer(mailtest.SMTPOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			storeEnv := env
			env = append(env, envChild+"=send", envPort+"="+strconv.Itoa(srv.Port()))
			rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 2))
			per := (n + rounds - 1) / rounds
			for round := range rounds {
				// Every round has work: the kill lands on sending.
				enqueue(t, storeEnv, srv.Port(), min(n, round*per), min(n, (round+1)*per))
				killRound(t, rng, 200*time.Millisecond, env...)
			}
			before := len(srv.Messages())
			finalRound(t, append(env, envTarget+"=done")...)
			got := map[string]map[string]int{} // subject -> Message-ID -> count
			for _, m := range srv.Messages() {
				msg, err := mail.ReadMessage(strings.NewReader(string(m.Data)))
				if err != nil {
					t.Fatal(err)
				}
				subj, id := msg.Header.Get("Subject"), msg.Header.Get("Message-Id")
				if got[subj] == nil {
					got[subj] = map[string]int{}
				}
				got[subj][id]++
			}
			r := result{Name: "send " + k.name, Rounds: rounds, Kills: rounds, Messages: n, Window: rounds * connections, BeforeFinal: before}
			for i := range n {
				ids := got[fmt.Sprintf("n %d", i)]
				if len(ids) == 0 {
					r.Lost++
				}
				if len(ids) > 1 {
					r.OtherTwice++ // the same message under two Message-IDs
				}
				for _, c := range ids {
					r.InWindow += c - 1
				}
			}
			if len(got) != n {
				r.OtherTwice += len(got) - n
			}
			report(t, r)
		})
	}
}

// enqueue stores messages from..to-1 through a Sender (not started) on
// the store.
func enqueue(t *testing.T, env []string, port, from, to int) {
	t.Helper()
	vars := map[string]string{}
	for _, e := range env {
		k, v, _ := strings.Cut(e, "=")
		vars[k] = v
	}
	ctx := context.Background()
	st, err := openStores(ctx, func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	defer st.close()
	cat := memory.NewCatalog()
	if err := cat.PutMailbox(ctx, outboundMailbox(port)); err != nil {
		t.Fatal(err)
	}
	tr := smtp.New(smtp.Options{})
	defer tr.Close()
	s, err := outbound.New(outbound.Options{Outbox: st.out, Catalog: cat, Transport: tr})
	if err != nil {
		t.Fatal(err)
	}
	for i := from; i < to; i++ {
		if _, err := s.Enqueue(ctx, store.Message{Mailbox: "out", Subject: fmt.Sprintf("n %d", i), Text: "hello",
			To: []store.Address{{Address: "customer@example.org"}}}); err != nil {
			t.Fatal(err)
		}
	}
}

// postgresHost prepares a Postgres database for the store and the host's
// table, and returns the child's environment and a reader of the host's
// recorded (key, Message-ID) pairs.
func postgresHost(t *testing.T) ([]string, func() [][2]string) {
	dsn := pgtest.Database(t)
	st, err := postgres.Open(context.Background(), dsn, postgres.Options{CheckInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	if err := createHostPostgres(context.Background(), dsn); err != nil {
		t.Fatal(err)
	}
	return []string{envStore + "=postgres", envDB + "=" + dsn}, func() [][2]string {
		pool, err := pgxpool.New(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer pool.Close()
		rows, err := pool.Query(context.Background(), "SELECT key, message_id FROM crash_handled")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out [][2]string
		for rows.Next() {
			var p [2]string
			if err := rows.Scan(&p[0], &p[1]); err != nil {
				t.Fatal(err)
			}
			out = append(out, p)
		}
		return out
	}
}
