// Command bench runs every comparison of BENCHMARKS.md in one run and
// rewrites the file: the `go test -bench` benchmarks of the engines, the
// stores, the resolver and the parser, each section's table rendered from
// the standard benchmark output (with the figures the benchmarks report
// through b.ReportMetric), under a header with the date, the machine (cores,
// CPU model), the load average before and after, the Go version and the
// commit. A progress line goes to stderr.
//
//	go run ./internal/bench                  # everything, about 10 minutes on 2 cores
//	go run ./internal/bench -quick -out /tmp/x.md   # short versions (CI smoke test)
//	go run ./internal/bench -only 'ingest|send'     # some sections
//	go run ./internal/bench -dovecot         # also against Dovecot/Postfix (internal/mailstack)
//
// Every section is one value in the sections list, registered by its own
// file (section_*.go): its name, the benchmarks it runs and a function
// rendering its markdown from their results; adding a comparison is adding
// such a file. What follows the appendix marker in the output file (the
// hand-written sections no benchmark produces) is copied through unchanged.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/correio-dev/correio/internal/mailstack"
)

// Section is one part of BENCHMARKS.md.
type Section struct {
	// Order places the section in the file (ascending).
	Order int
	// Key is what -only matches (also against Title).
	Key string
	// Title is the section's heading.
	Title string
	// Method is the fixed text under the heading: what runs and how to
	// reproduce it.
	Method string
	// Runs are the benchmarks it needs.
	Runs []Run
	// Dovecot marks a section that needs the real servers (-dovecot).
	Dovecot bool
	// Render turns the runs' results (all of them, in order) into the
	// section's markdown (tables and the reading of them).
	Render func(rs Results) string
}

// Run is one `go test -bench` invocation.
type Run struct {
	// Pkg is the package, relative to the module root ("./inbound").
	Pkg string
	// Bench is the -bench regexp.
	Bench string
	// Benchtime and Count are the full run's; QuickBenchtime and
	// QuickCount -quick's (defaults: Benchtime, 1).
	Benchtime, QuickBenchtime string
	Count, QuickCount         int
	// Benchmem adds -benchmem.
	Benchmem bool
	// Env is added to the environment of the benchmark process; QuickEnv
	// too with -quick.
	Env, QuickEnv []string
	// QuickSkip leaves the run out with -quick.
	QuickSkip bool
}

var sections []Section

// register adds a section; each section_*.go file calls it from init.
func register(s Section) { sections = append(sections, s) }

// AppendixMarker starts the part of the output file copied through
// unchanged.
const AppendixMarker = "<!-- bench: everything below is kept as is by `go run ./internal/bench` -->"

func main() {
	quick := flag.Bool("quick", false, "short versions of every benchmark (a smoke test, under a minute)")
	only := flag.String("only", "", "run only the sections whose key or title matches this regexp")
	out := flag.String("out", "BENCHMARKS.md", "the file to write (its appendix is kept)")
	dovecot := flag.Bool("dovecot", false, "also run the sections against Dovecot/Postfix (internal/mailstack) when they are installed")
	timeout := flag.Duration("timeout", 20*time.Minute, "deadline of one benchmark process")
	flag.Parse()
	if err := run(*quick, *only, *out, *dovecot, *timeout); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(quick bool, only, out string, dovecot bool, timeout time.Duration) error {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	var re *regexp.Regexp
	if only != "" {
		if re, err = regexp.Compile(only); err != nil {
			return fmt.Errorf("-only: %w", err)
		}
	}
	slices.SortStableFunc(sections, func(a, b Section) int { return a.Order - b.Order })
	var chosen []Section
	for _, s := range sections {
		if re == nil || re.MatchString(s.Key) || re.MatchString(s.Title) {
			chosen = append(chosen, s)
		}
	}
	if len(chosen) == 0 {
		return fmt.Errorf("no section matches -only %q", only)
	}
	stackErr := errors.New("not asked for (run with -dovecot)")
	if dovecot {
		stackErr = mailstack.Available()
	}
	tmp, err := os.MkdirTemp("", "correio-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	start := time.Now()
	env := environment(root)
	r := &runner{root: root, tmp: tmp, quick: quick, timeout: timeout, bins: map[string]string{}, start: start}
	total := 0
	for _, s := range chosen {
		if !s.Dovecot || stackErr == nil {
			total += len(r.runsOf(s))
		}
	}
	r.total = total
	var body strings.Builder
	nfailed := 0
	for _, s := range chosen {
		fmt.Fprintf(&body, "## %s\n\n", s.Title)
		if s.Dovecot && stackErr != nil {
			fmt.Fprintf(&body, "Not measured in this run: Dovecot/Postfix %v.\n\n", stackErr)
			r.progress(s.Key, "skipped: "+stackErr.Error())
			continue
		}
		if s.Method != "" {
			body.WriteString(strings.TrimSpace(s.Method) + "\n\n")
		}
		var rs Results
		var failed []string
		for _, run := range r.runsOf(s) {
			res, cmdline, err := r.bench(s.Key, run)
			fmt.Fprintf(&body, "    %s\n", cmdline)
			if err != nil {
				failed = append(failed, fmt.Sprintf("`%s`: %v", cmdline, err))
			}
			rs = append(rs, res...)
		}
		body.WriteString("\n")
		for _, f := range failed {
			fmt.Fprintf(&body, "**Failed:** %s\n\n", f)
		}
		nfailed += len(failed)
		body.WriteString(strings.TrimSpace(s.Render(rs)) + "\n\n")
	}
	env.loadAfter = loadavg()
	env.elapsed = time.Since(start)

	var doc strings.Builder
	doc.WriteString("# Benchmarks\n\n")
	doc.WriteString("Generated by `go run ./internal/bench")
	if quick {
		doc.WriteString(" -quick")
	}
	if only != "" {
		fmt.Fprintf(&doc, " -only '%s'", only)
	}
	if dovecot {
		doc.WriteString(" -dovecot")
	}
	doc.WriteString("` (see README, \"Benchmarks\"). Speed is measured by benchmarks that compare correio against the raw libraries in the same run; tests never assert timings.\n\n")
	doc.WriteString(env.markdown())
	if quick {
		doc.WriteString("**-quick run**: every benchmark shortened (one iteration, smaller counts); a smoke test of the command, not figures to quote.\n\n")
	}
	doc.WriteString(body.String())
	appendix, err := keptAppendix(out)
	if err != nil {
		return err
	}
	doc.WriteString(AppendixMarker + "\n")
	doc.WriteString(appendix)
	if err := os.WriteFile(out, []byte(doc.String()), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "bench: wrote %s in %s\n", out, time.Since(start).Round(time.Second))
	if nfailed > 0 {
		// The file says which; the exit status lets CI's smoke run fail.
		return fmt.Errorf("%d benchmark runs failed (see %s)", nfailed, out)
	}
	return nil
}

// keptAppendix returns what follows the appendix marker in the existing
// file; a file without the marker (written by hand) is kept whole, under a
// heading, so nothing measured before is lost.
func keptAppendix(path string) (string, error) {
	old, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	s := string(old)
	if i := strings.Index(s, AppendixMarker); i >= 0 {
		return strings.TrimLeft(s[i+len(AppendixMarker):], "\n"), nil
	}
	s = strings.TrimPrefix(s, "# Benchmarks\n")
	s = heading.ReplaceAllString(s, "#$1 ") // one level down, under the appendix's heading
	return "\n## Appendix: earlier measurements, written by hand\n\nKept as they were written (each with its date, machine and load); the sections above replace them where they measure the same thing.\n" + s, nil
}

var heading = regexp.MustCompile(`(?m)^(#+) `)

type runner struct {
	root, tmp string
	quick     bool
	timeout   time.Duration
	bins      map[string]string
	done      int
	total     int
	start     time.Time
}

func (r *runner) runsOf(s Section) []Run {
	if !r.quick {
		return s.Runs
	}
	var out []Run
	for _, run := range s.Runs {
		if !run.QuickSkip {
			out = append(out, run)
		}
	}
	return out
}

func (r *runner) progress(key, what string) {
	fmt.Fprintf(os.Stderr, "bench: [%d/%d %s] %s: %s\n", r.done, r.total, time.Since(r.start).Round(time.Second), key, what)
}

// bin builds pkg's test binary once.
func (r *runner) bin(pkg string) (string, error) {
	if b, ok := r.bins[pkg]; ok {
		return b, nil
	}
	b := filepath.Join(r.tmp, strings.NewReplacer("/", "_", ".", "_").Replace(pkg)+".test")
	cmd := exec.Command("go", "test", "-c", "-o", b, pkg)
	cmd.Dir = r.root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building %s: %v\n%s", pkg, err, out)
	}
	r.bins[pkg] = b
	return b, nil
}

// bench runs one benchmark invocation and parses its results.
func (r *runner) bench(key string, run Run) (Results, string, error) {
	bt, count, envs := run.Benchtime, run.Count, run.Env
	if r.quick {
		envs = append(envs[:len(envs):len(envs)], run.QuickEnv...)
		if run.QuickBenchtime != "" {
			bt = run.QuickBenchtime
		}
		count = max(run.QuickCount, 1)
	}
	if count <= 0 {
		count = 1
	}
	args := []string{"-run", "'^$'", "-bench", "'" + run.Bench + "'"}
	if bt != "" {
		args = append(args, "-benchtime", bt)
	}
	if count > 1 {
		args = append(args, "-count", fmt.Sprint(count))
	}
	if run.Benchmem {
		args = append(args, "-benchmem")
	}
	cmdline := strings.TrimSpace(strings.Join(envs, " ") + " go test " + strings.Join(args, " ") + " " + run.Pkg)
	r.progress(key, cmdline)
	defer func() { r.done++ }()
	bin, err := r.bin(run.Pkg)
	if err != nil {
		return nil, cmdline, err
	}
	targs := []string{"-test.run", "^$", "-test.bench", run.Bench, "-test.count", fmt.Sprint(count), "-test.timeout", r.timeout.String()}
	if bt != "" {
		targs = append(targs, "-test.benchtime", bt)
	}
	if run.Benchmem {
		targs = append(targs, "-test.benchmem")
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.timeout+time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, targs...)
	cmd.Dir = filepath.Join(r.root, run.Pkg)
	cmd.Env = append(os.Environ(), envs...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = io.MultiWriter(&stdout)
	cmd.Stderr = &stderr
	err = cmd.Run()
	res := Parse(bytes.NewReader(stdout.Bytes()))
	if err != nil {
		tail := lastLines(stdout.String()+stderr.String(), 6)
		return res, cmdline, fmt.Errorf("%v: %s", err, tail)
	}
	if len(res) == 0 {
		return nil, cmdline, fmt.Errorf("no benchmark result: %s", lastLines(stdout.String()+stderr.String(), 6))
	}
	return res, cmdline, nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " ⏎ ")
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("run it inside the correio module (go run ./internal/bench)")
	}
	return filepath.Dir(mod), nil
}

// env is what the header says about the run.
type env struct {
	date, cpu, goVersion, commit, loadBefore, loadAfter string
	cores                                               int
	elapsed                                             time.Duration
}

func environment(root string) *env {
	e := &env{date: time.Now().UTC().Format("2006-01-02 15:04 UTC"), cores: runtime.NumCPU(), cpu: cpuModel(), loadBefore: loadavg()}
	if out, err := exec.Command("go", "version").Output(); err == nil {
		e.goVersion = strings.TrimPrefix(strings.TrimSpace(string(out)), "go version ")
	}
	cmd := exec.Command("git", "describe", "--always", "--dirty", "--abbrev=12")
	cmd.Dir = root
	if out, err := cmd.Output(); err == nil {
		e.commit = strings.TrimSpace(string(out))
	} else {
		e.commit = "unknown (not a git checkout)"
	}
	return e
}

func (e *env) markdown() string {
	var b strings.Builder
	b.WriteString("| | |\n|---|---|\n")
	fmt.Fprintf(&b, "| date | %s (the run took %s) |\n", e.date, e.elapsed.Round(time.Second))
	fmt.Fprintf(&b, "| machine | %d cores, %s, %s/%s |\n", e.cores, e.cpu, runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(&b, "| load average (1, 5, 15 min) | %s before, %s after |\n", e.loadBefore, e.loadAfter)
	fmt.Fprintf(&b, "| Go | %s |\n", e.goVersion)
	fmt.Fprintf(&b, "| commit | %s |\n\n", e.commit)
	b.WriteString("The load average counts what else ran on the machine: on a shared machine every wall-clock figure moves with it, so the sections compare variants run interleaved in the same process and iteration, and the ratios are what to read.\n\n")
	return b.String()
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "CPU model unknown"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "CPU model unknown"
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], ", ")
}
