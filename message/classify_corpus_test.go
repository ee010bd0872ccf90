package message

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
)

var expectedStatusRe = regexp.MustCompile(`status=([245]\.\d{1,3}\.\d{1,3})`)

// realStatuses returns the enhanced status codes the manifest states,
// leaving out sisimai's pseudo-codes (x.x.900 and above).
func realStatuses(expected string) []string {
	var out []string
	for _, mm := range expectedStatusRe.FindAllStringSubmatch(expected, -1) {
		parts := strings.Split(mm[1], ".")
		if n, _ := strconv.Atoi(parts[2]); n >= 900 {
			continue
		}
		out = append(out, mm[1])
	}
	return out
}

func TestCorpusClassify(t *testing.T) {
	corpus := loadCorpus(t)
	var bounces, bounceHits, bounceReports, statusWant, statusHit, autoWant, autoHit, fp int
	negative := map[string]bool{"plain": true, "multipart": true, "charset": true, "attachment": true}
	for _, e := range corpus {
		m, err := ParseBytes(e.Data, Options{})
		if err != nil {
			continue
		}
		c := Classify(m, ClassifyOptions{})
		switch {
		case e.Category == "bounce":
			bounces++
			if c.Kind == KindBounce {
				bounceHits++
			} else {
				if c.Kind == KindDeliveryReport {
					bounceReports++
				}
				t.Logf("bounce missed: %s kind=%s signals=%v", e.Path, c.Kind, c.Signals)
			}
		case e.Category == "autoreply":
			autoWant++
			if c.Kind == KindAutoReply {
				autoHit++
			} else {
				t.Logf("auto-reply missed: %s kind=%s signals=%v", e.Path, c.Kind, c.Signals)
			}
		case negative[e.Category]:
			if c.Kind == KindBounce || c.Kind == KindAutoReply {
				fp++
				t.Errorf("false positive: %s (%s) taken for %s, signals %v", e.Path, e.Category, c.Kind, c.Signals)
			}
		}
		want := realStatuses(e.Expected)
		if len(want) == 0 {
			continue
		}
		statusWant++
		got := map[string]bool{}
		if c.Bounce != nil {
			got[c.Bounce.Status] = true
			for _, r := range c.Bounce.Recipients {
				got[r.Status] = true
			}
		}
		ok := true
		for _, w := range want {
			ok = ok && got[w]
		}
		if ok {
			statusHit++
		} else {
			var gs []string
			if c.Bounce != nil {
				for _, r := range c.Bounce.Recipients {
					gs = append(gs, r.Address+"="+r.Status)
				}
				gs = append(gs, "summary="+c.Bounce.Status)
			}
			t.Logf("status mismatch: %s want %v got %v", e.Path, want, gs)
		}
	}
	pct := func(a, b int) float64 { return 100 * float64(a) / float64(max(b, 1)) }
	t.Logf("bounce recall: %d/%d (%.1f%%)", bounceHits, bounces, pct(bounceHits, bounces))
	t.Logf("  of the rest, delay/success reports (KindDeliveryReport): %d", bounceReports)
	t.Logf("status code match: %d/%d (%.1f%%)", statusHit, statusWant, pct(statusHit, statusWant))
	t.Logf("auto-reply recall: %d/%d", autoHit, autoWant)
	t.Logf("false positives in plain/multipart/charset/attachment: %d", fp)
	if pct(bounceHits, bounces) < 90 {
		t.Errorf("bounce recall %.1f%% < 90%%", pct(bounceHits, bounces))
	}
	if pct(statusHit, statusWant) < 90 {
		t.Errorf("status match %.1f%% < 90%%", pct(statusHit, statusWant))
	}
	if autoHit != autoWant {
		t.Errorf("auto-reply recall %d/%d", autoHit, autoWant)
	}
}
