package main

import "fmt"

// Many mailboxes: idle costs, new-mail latency, rotation beyond the
// budget, hand-off fairness, per-mailbox costs.

func init() {
	register(Section{
		Order: 80, Key: "mailboxes-1k", Title: "1,000 mailboxes in IDLE",
		Method: `
` + "`BenchmarkIdleMailboxes`" + `: 1,000 mailboxes of one in-process IMAP server running in a child process (only the
poller's side is counted), ` + "`MaxConnectionsPerHost` 1,000" + `, all in IMAP IDLE. Start-up: from ` + "`Run`" + ` until all
1,000 report ` + "`waiting`" + ` in push mode; then goroutines and heap per mailbox, and the CPU of an idle minute
(5 s sampled, ×12). New-mail latency (` + "`BenchmarkAppendToHandoff`" + `): one mailbox in IDLE, APPEND on the
server until the handler is called, 300 times.`,
		Runs: []Run{
			{Pkg: "./inbound", Bench: "^BenchmarkIdleMailboxes$", Benchtime: "1x", Count: 2, QuickSkip: true},
			{Pkg: "./inbound", Bench: "^BenchmarkAppendToHandoff$", Benchtime: "300x", QuickBenchtime: "30x"},
		},
		Render: func(rs Results) string {
			t := &Table{Header: []string{"metric", "value (one per run)"}, Right: []bool{false, true}}
			n := "BenchmarkIdleMailboxes"
			t.Add("start-up, s (all 1,000 waiting in IDLE)", Cells(rs.Values(n, "startup-s"), Num))
			t.Add("goroutines per mailbox", Cells(rs.Values(n, "goroutines/mailbox"), Num))
			t.Add("heap per mailbox, KB", Cells(rs.Values(n, "heapKB/mailbox"), Num))
			t.Add("CPU of an idle minute, ms", Cells(rs.Values(n, "cpu-ms/min"), Num))
			a := "BenchmarkAppendToHandoff"
			t.Add("new-mail latency p50, ms", Cells(rs.Values(a, "p50-ms"), Num))
			t.Add("new-mail latency p99, ms", Cells(rs.Values(a, "p99-ms"), Num))
			t.Add("new-mail latency max, ms", Cells(rs.Values(a, "worst-ms"), Num))
			return t.String() + "\nThe 10,000-mailbox figures (push mode with a budget of 10,000, rotation over a budget of 1,000) are their own sections."
		},
	})
	register(Section{
		Order: 90, Key: "rotation", Title: "Rotation beyond the connection budget",
		Method: `
` + "`BenchmarkRotation`" + `: n mailboxes on one server host (a child process), **default options** (so
` + "`MaxConnectionsPerHost` 100" + `), one 5.6 KB message waiting in each, ` + "`PollInterval`" + ` 5 s. First rotation: from
` + "`Run`" + ` until every message was handed off. Then a 20 s window: the gaps between consecutive checks of each
rotating mailbox, mailboxes never checked in it, mailboxes over budget at its end, ` + "`HealthAll`" + ` called every
100 ms.`,
		Runs: []Run{{Pkg: "./inbound", Bench: "^BenchmarkRotation$", Benchtime: "1x", QuickSkip: true}},
		Render: func(rs Results) string {
			t := &Table{Header: []string{"mailboxes", "first rotation s", "check gap p50 / p99 / max s", "never checked", "over budget", "HealthAll p50 / max ms", "heap per mailbox KB"},
				Right: []bool{true, true, true, true, true, true, true}}
			for _, m := range []string{"150", "1000", "10000"} {
				for _, r := range rs.All("BenchmarkRotation/mailboxes=" + m) {
					v := r.Values
					t.Add(Num(float64(atoi(m))), Num(v["first-rotation-s"]),
						fmt.Sprintf("%s / %s / %s", Num(v["check-gap-p50-s"]), Num(v["check-gap-p99-s"]), Num(v["check-gap-max-s"])),
						Num(v["never-checked"]), Num(v["over-budget"]),
						fmt.Sprintf("%s / %s", Num(v["healthall-p50-ms"]), Num(v["healthall-max-ms"])), Num(v["heapKB/mailbox"]))
				}
			}
			return t.String()
		},
	})
	register(Section{
		Order: 95, Key: "fairness", Title: "Hand-off fairness under backlogs",
		Method: `
` + "`BenchmarkHandoffFairness`" + `: 32 mailboxes with a backlog of 400 small messages each, a handler taking 5 ms
per message, defaults ` + "`MaxHandoffs` 32 and `BatchSize` 50" + `; a 33rd mailbox in IDLE gets a new message three
times during the backlogs. Reported: its slowest APPEND-to-hand-off (goal: one batch, 50 × 5 ms =
250 ms) and the backlog messages still left at the end.`,
		Runs: []Run{{Pkg: "./inbound", Bench: "^BenchmarkHandoffFairness$", Benchtime: "1x", Count: 2, QuickSkip: true}},
		Render: func(rs Results) string {
			t := &Table{Header: []string{"run", "quiet mailbox, slowest hand-off ms", "backlog left"}, Right: []bool{false, true, true}}
			for i, r := range rs.All("BenchmarkHandoffFairness") {
				t.Add(fmt.Sprint(i+1), Num(r.Values["quiet-worst-ms"]), Num(r.Values["backlog-left"]))
			}
			return t.String()
		},
	})
	register(Section{
		Order: 97, Key: "per-mailbox", Title: "Per-mailbox costs",
		Method: `
` + "`BenchmarkFlood`" + ` (loop guard per message, 20,000 senders in the window), ` + "`BenchmarkFloodSweep`" + ` (the old sweeping
code, kept in the test for comparison) and ` + "`BenchmarkOwnFrom`" + ` (own-address check at 10,000 mailboxes).`,
		Runs: []Run{{Pkg: "./inbound", Bench: "^Benchmark(Flood|FloodSweep|OwnFrom)$", Benchmem: true, QuickBenchtime: "100x"}},
		Render: func(rs Results) string {
			t := &Table{Header: []string{"benchmark", "ns/op", "allocs/op"}, Right: []bool{false, true, true}}
			for _, n := range []string{"Flood", "FloodSweep", "OwnFrom"} {
				t.Add(n, Cells(rs.Values("Benchmark"+n, "ns/op"), Num), Cells(rs.Values("Benchmark"+n, "allocs/op"), Num))
			}
			return t.String()
		},
	})
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}
