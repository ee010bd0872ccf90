package crashtest

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/correio-dev/correio/inbound"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/mailtest"
	"github.com/correio-dev/correio/store/memory"
	"github.com/correio-dev/correio/transport"
	"github.com/correio-dev/correio/transport/gmail"
)

// Environment of a Gmail child.
const (
	envGmailURL = "CORREIO_CRASH_GMAIL_URL" // the Gmail test server's base URL
	envGmailCA  = "CORREIO_CRASH_GMAIL_CA"  // its certificate (PEM file)
	envFinal    = "CORREIO_CRASH_FINAL"     // final round: exit once done
)

const gmailUser = "desk@crash.example"

type gmailToken string

// gmailBatch is the Gmail child's fetch batch.
const gmailBatch = 25

func (g gmailToken) Token(context.Context) (mailbox.Secret, error) {
	return mailbox.NewSecret(string(g)), nil
}

// TestCrashGmail: a poller child reads a Gmail mailbox (the in-process
// Gmail API server lives in the parent) through users.history.list and
// the label post-actions, and is killed with SIGKILL at random moments:
// during the first full listing, during history sync, during the
// move (label change) or seen post-actions. Messages arrive round by
// round and the history expires once in the middle (a full resync). Every
// message must reach the host; one may reach it twice only with the same
// key, at most once per kill; nothing else twice; and after the final
// round no handled message is still owed its post-action.
func TestCrashGmail(t *testing.T) {
	rounds, n := params()
	for _, k := range kinds() {
		t.Run(k.name, func(t *testing.T) {
			env, handled := k.setup(t)
			srv := mailtest.NewGmailServer()
			defer srv.Close()
			srv.AddUser(gmailUser)
			srv.AddToken("tok-crash", gmailUser)
			// Slow label changes and history pages: the kills land in the
			// post-actions and the history sync more often.
			srv.SetDelay("/modify", 3*time.Millisecond)
			srv.SetDelay("/history", 5*time.Millisecond)
			ca := filepath.Join(t.TempDir(), "ca.pem")
			writeCA(t, ca, srv.Certificate())
			env = append(env, envChild+"=gmail", envGmailURL+"="+srv.URL, envGmailCA+"="+ca, envPost+"="+k.post)
			// A kill repeats at most one group commit's hand-offs: the
			// child's BatchSize (25) under the default CommitBatch.
			window := rounds * min(gmailBatch, inbound.DefaultCommitBatch)
			if k.inTx {
				env = append(env, envInTx+"=1")
				window = 0
			}
			rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 3))
			per := (n + rounds - 1) / rounds
			delivered := 0
			for round := range rounds {
				for ; delivered < min(n, (round+1)*per); delivered++ {
					if _, err := srv.Deliver(gmailUser, crashMessage(gmailUser, "g", delivered)); err != nil {
						t.Fatal(err)
					}
				}
				if round == rounds/2 {
					srv.ExpireHistory(gmailUser) // the stored historyId is too old now
				}
				killRound(t, rng, 800*time.Millisecond, env...)
				t.Logf("round %d: %d delivered, %d handed", round, delivered, len(handled()))
			}
			before := len(handled())
			finalRound(t, append(env, envFinal+"=1")...)
			r := result{Name: "gmail ingest " + k.name, Rounds: rounds, Kills: rounds, Messages: n, Window: window, BeforeFinal: before, Post: k.post}
			countKeys(&r, handled(), "g", n)
			inbox, unread := srv.Count(gmailUser, "INBOX")
			switch k.post {
			case "move":
				r.PostNotApplied = inbox
				if moved, _ := srv.Count(gmailUser, doneFolder); moved != n-inbox {
					t.Errorf("%d messages labelled %s, want %d", moved, doneFolder, n-inbox)
				}
			case "seen":
				r.PostNotApplied = unread
			}
			report(t, r)
		})
	}
}

// ingestGmail is the Gmail child: the poller over the parent's Gmail
// server, until killed, or in the final round until every message is
// handled and its post-action applied (or a settle time passed).
func ingestGmail(ctx context.Context, st *stores) error {
	pool, err := readCA(os.Getenv(envGmailCA))
	if err != nil {
		return err
	}
	var h inbound.Handler = inbound.HandlerFunc(func(ctx context.Context, d *inbound.Delivery) error {
		return st.record(ctx, d.Key, d.Message.MessageID)
	})
	if os.Getenv(envInTx) != "" {
		h = st.inTx
	}
	m := &mailbox.Mailbox{ID: "in", Description: "crash", Kind: mailbox.Inbound, Enabled: true, Address: gmailUser,
		Inbound: &mailbox.InboundSettings{Transport: mailbox.TransportGmail, PostAction: mailbox.PostKeep,
			Credentials: mailbox.Credentials{OAuth2: gmailToken("tok-crash")}, PollInterval: 20 * time.Millisecond}}
	switch os.Getenv(envPost) {
	case "move":
		m.Inbound.PostAction, m.Inbound.MoveTo = mailbox.PostMove, doneFolder
	case "seen":
		m.Inbound.PostAction = mailbox.PostSeen
	}
	cat := memory.NewCatalog()
	if err := cat.PutMailbox(ctx, m); err != nil {
		return err
	}
	cfg := &gmail.Config{BaseURL: os.Getenv(envGmailURL), RootCAs: pool, Timeout: 10 * time.Second, CreateLabels: true,
		PageSize: 20, Logger: slog.New(slog.DiscardHandler)}
	p, err := inbound.New(inbound.Options{Store: st.in, Catalog: cat, Handler: h, BatchSize: gmailBatch,
		Source: transport.Sources{mailbox.TransportGmail: gmail.NewSource(cfg)}})
	if err != nil {
		return err
	}
	pctx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- p.Run(pctx) }()
	fmt.Println("ready")
	if os.Getenv(envFinal) == "" {
		return <-done // a kill round: run until killed
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}, Timeout: 10 * time.Second}
	start := time.Now()
	for {
		select {
		case err := <-done:
			return fmt.Errorf("poller stopped: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
		left, err := owed(ctx, hc, os.Getenv(envPost))
		if err != nil {
			return err
		}
		rs, err := st.in.Receipts(ctx, "in", "INBOX")
		if err != nil {
			return err
		}
		if (left == 0 && len(rs) == 0) || time.Since(start) > 60*time.Second {
			stop()
			return <-done
		}
	}
}

// owed counts the messages still waiting in INBOX for their post-action
// (move: in INBOX at all; seen: unread there).
func owed(ctx context.Context, hc *http.Client, post string) (int, error) {
	u := os.Getenv(envGmailURL) + "/gmail/v1/users/" + gmailUser + "/messages?labelIds=INBOX&maxResults=500"
	if post == "seen" {
		u += "&q=is:unread"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer tok-crash")
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var list struct {
		Messages []json.RawMessage `json:"messages"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		return 0, err
	}
	return len(list.Messages), nil
}
