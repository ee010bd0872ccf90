package message

import (
	"fmt"
	"sort"
	"strings"
	"testing"
)

// TestCorpusKinds logs, per corpus category, how many messages Classify
// puts in each Kind, so a change to the rules shows its effect on every
// category, not only on bounces and auto-replies. It fails if a message
// of a category written by people (plain, multipart, charset, attachment)
// or a bounce is taken for a challenge-response request (the corpus has
// none), or if a message is lost.
func TestCorpusKinds(t *testing.T) {
	counts := map[string]map[string]int{}
	corpus := loadCorpus(t)
	total := 0
	for _, e := range corpus {
		m, err := ParseBytes(e.Data, Options{})
		kind := "unparsed"
		if err == nil {
			kind = Classify(m, ClassifyOptions{}).Kind.String()
		}
		if counts[e.Category] == nil {
			counts[e.Category] = map[string]int{}
		}
		counts[e.Category][kind]++
		total++
		if kind == KindChallenge.String() && e.Category != "malformed" && e.Category != "other" {
			t.Errorf("%s (%s) taken for a challenge", e.Path, e.Category)
		}
	}
	if total != len(corpus) || total == 0 {
		t.Errorf("counted %d of %d messages", total, len(corpus))
	}
	var cats []string
	for c := range counts {
		cats = append(cats, c)
	}
	sort.Strings(cats)
	for _, c := range cats {
		var parts []string
		for k, n := range counts[c] {
			parts = append(parts, fmt.Sprintf("%s=%d", k, n))
		}
		sort.Strings(parts)
		t.Logf("%-10s %s", c, strings.Join(parts, " "))
	}
}
