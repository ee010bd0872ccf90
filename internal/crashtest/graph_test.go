package crashtest

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/correio-dev/correio/inbound"
	"github.com/correio-dev/correio/mailtest"
	"github.com/correio-dev/correio/store/sqlite"
)

// TestCrashGraph: a poller child reads a Microsoft Graph mailbox (the
// in-process Graph server lives here in the parent, so it survives the
// kills) with the post-action move, and is killed with SIGKILL in the
// middle of a delta sync (right after its k-th delta page request) or of
// the move post-action (right after its k-th move request), alternately.
// Every message must reach the host, a message may reach it twice only
// under the same key and at most once per kill (the hand-off in flight),
// nothing under two keys, and at the end every message is in the target
// folder exactly once. CORREIO_CRASH_ROUNDS / CORREIO_CRASH_MESSAGES make
// the long run, as for the IMAP rounds.
func TestCrashGraph(t *testing.T) {
	rounds, n := params()
	dir := t.TempDir()
	db, hostDB := filepath.Join(dir, "correio.db"), filepath.Join(dir, "host.db")
	st, err := sqlite.Open(context.Background(), db, sqlite.Options{CheckInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	srv := mailtest.NewGraphServer()
	defer srv.Close()
	srv.AddUser(graphUser)
	srv.AddToken(graphToken, graphUser)
	ca := filepath.Join(dir, "graph-ca.pem")
	writeCA(t, ca, srv.Certificate())
	env := []string{envChild + "=graph", envStore + "=sqlite", envDB + "=" + db, envHostDB + "=" + hostDB,
		envGraphURL + "=" + srv.URL, envGraphCA + "=" + ca}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 3))
	per := (n + rounds - 1) / rounds
	delivered := 0
	hit := map[string]int{}
	for round := range rounds {
		for ; delivered < min(n, (round+1)*per); delivered++ {
			if _, err := srv.Deliver(graphUser, "inbox", crashMessage(graphUser, "g", delivered)); err != nil {
				t.Fatal(err)
			}
		}
		// k: somewhere in this round's pages of ten, or its moves.
		phase, match, k := "delta", func(r string) bool { return strings.Contains(r, "/messages/delta") }, 1+rng.IntN(per/10+2)
		if round%2 == 1 {
			phase, match, k = "move", func(r string) bool { return strings.HasSuffix(r, "/move") }, 1+rng.IntN(max(per/2, 1))
		}
		if graphKillAt(t, srv, match, k, env...) {
			hit[phase]++
		}
	}
	before := len(graphPairs(t, hostDB))
	finalRound(t, append(env, envTarget+"="+strconv.Itoa(n))...)
	r := result{Name: "ingest graph sqlite", Rounds: rounds, Kills: rounds, Messages: n, Window: rounds * min(graphBatch, inbound.DefaultCommitBatch), BeforeFinal: before, Post: "move"}
	countKeys(&r, graphPairs(t, hostDB), "g", n)
	inbox, _ := srv.Count(graphUser, "inbox")
	moved, _ := srv.Count(graphUser, doneFolder)
	r.PostNotApplied = inbox
	if moved != n-inbox {
		t.Errorf("%d messages in %s, want %d", moved, doneFolder, n-inbox)
	}
	t.Logf("kills that landed in their phase: %v of %d rounds", hit, rounds)
	if rounds >= 2 && (hit["delta"] == 0 || hit["move"] == 0) {
		t.Errorf("the kills did not land in both phases: %v", hit)
	}
	report(t, r)
}

// graphKillAt starts a child and kills it with SIGKILL right after the
// server logged its k-th request matching match (since the child
// started); it reports whether that happened before a 60 s bound (else
// the child is killed anyway).
func graphKillAt(t *testing.T, srv *mailtest.GraphServer, match func(string) bool, k int, env ...string) bool {
	t.Helper()
	start := len(srv.Requests())
	cmd, ready, stderr := child(t, env...)
	select {
	case <-ready:
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("child never ready: %s", stderr)
	}
	landed := false
	deadline := time.Now().Add(60 * time.Second)
	for !landed && time.Now().Before(deadline) {
		seen := 0
		for _, r := range srv.Requests()[start:] {
			if match(r) {
				seen++
			}
		}
		landed = seen >= k
		if !landed {
			time.Sleep(time.Millisecond)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	return landed
}

func graphPairs(t *testing.T, path string) [][2]string {
	h, err := openHostSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	return readPairs(t, h)
}
