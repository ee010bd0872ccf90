// Package replytest measures a reply cutter (a function that takes a reply's
// text and returns its new part) on the reply-parsing test suites kept in
// message/testdata/reply and on the talon expectations of the shared
// corpus (testdata/corpus/manifest.tsv). message's own tests use it with
// message.ExtractReply and assert a floor per suite; scripts/replycompare
// runs it over another Go parser in the same run. Each suite is copied with
// its licence; testdata/reply/SOURCES.md says from where.
package replytest

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/correio-dev/correio/message"
)

// Cutter returns the new part of a plain-text reply. withSignature asks
// for the signature to be kept, for the suites whose expectations keep it
// (talon's).
type Cutter func(text string, withSignature bool) string

// HTMLCutter returns the new part of an HTML reply as text, signature
// included. Nil skips talon's HTML suite.
type HTMLCutter func(html string) string

// Options says where the suites are.
type Options struct {
	// ReplyDir is message/testdata/reply.
	ReplyDir string
	// CorpusDir is the shared corpus (testdata/corpus); "" skips it.
	CorpusDir string
	// HTML cuts HTML replies; nil skips talon's html_replies.
	HTML HTMLCutter
}

// Result is the outcome of one suite.
type Result struct {
	Name           string
	Total, Matched int
	// Misses names each case that did not match, with what came out.
	Misses []string
}

// Rate is Matched / Total (0 for an empty suite).
func (r *Result) Rate() float64 {
	if r.Total == 0 {
		return 0
	}
	return float64(r.Matched) / float64(r.Total)
}

func (r *Result) String() string {
	return fmt.Sprintf("%s: %d/%d (%.0f%%)", r.Name, r.Matched, r.Total, 100*r.Rate())
}

func (r *Result) check(name string, ok bool, detail string) {
	r.Total++
	if ok {
		r.Matched++
		return
	}
	r.Misses = append(r.Misses, name+": "+detail)
}

// Suite names, as Result.Name reports them.
const (
	CorpusTalon   = "corpus talon (manifest.tsv)"
	TalonStandard = "mailgun/talon standard_replies"
	TalonHTML     = "mailgun/talon html_replies"
	Discourse     = "discourse/email_reply_trimmer"
	GitHub        = "github/email_reply_parser"
	Crisp         = "crisp-oss/email-reply-parser"
	Willdurand    = "willdurand/EmailReplyParser (held out)"
)

// Run measures cut on every suite found under opts.
func Run(opts Options, cut Cutter) ([]*Result, error) {
	var out []*Result
	add := func(r *Result, err error) error {
		if err != nil {
			return err
		}
		out = append(out, r)
		return nil
	}
	if opts.CorpusDir != "" {
		if err := add(corpusTalon(opts.CorpusDir, cut)); err != nil {
			return nil, err
		}
	}
	dir := opts.ReplyDir
	steps := []func() (*Result, error){
		func() (*Result, error) { return talonStandard(dir, cut) },
		func() (*Result, error) { return discourse(dir, cut) },
		func() (*Result, error) { return expectSuite(GitHub, dir, "github", "emails", nil, cut) },
		func() (*Result, error) {
			return expectSuite(Crisp, dir, "crisp", "fixtures", map[string]string{"$COMMON": crispCommon}, cut)
		},
		func() (*Result, error) { return expectSuite(Willdurand, dir, "willdurand", "fixtures", nil, cut) },
	}
	if opts.HTML != nil {
		steps = append(steps, func() (*Result, error) { return talonHTML(dir, opts.HTML) })
	}
	for _, s := range steps {
		if err := add(s()); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Norm normalises line endings, no-break spaces, trailing spaces and blank
// lines at both ends, so suites written on different systems compare alike.
func Norm(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	s = strings.ReplaceAll(s, "\u00a0", " ")
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " \t")
	}
	return strings.Trim(strings.Join(lines, "\n"), "\n")
}

var wsRe = regexp.MustCompile(`\s+`)

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}

func read(path string) (string, error) {
	b, err := os.ReadFile(path)
	return string(b), err
}

// discourse compares with Discourse's own trimmed output.
func discourse(dir string, cut Cutter) (*Result, error) {
	res := &Result{Name: Discourse}
	files, _ := filepath.Glob(filepath.Join(dir, "discourse", "emails", "*.txt"))
	if len(files) == 0 {
		return nil, errors.New("replytest: no discourse fixtures")
	}
	for _, f := range files {
		in, err := read(f)
		if err != nil {
			return nil, err
		}
		want, err := read(filepath.Join(dir, "discourse", "trimmed", filepath.Base(f)))
		if err != nil {
			return nil, err
		}
		got := Norm(cut(in, false))
		res.check(filepath.Base(f), got == Norm(want), fmt.Sprintf("got %q want %q", clip(got, 200), clip(Norm(want), 200)))
	}
	return res, nil
}

type expectation struct{ check, value, subst, with string }

// loadExpect reads an expect.tsv: name, check, value (\n for a newline).
// A check "key=line" is a data-provider case of its own: the fixture's
// [KEY] placeholder is replaced by line and the text must equal value.
func loadExpect(path string, vars map[string]string) (map[string][]expectation, []string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
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
			return nil, nil, fmt.Errorf("replytest: %s: bad line %q", path, line)
		}
		v := ""
		if len(cols) == 3 {
			v = strings.ReplaceAll(cols[2], `\n`, "\n")
		}
		if r, ok := vars[v]; ok {
			v = r
		}
		key, e := cols[0], expectation{check: cols[1], value: v}
		if k, with, ok := strings.Cut(cols[1], "="); ok {
			e = expectation{check: "equal", value: v, subst: "[" + strings.ToUpper(k) + "]", with: with}
			key = fmt.Sprintf("%s#%d", cols[0], len(order))
		}
		if _, ok := out[key]; !ok {
			order = append(order, key)
		}
		out[key] = append(out[key], e)
	}
	return out, order, sc.Err()
}

// expectSuite checks the transcribed assertions of expect.tsv: equal,
// prefix, contains, notcontains, whole (the text is all new) and signature
// (a signature was found).
func expectSuite(name, dir, sub, files string, vars map[string]string, cut Cutter) (*Result, error) {
	res := &Result{Name: name}
	exp, order, err := loadExpect(filepath.Join(dir, sub, "expect.tsv"), vars)
	if err != nil {
		return nil, err
	}
	for _, n := range order {
		file, _, _ := strings.Cut(n, "#")
		in, err := read(filepath.Join(dir, sub, files, file+".txt"))
		if err != nil {
			return nil, err
		}
		if e := exp[n][0]; e.subst != "" {
			in = strings.ReplaceAll(in, e.subst, e.with)
		}
		got := Norm(cut(in, false))
		ok, why := true, ""
		for _, e := range exp[n] {
			v := Norm(e.value)
			var pass bool
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
				pass = got == Norm(in)
			case "signature":
				pass = Norm(cut(in, true)) != got
			default:
				return nil, fmt.Errorf("replytest: %s: unknown check %q", n, e.check)
			}
			if !pass {
				ok = false
				why += fmt.Sprintf("[%s %q] ", e.check, clip(v, 60))
			}
		}
		res.check(n, ok, why+fmt.Sprintf("got %q", clip(got, 200)))
	}
	return res, nil
}

const crispCommon = "Fusce bibendum, quam hendrerit sagittis tempor, dui turpis tempus erat, pharetra sodales ante sem sit amet metus.\n" +
	"Nulla malesuada, orci non vulputate lobortis, massa felis pharetra ex, convallis consectetur ex libero eget ante.\n" +
	"Nam vel turpis posuere, rhoncus ligula in, venenatis orci. Duis interdum venenatis ex a rutrum.\n" +
	"Duis ut libero eu lectus consequat consequat ut vel lorem. Vestibulum convallis lectus urna,\n" +
	"et mollis ligula rutrum quis. Fusce sed odio id arcu varius aliquet nec nec nibh."

// talonStandard runs talon's standard_replies: the text/plain body of each
// .eml, expected "Hello" unless <name>_reply_text says otherwise (talon
// keeps signatures).
func talonStandard(dir string, cut Cutter) (*Result, error) {
	res := &Result{Name: TalonStandard}
	files, _ := filepath.Glob(filepath.Join(dir, "talon", "standard_replies", "*.eml"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		m, err := message.ParseBytes(b, message.Options{})
		if err != nil {
			return nil, fmt.Errorf("replytest: %s: %w", f, err)
		}
		want := "Hello"
		if b, err := os.ReadFile(strings.TrimSuffix(f, ".eml") + "_reply_text"); err == nil {
			want = string(b)
		}
		got := Norm(cut(m.Text, true))
		res.check(filepath.Base(f), got == Norm(want), fmt.Sprintf("got %q want %q", clip(got, 200), want))
	}
	return res, nil
}

// talonHTML runs talon's html_replies, compared with all whitespace
// removed as talon's test does.
func talonHTML(dir string, cut HTMLCutter) (*Result, error) {
	res := &Result{Name: TalonHTML}
	files, _ := filepath.Glob(filepath.Join(dir, "talon", "html_replies", "*.html"))
	want := wsRe.ReplaceAllString("Hi. I am fine.\n\nThanks,\nAlex", "")
	for _, f := range files {
		doc, err := read(f)
		if err != nil {
			return nil, err
		}
		got := wsRe.ReplaceAllString(cut(doc), "")
		res.check(filepath.Base(f), got == want, fmt.Sprintf("got %q", clip(got, 200)))
	}
	return res, nil
}

var talonExpectRe = regexp.MustCompile(`talon: text/plain reply with quotation stripped == '(.*)'$`)

// corpusTalon runs the talon expectations of the shared corpus's
// manifest.tsv. The manifest states iphone.eml's text without its
// signature and sparrow.eml's with it, so either form counts.
func corpusTalon(corpus string, cut Cutter) (*Result, error) {
	res := &Result{Name: CorpusTalon}
	f, err := os.Open(filepath.Join(corpus, "manifest.tsv"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		cols := strings.Split(sc.Text(), "\t")
		if len(cols) < 7 {
			continue
		}
		mm := talonExpectRe.FindStringSubmatch(cols[6])
		if mm == nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(corpus, filepath.FromSlash(cols[0])))
		if err != nil {
			return nil, err
		}
		m, err := message.ParseBytes(b, message.Options{})
		if err != nil {
			return nil, fmt.Errorf("replytest: %s: %w", cols[0], err)
		}
		want := strings.ReplaceAll(mm[1], " | ", "\n")
		got, bare := cut(m.Text, true), cut(m.Text, false)
		norm := func(s string) string { return wsRe.ReplaceAllString(strings.TrimSpace(s), " ") }
		res.check(cols[0], norm(got) == norm(want) || norm(bare) == norm(want), fmt.Sprintf("got %q want %q", clip(got, 200), want))
	}
	if res.Total == 0 {
		return nil, errors.New("replytest: no talon expectations in the corpus manifest")
	}
	return res, sc.Err()
}
