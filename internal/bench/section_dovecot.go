package main

import "fmt"

// The real servers of the integration tier (internal/mailstack).

func init() {
	register(Section{
		Order: 100, Key: "dovecot", Title: "Real servers: Dovecot and Postfix", Dovecot: true,
		Method: `
The integration tier's servers (` + "`internal/mailstack`" + `): Dovecot and Postfix on 127.0.0.1 with the test
CA, IMAP over implicit TLS, submission with STARTTLS + AUTH PLAIN (Postfix delivers to Dovecot over
LMTP on the same cores). **Ingest**: 2,000 messages of 5.6 KB, raw go-imap + go-message against the
Poller (memory store) with post-action keep and mark seen, then with each store (memory, SQLite,
durable Postgres) with keep. **Send**: 1,000 messages of 5 KB, go-mail
(a) a new connection per message and (b) 4 reused connections against the Sender (memory outbox, 4
connections), then the Sender with each outbox against (b). **One faulty server among 50**: 50 inbound mailboxes on Dovecot and 50 outbound on
Postfix, mailbox 0 of each behind a proxy that passes or blackholes; the healthy 49's throughput
with the fault against without (goal ≥ 0.95).`,
		Runs: []Run{
			{Pkg: "./integration", Bench: "^Benchmark(IngestDovecot|SendPostfix)$", Benchtime: "2x", QuickBenchtime: "1x"},
			{Pkg: "./integration", Bench: "^Benchmark(IngestDovecotStores|SendPostfixStores)$", Benchtime: "1x", QuickBenchtime: "1x"},
			{Pkg: "./integration", Bench: "^BenchmarkFaultyAmong50$", Benchtime: "2x", QuickSkip: true},
		},
		Render: func(rs Results) string {
			t := &Table{Header: []string{"variant", "msgs/s", "ratio"}, Right: []bool{false, true, true}}
			for _, r := range rs.All("BenchmarkIngestDovecot") {
				v := r.Values
				t.Add("ingest: raw go-imap + go-message (IMAPS)", Num(v["raw-msgs/s"]), "1.00x")
				t.Add("ingest: poller, keep", Num(v["keep-msgs/s"]), Ratio(v["keep-ratio"]))
				t.Add("ingest: poller, mark seen", Num(v["seen-msgs/s"]), Ratio(v["seen-ratio"]))
			}
			for _, r := range rs.All("BenchmarkSendPostfix") {
				v := r.Values
				t.Add("send: (a) go-mail, new connection per message", Num(v["raw-newconn-msgs/s"]), "–")
				t.Add("send: (b) go-mail, 4 reused connections", Num(v["raw-4conns-msgs/s"]), "1.00x")
				t.Add("send: sender (ratio to (b); to (a): "+Ratio(v["ratio-vs-newconn"])+")", Num(v["sender-msgs/s"]), Ratio(v["ratio-vs-4conns"]))
			}
			out := t.String()
			if len(rs.All("BenchmarkIngestDovecotStores")) > 0 {
				out += "\nWith each store (the Poller with post-action keep; the Sender with 4 connections; Postgres durable as above):\n\n" +
					storeTable(rs, "BenchmarkIngestDovecotStores", "ingest: raw go-imap + go-message (IMAPS)", "ingest from Dovecot") + "\n\n" +
					storeTable(rs, "BenchmarkSendPostfixStores", "send: raw go-mail, 4 reused connections", "send to Postfix") + "\n"
			}
			if fs := rs.All("BenchmarkFaultyAmong50"); len(fs) > 0 {
				f := &Table{Header: []string{"run", "inbound healthy msgs/s, no fault → fault", "inbound ratio", "CPU µs/msg no fault / fault", "outbound healthy msgs/s, no fault → fault", "outbound ratio"}, Right: []bool{false, true, true, true, true, true}}
				for i, r := range fs {
					v := r.Values
					f.Add(fmt.Sprint(i+1), Num(v["in-nofault-msgs/s"])+" → "+Num(v["in-fault-msgs/s"]), Ratio(v["in-ratio"]),
						Num(v["in-nofault-cpu-us/msg"])+" / "+Num(v["in-fault-cpu-us/msg"]),
						Num(v["out-nofault-msgs/s"])+" → "+Num(v["out-fault-msgs/s"]), Ratio(v["out-ratio"]))
				}
				out += "\n" + f.String()
			}
			return out
		},
	})
}
