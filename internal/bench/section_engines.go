package main

import "fmt"

func init() {
	register(Section{
		Order: 30, Key: "ingest-pipeline", Title: "Ingest pipeline: keep, mark seen, without Classify (memory store)",
		Method: `
` + "`BenchmarkIngest`" + `: the same 2,000 messages from an in-process server (in the benchmark's process),
the Poller with the memory store: post-action keep or mark ` + "`\\Seen`" + `, with the full pipeline and
with ` + "`message.Classify`" + ` replaced by a constant (the engine's own cost). Ratios to raw go-imap +
go-message in the same iteration.`,
		Runs: []Run{{Pkg: "./inbound", Bench: "^BenchmarkIngest$", Benchtime: "3x", QuickBenchtime: "1x"}},
		Render: func(rs Results) string {
			runs := rs.All("BenchmarkIngest")
			t := &Table{Header: []string{"variant", "msgs/s", "ratio to raw"}, Right: []bool{false, true, true}}
			for _, r := range runs {
				t.Add("raw go-imap + go-message", Num(r.Values["raw-msgs/s"]), "1.00x")
				for _, v := range []struct{ k, n string }{{"keep", "poller, keep"}, {"seen", "poller, mark seen"}, {"keep-noclassify", "poller, keep, without Classify"}, {"seen-noclassify", "poller, mark seen, without Classify"}} {
					t.Add(v.n, Num(r.Values[v.k+"-msgs/s"]), Ratio(r.Values[v.k+"-ratio"]))
				}
			}
			return t.String()
		},
	})
	register(Section{
		Order: 40, Key: "send-tls", Title: "Send: Sender vs go-mail, STARTTLS and plaintext (memory outbox)",
		Method: `
` + "`BenchmarkOutbound`" + `: 2,000 messages of about 5 KB per iteration to an in-process go-smtp server (in
the benchmark's process): the Sender (memory outbox, 4 connections), go-mail (a) with a new
connection per message and (b) 4 reused connections, 4 goroutines each, the three rotating order
within each iteration; over STARTTLS (TLS 1.3, the default security) and plaintext.`,
		Runs: []Run{{Pkg: "./outbound", Bench: "^BenchmarkOutbound$", Benchtime: "2x", QuickSkip: true}},
		Render: func(rs Results) string {
			t := &Table{Header: []string{"security", "sender msgs/s", "(a) new conn msgs/s", "(b) 4 reused msgs/s", "sender ÷ (b)", "sender ÷ (a)"}, Right: []bool{false, true, true, true, true, true}}
			for _, sub := range []string{"starttls", "plain"} {
				for _, r := range rs.All("BenchmarkOutbound/" + sub) {
					t.Add(sub, Num(r.Values["sender-msgs/s"]), Num(r.Values["gomail-newconn-msgs/s"]), Num(r.Values["gomail-reused-msgs/s"]), Ratio(r.Values["x-of-reused"]), Ratio(r.Values["x-of-newconn"]))
				}
			}
			return t.String()
		},
	})
	register(Section{
		Order: 50, Key: "storage", Title: "Storage: outbox cycle, checkpoint commit, Sender throughput per store",
		Method: `
` + "`store/storetest`" + ` benchmarks over each store: memory, SQLite (WAL, ` + "`synchronous=NORMAL`" + `) and
Postgres on the ` + "`internal/pgtest`" + ` server (**fsync and synchronous commit off**, so Postgres figures here
are round trips and CPU, not disk flushes; the sections above use a durable PostgreSQL).
OutboxCycle: 20 records Put, claimed as one batch and completed, per iteration. CheckpointCommit:
one inbound Commit (fence check, key, checkpoint). SenderThroughput: the Sender sending 500 messages
to an in-process SMTP server with that outbox.`,
		Runs: []Run{{Pkg: "./store/storetest", Bench: "OutboxCycle|CheckpointCommit|SenderThroughput", Benchtime: "2s", QuickBenchtime: "2x"}},
		Render: func(rs Results) string {
			t := &Table{Header: []string{"store", "OutboxCycle msgs/s", "CheckpointCommit µs", "SenderThroughput msgs/s"}, Right: []bool{false, true, true, true}}
			for _, st := range []string{"Memory", "SQLite", "Postgres"} {
				cc := rs.Values("BenchmarkCheckpointCommit/"+st, "ns/op")
				for i := range cc {
					cc[i] /= 1000
				}
				t.Add(st, Cells(rs.Values("BenchmarkOutboxCycle/"+st, "msgs/s"), Num), Cells(cc, Num), Cells(rs.Values("BenchmarkSenderThroughput/"+st, "msgs/s"), Num))
			}
			return t.String()
		},
	})
	register(Section{
		Order: 60, Key: "resolver", Title: "Resolver",
		Method: `
` + "`BenchmarkResolve`" + ` (` + "`routing`" + `): the Contract choice over a ` + "`store/memory`" + ` catalog of 100,000
contracts visited in a scattered order (cold caches). ` + "`BenchmarkResolveCached`" + ` (` + "`store/storetest`" + `): the
same decision over each store's cached catalog snapshot. There is no raw library to compare with;
the goal is under 1 µs and no allocation per decision.`,
		Runs: []Run{
			{Pkg: "./routing", Bench: "^BenchmarkResolve$", Count: 3, Benchmem: true, QuickBenchtime: "10000x"},
			{Pkg: "./store/storetest", Bench: "^BenchmarkResolveCached$", Benchmem: true, QuickBenchtime: "10000x"},
		},
		Render: func(rs Results) string {
			t := &Table{Header: []string{"benchmark", "ns/op", "allocs/op"}, Right: []bool{false, true, true}}
			t.Add("Resolve, memory catalog of 100,000 contracts", Cells(rs.Values("BenchmarkResolve", "ns/op"), Num), Cells(rs.Values("BenchmarkResolve", "allocs/op"), Num))
			for _, st := range []string{"Memory", "SQLite", "Postgres"} {
				n := "BenchmarkResolveCached/" + st
				t.Add("ResolveCached, "+st, Cells(rs.Values(n, "ns/op"), Num), Cells(rs.Values(n, "allocs/op"), Num))
			}
			return t.String()
		},
	})
	register(Section{
		Order: 65, Key: "message", Title: "Parsing and classification",
		Method: `
` + "`message`" + ` benchmarks on the ingest sample (5.6 KB): ` + "`message.Parse`" + ` against go-message reading every part,
and ` + "`message.Classify`" + `.`,
		Runs: []Run{{Pkg: "./message", Bench: "^Benchmark(Parse|ParseGoMessage|Classify)$", Benchmem: true, QuickBenchtime: "200x"}},
		Render: func(rs Results) string {
			t := &Table{Header: []string{"benchmark", "ns/op", "B/op", "allocs/op"}, Right: []bool{false, true, true, true}}
			for _, n := range []string{"Parse", "ParseGoMessage", "Classify"} {
				b := "Benchmark" + n
				t.Add(n, Cells(rs.Values(b, "ns/op"), Num), Cells(rs.Values(b, "B/op"), Num), Cells(rs.Values(b, "allocs/op"), Num))
			}
			return t.String()
		},
	})
	register(Section{
		Order: 70, Key: "large", Title: "A 50 MB message",
		Method: `
` + "`BenchmarkLargeMessage`" + `: one 50 MB message (base64 attachment) served by a child process, ingested with the
default 1 MiB memory spool threshold (the message spools to a file), parsed, and every part streamed
through ` + "`Part.Open`" + ` by the handler. Reported: the peak ` + "`HeapInuse`" + ` growth of the poller's process, sampled
every millisecond (goal under 8 MB).`,
		Runs: []Run{{Pkg: "./inbound", Bench: "^BenchmarkLargeMessage$", Benchtime: "1x", Count: 3}},
		Render: func(rs Results) string {
			t := &Table{Header: []string{"run", "peak heap growth MB", "seconds"}, Right: []bool{false, true, true}}
			for i, r := range rs.All("BenchmarkLargeMessage") {
				t.Add(fmt.Sprint(i+1), Num(r.Values["heap-growth-MB"]), Num(r.Values["ns/op"]/1e9))
			}
			return t.String()
		},
	})
}
