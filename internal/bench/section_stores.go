package main

import (
	"fmt"
	"strings"
)

// The engines with each store, against raw go-imap + go-message and raw
// go-mail, the mail servers in a child process.

var storeKinds = []struct{ key, name string }{{"memory", "`store/memory`"}, {"sqlite", "`store/sqlite`"}, {"postgres", "`store/postgres`"}}

// storeTable renders a benchmark reporting raw-msgs/s and <store>-msgs/s,
// <store>-ratio, one column per -count run.
func storeTable(rs Results, name, rawLabel, what string) string {
	runs := rs.All(name)
	if len(runs) == 0 {
		return "No result (see the failure above)."
	}
	t := &Table{Header: []string{what}, Right: []bool{false}}
	for i := range runs {
		t.Header = append(t.Header, fmt.Sprintf("run %d msgs/s", i+1), "ratio")
		t.Right = append(t.Right, true, true)
	}
	row := []string{rawLabel}
	for _, r := range runs {
		row = append(row, Num(r.Values["raw-msgs/s"]), "1.00x")
	}
	t.Add(row...)
	for _, k := range storeKinds {
		// key: the serial case; key-par: several goroutines enqueueing
		// (BenchmarkSendStores), when the benchmark reports it.
		for _, v := range []struct{ key, label string }{{k.key, ""}, {k.key + "-par", ", 4 enqueuers"}} {
			row := []string{"correio, " + k.name + v.label}
			found := false
			for _, r := range runs {
				x, ok := r.Values[v.key+"-msgs/s"]
				found = found || ok
				row = append(row, numOr(x, ok), ratioOr(r.Values[v.key+"-ratio"], ok))
			}
			if found {
				t.Add(row...)
			}
		}
	}
	var meds []string
	for _, k := range storeKinds {
		if vs := rs.Values(name, k.key+"-ratio"); len(vs) > 0 {
			meds = append(meds, fmt.Sprintf("%s %s", k.name, Ratio(Median(vs))))
		}
	}
	out := t.String() + "\nMedian ratio to raw over the runs: " + strings.Join(meds, ", ") + "."
	// CPU time of the benchmark process per message, when the benchmark
	// reports it (less moved by a busy machine than the rates).
	if vs := rs.Values(name, "raw-cpu-µs/msg"); len(vs) > 0 {
		cpus := []string{fmt.Sprintf("raw %.0f µs", Median(vs))}
		for _, k := range storeKinds {
			if vs := rs.Values(name, k.key+"-cpu-µs/msg"); len(vs) > 0 {
				cpus = append(cpus, fmt.Sprintf("%s %.0f µs", k.name, Median(vs)))
			}
		}
		out += "\nMedian CPU time of the benchmark process per message: " + strings.Join(cpus, ", ") + "."
	}
	return out
}

func numOr(v float64, ok bool) string {
	if !ok {
		return "–"
	}
	return Num(v)
}

func ratioOr(v float64, ok bool) string {
	if !ok {
		return "–"
	}
	return Ratio(v)
}

func init() {
	register(Section{
		Order: 10, Key: "ingest-stores", Title: "Ingest with each store: Poller vs raw go-imap + go-message",
		Method: `
2,000 messages of about 5.6 KB (multipart/mixed, iso-8859-1 quoted-printable text, a base64
attachment) in one mailbox of an in-process IMAP server (` + "`mailtest`" + `, go-imap v2) that runs in a
child process, on 127.0.0.1 without TLS. Per iteration, interleaved: **raw** go-imap ` + "`imapclient`" + `
(LOGIN, SELECT, one bulk ` + "`UID FETCH 1:* (UID BODY.PEEK[])`" + ` streamed into go-message, every part
decoded and read), then ` + "`inbound.Poller`" + ` (default options, post-action keep, the full pipeline:
spool, SHA-256, parse, classify, thread lookup, hand-off to a no-op handler, the key + checkpoint
commit) over a fresh store of each kind: memory; SQLite (a new file, WAL, ` + "`synchronous=NORMAL`" + `);
Postgres (a new database on a private PostgreSQL started for the run with its durable defaults:
` + "`fsync`, `synchronous_commit` and `full_page_writes` on" + `). The time runs from ` + "`Run`" + ` to the 2,000th
hand-off. Commits are grouped per fetch batch (` + "`inbound.Options.CommitBatch`" + `, README "Guarantees").
Each variant's CPU time per message is that of the benchmark process alone (getrusage; the server's
child process is not counted).`,
		Runs: []Run{{Pkg: "./inbound", Bench: "^BenchmarkIngestStores$", Benchtime: "3x", Count: 2, QuickBenchtime: "1x", QuickEnv: []string{"CORREIO_BENCH_MESSAGES=300"}}},
		Render: func(rs Results) string {
			return storeTable(rs, "BenchmarkIngestStores", "raw go-imap + go-message", "variant")
		},
	})
	register(Section{
		Order: 20, Key: "send-stores", Title: "Send with each outbox: Sender vs raw go-mail on reused connections",
		Method: `
2,000 messages of about 5 KB per iteration to an in-process SMTP server (` + "`mailtest`" + `, go-smtp) in a
child process, plaintext on 127.0.0.1. Interleaved: **raw** go-mail, 4 goroutines each with one
reused connection (` + "`DialWithContext`" + ` once, then ` + "`Send`" + `); ` + "`outbound.Sender`" + ` (one mailbox,
` + "`MaxConnections` 4, `MaxConcurrency` 4" + `) with a fresh outbox of each kind (memory, SQLite file,
Postgres database on the durable PostgreSQL as above), from the first ` + "`Enqueue`" + ` (each durable when
it returns, one at a time from one goroutine) to the 2,000th delivered event.`,
		Runs: []Run{{Pkg: "./outbound", Bench: "^BenchmarkSendStores$", Benchtime: "3x", Count: 1, QuickBenchtime: "1x", QuickEnv: []string{"CORREIO_BENCH_MESSAGES=200"}}},
		Render: func(rs Results) string {
			return storeTable(rs, "BenchmarkSendStores", "raw go-mail, 4 reused connections", "variant")
		},
	})
}
