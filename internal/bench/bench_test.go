package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fixture is real `go test -bench` output (abridged), with
// b.ReportMetric units, a sub-benchmark and noise lines.
const fixture = `goos: linux
goarch: amd64
pkg: github.com/correio-dev/correio/inbound
cpu: AMD EPYC
BenchmarkIngestStores-2   	       3	3003252664 ns/op	      3734 memory-msgs/s	         0.6554 memory-ratio	      1734 postgres-msgs/s	         0.3044 postgres-ratio	      5697 raw-msgs/s	      2112 sqlite-msgs/s	         0.3706 sqlite-ratio
BenchmarkIngestStores-2   	       3	2803252664 ns/op	      3900 memory-msgs/s	         0.9100 memory-ratio	      2000 postgres-msgs/s	         0.4000 postgres-ratio	      4286 raw-msgs/s	      3500 sqlite-msgs/s	         0.8166 sqlite-ratio
--- BENCH: something logged
    bench_test.go:12: a log line 1 2
BenchmarkRotation/mailboxes=150-2         	       1	30012345678 ns/op	         0.29 first-rotation-s	   4.96 check-gap-p50-s	   5.65 check-gap-p99-s	  5.81 check-gap-max-s	 0 never-checked	 0 over-budget	 0 queued-past-bound	 0.05 healthall-p50-ms	 2.4 healthall-max-ms	 20.1 heapKB/mailbox
BenchmarkResolve-2	 1457613	       813.0 ns/op	       0 B/op	       0 allocs/op
PASS
ok  	github.com/correio-dev/correio/inbound	17.386s
`

func TestParse(t *testing.T) {
	rs := Results(Parse(strings.NewReader(fixture)))
	if len(rs) != 4 {
		t.Fatalf("%d results, want 4: %+v", len(rs), rs)
	}
	if rs[0].Name != "BenchmarkIngestStores" || rs[0].Iterations != 3 || rs[0].Values["sqlite-ratio"] != 0.3706 || rs[0].Values["ns/op"] != 3003252664 {
		t.Fatalf("first result %+v", rs[0])
	}
	if got := rs.Values("BenchmarkIngestStores", "raw-msgs/s"); len(got) != 2 || got[1] != 4286 {
		t.Fatalf("raw values %v", got)
	}
	r := rs.All("BenchmarkRotation/mailboxes=150")
	if len(r) != 1 || r[0].Values["check-gap-p99-s"] != 5.65 || r[0].Values["heapKB/mailbox"] != 20.1 {
		t.Fatalf("sub-benchmark %+v", r)
	}
	if _, ok := ParseLine("BenchmarkX-2 notanumber 1 ns/op"); ok {
		t.Fatal("a line with a bad iteration count parsed")
	}
	if _, ok := ParseLine("    bench_test.go:12: a log line 1 2"); ok {
		t.Fatal("a log line parsed")
	}
	if got := trimProcs("BenchmarkRotation/mailboxes=150-16"); got != "BenchmarkRotation/mailboxes=150" {
		t.Fatalf("trimProcs: %q", got)
	}
	if got := trimProcs("BenchmarkA/b-c"); got != "BenchmarkA/b-c" {
		t.Fatalf("trimProcs kept no digits: %q", got)
	}
}

func TestRenderStores(t *testing.T) {
	rs := Results(Parse(strings.NewReader(fixture)))
	out := storeTable(rs, "BenchmarkIngestStores", "raw go-imap + go-message", "variant")
	for _, want := range []string{
		"| variant | run 1 msgs/s | ratio | run 2 msgs/s | ratio |",
		"|---|---:|---:|---:|---:|",
		"| raw go-imap + go-message | 5,697 | 1.00x | 4,286 | 1.00x |",
		"| correio, `store/sqlite` | 2,112 | 0.37x | 3,500 | 0.82x |",
		"| correio, `store/postgres` | 1,734 | 0.30x | 2,000 | 0.40x |",
		"Median ratio to raw over the runs: `store/memory` 0.78x, `store/sqlite` 0.59x, `store/postgres` 0.35x.",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
	if out := storeTable(nil, "BenchmarkIngestStores", "raw", "v"); !strings.Contains(out, "No result") {
		t.Errorf("empty results: %q", out)
	}
}

func TestRenderSections(t *testing.T) {
	rs := Results(Parse(strings.NewReader(fixture)))
	byKey := map[string]Section{}
	for _, s := range sections {
		if byKey[s.Key].Key != "" {
			t.Fatalf("two sections with key %q", s.Key)
		}
		byKey[s.Key] = s
		if s.Title == "" || s.Render == nil || len(s.Runs) == 0 {
			t.Fatalf("section %q incomplete", s.Key)
		}
		_ = s.Render(nil) // renders without results, no panic
	}
	rot := byKey["rotation"].Render(rs)
	if !strings.Contains(rot, "| 150 | 0.290 | 4.96 / 5.65 / 5.81 | 0 | 0 | 0.050 / 2.40 | 20.1 |") {
		t.Errorf("rotation row missing:\n%s", rot)
	}
	res := byKey["resolver"].Render(rs)
	if !strings.Contains(res, "| Resolve, memory catalog of 100,000 contracts | 813 | 0 |") {
		t.Errorf("resolver row missing:\n%s", res)
	}
}

func TestNum(t *testing.T) {
	for v, want := range map[float64]string{12345.4: "12,345", 1234567: "1,234,567", 123.4: "123", 12.34: "12.3", 1.234: "1.23", 0.1234: "0.123", 0: "0", -4321: "-4,321"} {
		if got := Num(v); got != want {
			t.Errorf("Num(%v) = %q, want %q", v, got, want)
		}
	}
	if got := Median([]float64{3, 1, 2, 10}); got != 2.5 {
		t.Errorf("Median = %v", got)
	}
}

func TestKeptAppendix(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "B.md")
	if got, err := keptAppendix(p); err != nil || got != "" {
		t.Fatalf("missing file: %q %v", got, err)
	}
	// A hand-written file is kept whole, its sections one level down.
	os.WriteFile(p, []byte("# Benchmarks\n\n## Reply text\n\nfigures\n\n### Sub\n"), 0o644)
	got, err := keptAppendix(p)
	if err != nil || !strings.Contains(got, "### Reply text\n\nfigures") || !strings.Contains(got, "#### Sub") || !strings.Contains(got, "## Appendix") {
		t.Fatalf("hand-written file: %q %v", got, err)
	}
	// A generated file: what follows the marker, byte for byte.
	os.WriteFile(p, []byte("# Benchmarks\n\ngenerated\n\n"+AppendixMarker+"\n\n## Appendix\n\nkept *as is*\n"), 0o644)
	if got, err := keptAppendix(p); err != nil || got != "## Appendix\n\nkept *as is*\n" {
		t.Fatalf("generated file: %q %v", got, err)
	}
}
