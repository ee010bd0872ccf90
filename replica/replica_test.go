package replica_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/correio-dev/correio/engine"
	"github.com/correio-dev/correio/inbound"
	"github.com/correio-dev/correio/internal/pgtest"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/mailtest"
	"github.com/correio-dev/correio/replica"
	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/store/memory"
	"github.com/correio-dev/correio/store/postgres"
	"github.com/correio-dev/correio/transport/imap"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// waitFor polls cond; the timeout only keeps a broken test from hanging.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never happened within %v: %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// cluster is replicas of one host in one test process: each its own
// store connection, catalog, Poller and Replica, as separate processes
// would have, over one database and one IMAP server.
type cluster struct {
	t    *testing.T
	dsn  string
	imap *mailtest.IMAPServer
	n    int // mailboxes
	ttl  time.Duration
	// backend wraps each replica's backend (nil: the store's leases).
	backend func(id string, b replica.Backend) replica.Backend

	mu      sync.Mutex
	handled map[string]int // key -> hand-offs
	members map[string]*member
}

type member struct {
	r      *replica.Replica
	p      *inbound.Poller
	cancel context.CancelFunc
	done   chan struct{} // closed when Run returned, with err
	err    error
}

// shut cancels the replica's Run and returns its error.
func (m *member) shut() error {
	m.cancel()
	<-m.done
	return m.err
}

func newCluster(t *testing.T, mailboxes, perMailbox int, ttl time.Duration) *cluster {
	srv, err := mailtest.NewIMAPServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	c := &cluster{t: t, dsn: pgtest.Database(t), imap: srv, n: mailboxes, ttl: ttl, handled: map[string]int{}, members: map[string]*member{}}
	for i := range mailboxes {
		u := fmt.Sprintf("u%03d", i)
		srv.AddUser(u, "pw")
	}
	c.appendMail(0, perMailbox)
	return c
}

func (c *cluster) appendMail(from, to int) {
	for i := range c.n {
		u := fmt.Sprintf("u%03d", i)
		for j := from; j < to; j++ {
			raw := fmt.Sprintf("From: c@example.com\r\nTo: %s@example.com\r\nSubject: m\r\nMessage-ID: <%s-%d@replica.example>\r\n\r\nbody\r\n", u, u, j)
			if _, err := c.imap.Append(u, "INBOX", []byte(raw)); err != nil {
				c.t.Fatal(err)
			}
		}
	}
}

func (c *cluster) mailbox(i int) *mailbox.Mailbox {
	return &mailbox.Mailbox{ID: mailbox.ID(fmt.Sprintf("in%03d", i)), Description: "replica", Kind: mailbox.Inbound, Enabled: true,
		Inbound: &mailbox.InboundSettings{
			Server:       mailbox.Server{Host: "127.0.0.1", Port: c.imap.Port(), Security: mailbox.SecurityPlaintext, AllowPlaintext: true},
			Credentials:  mailbox.Credentials{Username: fmt.Sprintf("u%03d", i), Password: mailbox.NewSecret("pw")},
			PostAction:   mailbox.PostKeep,
			PollInterval: 300 * time.Millisecond,
		}}
}

// start starts replica id; perHost is the Poller's MaxConnectionsPerHost
// (0: the default).
func (c *cluster) start(id string, perHost int) *member {
	t := c.t
	ctx := context.Background()
	st, err := postgres.Open(ctx, c.dsn, postgres.Options{CheckInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	cat := memory.NewCatalog()
	for i := range c.n {
		if err := cat.PutMailbox(ctx, c.mailbox(i)); err != nil {
			t.Fatal(err)
		}
	}
	var b replica.Backend = st.Leases()
	if c.backend != nil {
		b = c.backend(id, b)
	}
	r, err := replica.New(replica.Options{ID: id, Backend: b, Catalog: cat, TTL: c.ttl})
	if err != nil {
		t.Fatal(err)
	}
	h := inbound.HandlerFunc(func(_ context.Context, d *inbound.Delivery) error {
		c.mu.Lock()
		c.handled[string(d.Mailbox.ID)+"/"+d.Message.MessageID]++
		c.mu.Unlock()
		return nil
	})
	p, err := inbound.New(inbound.Options{Store: st.Inbound(), Catalog: cat, Handler: h, Assignment: r, Leaser: r,
		IMAP: &imap.Config{Timeout: 10 * time.Second}, MaxConnectionsPerHost: perHost})
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	m := &member{r: r, p: p, cancel: cancel, done: make(chan struct{})}
	go func() { m.err = r.Run(rctx, p); close(m.done) }()
	t.Cleanup(func() { _ = m.shut() })
	c.mu.Lock()
	c.members[id] = m
	c.mu.Unlock()
	return m
}

// stop ends replica id's Run (a clean shutdown) and returns its error.
func (c *cluster) stop(id string) error {
	c.mu.Lock()
	m := c.members[id]
	delete(c.members, id)
	c.mu.Unlock()
	return m.shut()
}

// held returns the mailboxes each live replica runs.
func (c *cluster) held() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]int{}
	for id, m := range c.members {
		out[id] = m.r.Status().Held
	}
	return out
}

func (c *cluster) spread(want map[string][2]int) func() bool {
	return func() bool {
		h := c.held()
		total := 0
		for id, n := range h {
			w, ok := want[id]
			if !ok || n < w[0] || n > w[1] {
				return false
			}
			total += n
		}
		return total == c.n && len(h) == len(want)
	}
}

// handledOnce reports whether every message of the first per mailboxes
// was handed exactly once, and fails the test on a second hand-off.
func (c *cluster) handledOnce(per int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, n := range c.handled {
		if n > 1 {
			c.t.Fatalf("%s handed %d times", k, n)
		}
	}
	for i := range c.n {
		for j := range per {
			if c.handled[fmt.Sprintf("in%03d/u%03d-%d@replica.example", i, i, j)] == 0 {
				return false
			}
		}
	}
	return true
}

func (c *cluster) noOverlaps() {
	c.t.Helper()
	if st := c.imap.SelectStats(); st.Overlaps != 0 {
		c.t.Fatalf("double polls: %d SELECTs found the folder selected on another connection (max %d at once; by user %v)", st.Overlaps, st.MaxConcurrent, st.Users)
	}
}

// TestReplicasShareWithoutOverlap: three replicas started together each
// take their fair share (never all of it), a fourth joining gets its share
// from the others, a replica shutting down hands its mailboxes over at
// once (long before its leases could expire), and at no moment did the
// server see one mailbox selected by two connections. Each replica's
// per-host cap is below its share, so its mailboxes rotate, and the
// survivors read the mailboxes they inherit beyond the cap too.
func TestReplicasShareWithoutOverlap(t *testing.T) {
	const n, per = 24, 2
	const ttl = time.Minute // expiry plays no part: every move is a hand-over
	c := newCluster(t, n, per, ttl)
	for _, id := range []string{"r0", "r1", "r2"} {
		c.start(id, 3)
	}
	waitFor(t, 45*time.Second, "8 mailboxes each", c.spread(map[string][2]int{"r0": {8, 8}, "r1": {8, 8}, "r2": {8, 8}}))
	waitFor(t, 45*time.Second, "every message handed", func() bool { return c.handledOnce(per) })
	c.noOverlaps()

	c.start("r3", 3)
	waitFor(t, 45*time.Second, "6 mailboxes each after r3 joined",
		c.spread(map[string][2]int{"r0": {6, 6}, "r1": {6, 6}, "r2": {6, 6}, "r3": {6, 6}}))
	c.noOverlaps()

	left := time.Now()
	if err := c.stop("r0"); err != nil {
		t.Fatal(err)
	}
	// 24 over 3: 8 each; a lease expiry would take a minute.
	waitFor(t, ttl*3/4, "r0's mailboxes taken over before its leases could expire",
		c.spread(map[string][2]int{"r1": {8, 8}, "r2": {8, 8}, "r3": {8, 8}}))
	t.Logf("hand-over at shutdown took %v", time.Since(left).Round(time.Millisecond))
	if err := c.stop("r1"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ttl*3/4, "r1's mailboxes taken over", c.spread(map[string][2]int{"r2": {12, 12}, "r3": {12, 12}}))
	// New mail in every mailbox is read by the two survivors, 12 each
	// over a per-host cap of 3.
	c.appendMail(per, per+2)
	waitFor(t, 60*time.Second, "new mail read by the survivors", func() bool { return c.handledOnce(per + 2) })
	c.noOverlaps()
	hs, err := c.members["r2"].p.HealthAll(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hs {
		if h.State == engine.StateOverBudget {
			t.Fatalf("mailbox %s over budget on a survivor", h.Mailbox)
		}
	}
}

// cutBackend fails every call once cut, as a replica cut off from the
// database sees it.
type cutBackend struct {
	replica.Backend
	mu  sync.Mutex
	cut bool
}

var errCut = errors.New("test: backend unreachable")

func (b *cutBackend) isCut() bool { b.mu.Lock(); defer b.mu.Unlock(); return b.cut }

func (b *cutBackend) Round(ctx context.Context, owner string, mbs []mailbox.ID, ttl time.Duration) (store.LeaseRound, error) {
	if b.isCut() {
		return store.LeaseRound{}, errCut
	}
	return b.Backend.Round(ctx, owner, mbs, ttl)
}

func (b *cutBackend) Release(ctx context.Context, owner string, mbs []mailbox.ID) error {
	if b.isCut() {
		return errCut
	}
	return b.Backend.Release(ctx, owner, mbs)
}

func (b *cutBackend) Leave(ctx context.Context, owner string) error {
	if b.isCut() {
		return errCut
	}
	return b.Backend.Leave(ctx, owner)
}

// TestReplicaCutOffStopsBeforeExpiry: a replica that can no longer renew
// stops all its mailboxes before its leases expire; the others take them
// over once they expired, and the server never sees two sessions on one
// mailbox. Every message is handed once.
func TestReplicaCutOffStopsBeforeExpiry(t *testing.T) {
	const n, per = 12, 2
	const ttl = 2 * time.Second
	c := newCluster(t, n, per, ttl)
	cuts := map[string]*cutBackend{}
	c.backend = func(id string, b replica.Backend) replica.Backend {
		cb := &cutBackend{Backend: b}
		cuts[id] = cb
		return cb
	}
	for _, id := range []string{"r0", "r1", "r2"} {
		c.start(id, 0)
	}
	waitFor(t, 45*time.Second, "4 mailboxes each", c.spread(map[string][2]int{"r0": {4, 4}, "r1": {4, 4}, "r2": {4, 4}}))
	waitFor(t, 45*time.Second, "every message handed", func() bool { return c.handledOnce(per) })
	cuts["r0"].mu.Lock()
	cuts["r0"].cut = true
	cuts["r0"].mu.Unlock()
	r0 := c.members["r0"].r
	waitFor(t, 45*time.Second, "r0 stopped its mailboxes", func() bool { return r0.Status().Held == 0 })
	if r0.Status().Err == nil {
		t.Fatal("r0's status shows no error while cut off")
	}
	c.mu.Lock()
	delete(c.members, "r0") // still running, holding nothing
	c.mu.Unlock()
	waitFor(t, 45*time.Second, "r0's mailboxes taken over", c.spread(map[string][2]int{"r1": {6, 6}, "r2": {6, 6}}))
	c.appendMail(per, per+1)
	waitFor(t, 45*time.Second, "new mail read", func() bool { return c.handledOnce(per + 1) })
	c.noOverlaps()
}

// TestFenceAndRuns: a replica's Fence and Runs answer only for the
// mailboxes it holds.
func TestFenceAndRuns(t *testing.T) {
	c := newCluster(t, 2, 0, time.Minute)
	m := c.start("solo", 0)
	waitFor(t, 45*time.Second, "both mailboxes held", c.spread(map[string][2]int{"solo": {2, 2}}))
	tok, err := m.r.Fence(context.Background(), "in000")
	if err != nil || tok <= 0 || !m.r.Runs("in000") {
		t.Fatalf("held mailbox: token %d, err %v", tok, err)
	}
	if _, err := m.r.Fence(context.Background(), "nope"); !errors.Is(err, store.ErrFenced) || !errors.Is(err, replica.ErrNotHeld) || m.r.Runs("nope") {
		t.Fatalf("unknown mailbox: %v", err)
	}
	if st := m.r.Status(); st.Members != 1 || st.Share != 2 || st.ID != "solo" || st.LastRound.IsZero() {
		t.Fatalf("status %+v", st)
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	if _, err := replica.New(replica.Options{}); !errors.Is(err, replica.ErrConfig) {
		t.Fatalf("no backend: %v", err)
	}
	if _, err := replica.New(replica.Options{Backend: &cutBackend{}, Catalog: memory.NewCatalog(), TTL: time.Millisecond}); !errors.Is(err, replica.ErrConfig) {
		t.Fatalf("short TTL: %v", err)
	}
}
