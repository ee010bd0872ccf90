package main

import (
	"bufio"
	"io"
	"strconv"
	"strings"
)

// Result is one line of `go test -bench` output: the benchmark's name
// (without the -GOMAXPROCS suffix), its iterations and every value by unit
// (ns/op, B/op, allocs/op and the units of b.ReportMetric).
type Result struct {
	Name       string
	Iterations int64
	Values     map[string]float64
}

// Parse reads benchmark output and returns its result lines in order;
// other lines (PASS, goos:, logs) are skipped.
func Parse(r io.Reader) []Result {
	var out []Result
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if res, ok := ParseLine(sc.Text()); ok {
			out = append(out, res)
		}
	}
	return out
}

// ParseLine parses one result line: "BenchmarkX-2  3  123 ns/op  4.5 unit ...".
func ParseLine(line string) (Result, bool) {
	f := strings.Fields(line)
	if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") || len(f)%2 != 0 {
		return Result{}, false
	}
	n, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return Result{}, false
	}
	res := Result{Name: trimProcs(f[0]), Iterations: n, Values: map[string]float64{}}
	for i := 2; i+1 < len(f); i += 2 {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return Result{}, false
		}
		res.Values[f[i+1]] = v
	}
	return res, true
}

// trimProcs drops the "-N" GOMAXPROCS suffix of a benchmark name.
func trimProcs(name string) string {
	i := strings.LastIndexByte(name, '-')
	if i < 0 {
		return name
	}
	if _, err := strconv.Atoi(name[i+1:]); err != nil {
		return name
	}
	return name[:i]
}

// Results are the results of a section's runs, in order.
type Results []Result

// All returns the results named name (one per -count), or whose name
// starts with name + "/" when sub is true.
func (rs Results) All(name string) []Result {
	var out []Result
	for _, r := range rs {
		if r.Name == name {
			out = append(out, r)
		}
	}
	return out
}

// Values returns unit's values of the results named name, in order.
func (rs Results) Values(name, unit string) []float64 {
	var out []float64
	for _, r := range rs.All(name) {
		if v, ok := r.Values[unit]; ok {
			out = append(out, v)
		}
	}
	return out
}
