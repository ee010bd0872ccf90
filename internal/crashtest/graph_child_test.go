package crashtest

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/correio-dev/correio/inbound"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/store/memory"
	"github.com/correio-dev/correio/transport"
	"github.com/correio-dev/correio/transport/graph"
)

// Environment of a Graph ingest child (envChild "graph").
const (
	envGraphURL = "CORREIO_CRASH_GRAPH_URL" // the parent's Graph test server
	envGraphCA  = "CORREIO_CRASH_GRAPH_CA"  // PEM file of its certificate
	// envTarget (the number of messages) ends the final round.
)

const (
	graphUser  = "desk@crash.example"
	graphToken = "tok-crash"
)

type staticToken string

// graphBatch is the Graph child's fetch batch: a kill repeats at most
// one group commit of it.
const graphBatch = 10

func (g staticToken) Token(context.Context) (mailbox.Secret, error) {
	return mailbox.NewSecret(string(g)), nil
}

func graphMailbox() *mailbox.Mailbox {
	return &mailbox.Mailbox{ID: "in", Description: "crash", Kind: mailbox.Inbound, Enabled: true, Address: graphUser,
		Inbound: &mailbox.InboundSettings{Transport: mailbox.TransportGraph, PostAction: mailbox.PostMove, MoveTo: doneFolder,
			PollInterval: 20 * time.Millisecond,
			Credentials:  mailbox.Credentials{Username: graphUser, OAuth2: staticToken(graphToken)}}}
}

// ingestGraph runs a poller over the parent's Graph server (delta pages of
// ten, so a sync spans many requests; post-action move). A final round
// (envTarget = the message count) exits once the host recorded every
// message and no post-action is owed.
func ingestGraph(ctx context.Context, st *stores) error {
	pool, err := readCA(os.Getenv(envGraphCA))
	if err != nil {
		return err
	}
	src := graph.NewSource(&graph.Config{BaseURL: os.Getenv(envGraphURL), RootCAs: pool, Timeout: 10 * time.Second, PageSize: 10,
		SpoolDir: os.TempDir()})
	m := graphMailbox()
	cat := memory.NewCatalog()
	if err := cat.PutMailbox(ctx, m); err != nil {
		return err
	}
	h := inbound.HandlerFunc(func(ctx context.Context, d *inbound.Delivery) error {
		return st.record(ctx, d.Key, d.Message.MessageID)
	})
	p, err := inbound.New(inbound.Options{Store: st.in, Catalog: cat, Handler: h, BatchSize: graphBatch,
		Source: transport.Sources{mailbox.TransportGraph: src}})
	if err != nil {
		return err
	}
	target, _ := strconv.Atoi(os.Getenv(envTarget))
	host, err := openHostSQLite(os.Getenv(envHostDB))
	if err != nil {
		return err
	}
	defer host.Close()
	pctx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- p.Run(pctx) }()
	fmt.Println("ready")
	const settle = 10 * time.Second
	var all time.Time
	for {
		select {
		case err := <-done:
			return fmt.Errorf("poller stopped: %v", err)
		case <-time.After(5 * time.Millisecond):
		}
		if target == 0 {
			continue // a kill round: run until killed
		}
		var n int
		if err := host.QueryRowContext(ctx, "SELECT COUNT(DISTINCT message_id) FROM handled").Scan(&n); err != nil {
			return err
		}
		if n < target {
			continue
		}
		if all.IsZero() {
			all = time.Now()
		}
		rs, err := st.in.Receipts(ctx, "in", m.Inbound.FolderOrDefault())
		if err != nil {
			return err
		}
		if len(rs) == 0 || time.Since(all) > settle {
			stop()
			return <-done
		}
	}
}
