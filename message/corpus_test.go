package message

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jhillyerd/enmime/v2"
)

const corpusDir = "../testdata/corpus"

type corpusEntry struct {
	Path     string
	Category string
	Expected string
	Data     []byte
}

func loadCorpus(tb testing.TB) []corpusEntry {
	tb.Helper()
	f, err := os.Open(filepath.Join(corpusDir, "manifest.tsv"))
	if err != nil {
		tb.Fatalf("corpus manifest: %v", err)
	}
	defer f.Close()
	var out []corpusEntry
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	header := true
	for sc.Scan() {
		if header {
			header = false
			continue
		}
		cols := strings.Split(sc.Text(), "\t")
		if len(cols) < 6 {
			tb.Fatalf("manifest: bad row %q", sc.Text())
		}
		e := corpusEntry{Path: cols[0], Category: cols[5]}
		if len(cols) > 6 {
			e.Expected = cols[6]
		}
		e.Data, err = os.ReadFile(filepath.Join(corpusDir, filepath.FromSlash(e.Path)))
		if err != nil {
			tb.Fatalf("corpus file: %v", err)
		}
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}

func TestCorpusParse(t *testing.T) {
	corpus := loadCorpus(t)
	if len(corpus) < 500 {
		t.Fatalf("corpus has %d messages, want >= 500", len(corpus))
	}
	ours, theirs := 0, 0
	warnings := map[WarningCode]int{}
	for _, e := range corpus {
		m, err := ParseBytes(e.Data, Options{})
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Reason == "" {
				t.Errorf("%s: error without a reason: %v", e.Path, err)
			}
			t.Logf("correio rejects %s: %v", e.Path, err)
		} else {
			ours++
			for _, w := range m.Warnings {
				warnings[w.Code]++
			}
		}
		if _, err := enmime.ReadEnvelope(bytes.NewReader(e.Data)); err != nil {
			t.Logf("enmime rejects %s: %v", e.Path, err)
		} else {
			theirs++
		}
	}
	t.Logf("warnings on the corpus: %v", warnings)
	t.Logf("parsed: correio %d/%d, enmime %d/%d", ours, len(corpus), theirs, len(corpus))
	if ours < theirs {
		t.Errorf("correio parsed %d messages, fewer than enmime's %d", ours, theirs)
	}
}
