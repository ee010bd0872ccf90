package main

import "fmt"

// 10,000 mailboxes (inbound/scale_bench_test.go, from the wt-scale branch
// of issue 12): push mode with the budget at 10,000, and rotation over a
// budget of 1,000.

func init() {
	register(Section{
		Order: 85, Key: "mailboxes-10k", Title: "10,000 mailboxes: push mode, and rotation over a budget of 1,000",
		Method: `
` + "`BenchmarkPush`" + `: 10,000 mailboxes of one server host in a child process, all in IMAP IDLE, the budget set to
10,000 (` + "`MaxConnections`, `MaxConnectionsPerHost`" + `): start-up until every mailbox waits in push mode, goroutines,
heap and stack per mailbox, CPU over an idle window of 260 s scaled to a minute (the window holds the two
collections the Go runtime forces every 2 minutes: their count, the collector's share of the window's CPU,
one full collection's CPU and the sessions started in the window, which must be none), and new-mail latency over
sequential APPENDs to different mailboxes. ` + "`BenchmarkRotationBudget`" + `: 10,000 mailboxes over a budget of 1,000
connections, default ` + "`PollInterval`" + ` (1 min), one message waiting in each: the first rotation, then over a
window of 2.5 intervals the gaps between a rotating mailbox's checks, mailboxes never checked, checks
per second. Issue 12's targets: at most 40 KiB heap per mailbox, all waiting within 5 s, at most
0.05 s CPU per idle minute, new-mail p99 under 50 ms; every mailbox checked within 60 s (p99).`,
		Runs: []Run{
			{Pkg: "./inbound", Bench: "^BenchmarkPush$", Benchtime: "1x", QuickBenchtime: "1x", QuickEnv: []string{"CORREIO_BENCH_MAILBOXES=300", "CORREIO_BENCH_IDLE=2s"}},
			{Pkg: "./inbound", Bench: "^BenchmarkRotationBudget$", Benchtime: "1x", QuickSkip: true},
		},
		Render: func(rs Results) string {
			t := &Table{Header: []string{"push mode", "value"}, Right: []bool{false, true}}
			p := "BenchmarkPush"
			for _, m := range []struct{ unit, what string }{
				{"startup-s", "start-up, s (all waiting in push mode)"},
				{"goroutines/mailbox", "goroutines per mailbox"},
				{"heapKiB/mailbox", "heap per mailbox, KiB"},
				{"stackKiB/mailbox", "stack per mailbox, KiB"},
				{"cpu-s/idle-min", "CPU per idle minute, s"},
				{"idle-gc-cycles", "collections in the idle window"},
				{"idle-gc-cpu-share", "collector's share of the idle CPU"},
				{"gc-cpu-s", "CPU of one full collection of the idle heap, s"},
				{"idle-reconnects", "sessions started in the idle window"},
				{"newmail-p50-ms", "new-mail latency p50, ms"},
				{"newmail-p99-ms", "new-mail latency p99, ms"},
				{"newmail-max-ms", "new-mail latency max, ms"},
				{"healthall-idle-p50-ms", "HealthAll while idle, p50 ms"},
			} {
				t.Add(m.what, Cells(rs.Values(p, m.unit), Num))
			}
			out := t.String()
			if runs := rs.All("BenchmarkRotationBudget"); len(runs) > 0 {
				r := &Table{Header: []string{"rotation over the budget", "first rotation s", "check gap p50 / p99 / max s", "never checked", "went over budget", "checks/s", "HealthAll p50 / p99 ms"},
					Right: []bool{false, true, true, true, true, true, true}}
				for i, x := range runs {
					v := x.Values
					r.Add(fmt.Sprintf("run %d (%s rotating)", i+1, Num(v["rotating"])), Num(v["first-rotation-s"]),
						fmt.Sprintf("%s / %s / %s", Num(v["check-gap-p50-s"]), Num(v["check-gap-p99-s"]), Num(v["check-gap-max-s"])),
						Num(v["never-checked"]), Num(v["went-over-budget"]), Num(v["checks/s"]),
						fmt.Sprintf("%s / %s", Num(v["healthall-p50-ms"]), Num(v["healthall-p99-ms"])))
				}
				out += "\n" + r.String()
			}
			return out
		},
	})
}
