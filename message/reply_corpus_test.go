package message

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// The reply suites in testdata/reply are copied from permissively licensed
// reply-parsing projects (licence beside each); see testdata/reply/SOURCES.md.
const replyDir = "testdata/reply"

// normReply normalises line endings, trailing spaces and blank lines at
// both ends, so suites written on different systems compare alike.
func normReply(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	s = strings.ReplaceAll(s, "\u00a0", " ")
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " \t")
	}
	return strings.Trim(strings.Join(lines, "\n"), "\n")
}

var replyWSRe = regexp.MustCompile(`\s+`)

// suiteResult counts matches of one suite.
type suiteResult struct {
	name      string
	total, ok int
	failures  []string
}

func (s *suiteResult) check(name string, ok bool, detail string) {
	s.total++
	if ok {
		s.ok++
		return
	}
	s.failures = append(s.failures, name+": "+detail)
}

func (s *suiteResult) rate() float64 {
	if s.total == 0 {
		return 0
	}
	return float64(s.ok) / float64(s.total)
}

func (s *suiteResult) String() string {
	return fmt.Sprintf("%s: %d/%d (%.0f%%)", s.name, s.ok, s.total, 100*s.rate())
}

// replyCutter is a reply parser under measurement: it returns the text a
// suite compares (new part; withSig adds the signature for suites that
// keep it).
type replyCutter func(text string, withSig bool) string

func oursPlain(text string, withSig bool) string {
	r := ExtractReply(text)
	if withSig && r.Signature != "" {
		return r.Text + "\n\n" + r.Signature
	}
	return r.Text
}

func runDiscourse(t *testing.T, cut replyCutter) *suiteResult {
	res := &suiteResult{name: "discourse/email_reply_trimmer"}
	files, _ := filepath.Glob(filepath.Join(replyDir, "discourse", "emails", "*.txt"))
	if len(files) == 0 {
		t.Fatal("no discourse fixtures")
	}
	for _, f := range files {
		in := readFixture(t, f)
		want := readFixture(t, filepath.Join(replyDir, "discourse", "trimmed", filepath.Base(f)))
		got := normReply(cut(in, false))
		res.check(filepath.Base(f), got == normReply(want), fmt.Sprintf("got %q want %q", clip(got, 200), clip(normReply(want), 200)))
	}
	return res
}

type expectation struct{ check, value, subst, with string }

func loadExpect(t *testing.T, path string, vars map[string]string) (map[string][]expectation, []string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]expectation{}
	var order []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		cols := strings.SplitN(line, "\t", 3)
		if len(cols) < 2 {
			t.Fatalf("%s: bad line %q", path, line)
		}
		v := ""
		if len(cols) == 3 {
			v = strings.ReplaceAll(cols[2], `\n`, "\n")
		}
		if r, ok := vars[v]; ok {
			v = r
		}
		key, e := cols[0], expectation{check: cols[1], value: v}
		if k, line, ok := strings.Cut(cols[1], "="); ok {
			// A data-provider case: its own case, the fixture's
			// placeholder replaced by line.
			e = expectation{check: "equal", value: v, subst: "[" + strings.ToUpper(k) + "]", with: line}
			key = fmt.Sprintf("%s#%d", cols[0], len(order))
		}
		if _, ok := out[key]; !ok {
			order = append(order, key)
		}
		out[key] = append(out[key], e)
	}
	return out, order
}

func runExpectSuite(t *testing.T, name, dir, sub string, vars map[string]string, cut replyCutter, withSig func(string) string) *suiteResult {
	res := &suiteResult{name: name}
	exp, order := loadExpect(t, filepath.Join(replyDir, dir, "expect.tsv"), vars)
	for _, n := range order {
		file, _, _ := strings.Cut(n, "#")
		in := readFixture(t, filepath.Join(replyDir, dir, sub, file+".txt"))
		if e := exp[n][0]; e.subst != "" {
			in = strings.ReplaceAll(in, e.subst, e.with)
		}
		got := normReply(cut(in, false))
		ok, why := true, ""
		for _, e := range exp[n] {
			v := normReply(e.value)
			pass := true
			switch e.check {
			case "equal":
				pass = got == v
			case "prefix":
				pass = strings.HasPrefix(got, v)
			case "contains":
				pass = strings.Contains(got, v)
			case "notcontains":
				pass = !strings.Contains(got, v)
			case "whole":
				pass = got == normReply(in)
			case "signature":
				pass = withSig != nil && normReply(withSig(in)) != got
			default:
				t.Fatalf("%s: unknown check %q", n, e.check)
			}
			if !pass {
				ok = false
				why += fmt.Sprintf("[%s %q] ", e.check, clip(v, 60))
			}
		}
		res.check(n, ok, why+fmt.Sprintf("got %q", clip(got, 200)))
	}
	return res
}

const crispCommon = "Fusce bibendum, quam hendrerit sagittis tempor, dui turpis tempus erat, pharetra sodales ante sem sit amet metus.\n" +
	"Nulla malesuada, orci non vulputate lobortis, massa felis pharetra ex, convallis consectetur ex libero eget ante.\n" +
	"Nam vel turpis posuere, rhoncus ligula in, venenatis orci. Duis interdum venenatis ex a rutrum.\n" +
	"Duis ut libero eu lectus consequat consequat ut vel lorem. Vestibulum convallis lectus urna,\n" +
	"et mollis ligula rutrum quis. Fusce sed odio id arcu varius aliquet nec nec nibh."

// runTalonStandard runs talon's standard_replies: the text/plain body of
// each .eml, expected "Hello" unless a <name>_reply_text file says
// otherwise (talon keeps signatures).
func runTalonStandard(t *testing.T, cut replyCutter) *suiteResult {
	res := &suiteResult{name: "mailgun/talon standard_replies"}
	files, _ := filepath.Glob(filepath.Join(replyDir, "talon", "standard_replies", "*.eml"))
	for _, f := range files {
		m, err := ParseBytes([]byte(readFixture(t, f)), Options{})
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		want := "Hello"
		if b, err := os.ReadFile(strings.TrimSuffix(f, ".eml") + "_reply_text"); err == nil {
			want = string(b)
		}
		got := normReply(cut(m.Text, true))
		res.check(filepath.Base(f), got == normReply(want), fmt.Sprintf("got %q want %q", clip(got, 200), want))
	}
	return res
}

// runTalonHTML runs talon's html_replies; talon compares with all
// whitespace removed.
func runTalonHTML(t *testing.T) *suiteResult {
	res := &suiteResult{name: "mailgun/talon html_replies"}
	files, _ := filepath.Glob(filepath.Join(replyDir, "talon", "html_replies", "*.html"))
	want := replyWSRe.ReplaceAllString("Hi. I am fine.\n\nThanks,\nAlex", "")
	for _, f := range files {
		r := ExtractReplyHTML(readFixture(t, f))
		got := replyWSRe.ReplaceAllString(r.Text+r.Signature, "")
		res.check(filepath.Base(f), got == want, fmt.Sprintf("got %q (%s %s)", clip(got, 200), r.By, r.Confidence))
	}
	return res
}

var talonExpectRe = regexp.MustCompile(`talon: text/plain reply with quotation stripped == '(.*)'$`)

// runCorpusTalon runs the shared corpus's talon expectations (manifest.tsv).
func runCorpusTalon(t *testing.T, cut replyCutter) *suiteResult {
	res := &suiteResult{name: "corpus talon (manifest.tsv)"}
	for _, e := range loadCorpus(t) {
		mm := talonExpectRe.FindStringSubmatch(e.Expected)
		if mm == nil {
			continue
		}
		want := strings.ReplaceAll(mm[1], " | ", "\n")
		m, err := ParseBytes(e.Data, Options{})
		if err != nil {
			t.Fatalf("%s: %v", e.Path, err)
		}
		// The manifest states talon's text for iphone.eml without the
		// signature and for sparrow.eml with it: either form counts.
		got, bare := cut(m.Text, true), cut(m.Text, false)
		norm := func(s string) string { return replyWSRe.ReplaceAllString(strings.TrimSpace(s), " ") }
		res.check(e.Path, norm(got) == norm(want) || norm(bare) == norm(want), fmt.Sprintf("got %q want %q", clip(got, 200), want))
	}
	return res
}

func readFixture(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func replySuites(t *testing.T, cut replyCutter) []*suiteResult {
	withSig := func(s string) string { return cut(s, true) }
	return []*suiteResult{
		runCorpusTalon(t, cut),
		runTalonStandard(t, cut),
		runDiscourse(t, cut),
		runExpectSuite(t, "github/email_reply_parser", "github", "emails", nil, cut, withSig),
		runExpectSuite(t, "crisp-oss/email-reply-parser", "crisp", "fixtures", map[string]string{"$COMMON": crispCommon}, cut, withSig),
		runExpectSuite(t, "willdurand/EmailReplyParser (held out)", "willdurand", "fixtures", nil, cut, withSig),
	}
}

// TestReplySuites measures ExtractReply on every suite and fails when a
// suite's match rate falls below the floor recorded in BENCHMARKS.md.
func TestReplySuites(t *testing.T) {
	floors := map[string]float64{
		"corpus talon (manifest.tsv)":            1.0,
		"mailgun/talon standard_replies":         1.0,
		"mailgun/talon html_replies":             1.0,
		"discourse/email_reply_trimmer":          0.95,
		"github/email_reply_parser":              0.9,
		"crisp-oss/email-reply-parser":           0.95,
		"willdurand/EmailReplyParser (held out)": 0.85,
	}
	all := append(replySuites(t, oursPlain), runTalonHTML(t))
	total, ok := 0, 0
	for _, s := range all {
		total += s.total
		ok += s.ok
		t.Log(s.String())
		sort.Strings(s.failures)
		for _, f := range s.failures {
			t.Logf("  miss %s", f)
		}
		if s.rate() < floors[s.name] {
			t.Errorf("%s below floor %.0f%%", s, 100*floors[s.name])
		}
	}
	t.Logf("all suites: %d/%d (%.1f%%)", ok, total, 100*float64(ok)/float64(total))
}
