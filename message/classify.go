package message

import (
	"net/mail"
	"regexp"
	"slices"
	"strings"
)

// DefaultLoopHeader is the loop marker header correio puts on the mail it
// sends, used when ClassifyOptions.LoopHeader is empty.
const DefaultLoopHeader = "X-Correio-Loop"

// ClassifyOptions tells Classify what counts as our own mail.
type ClassifyOptions struct {
	// LoopHeader is the name of our loop marker header; a message carrying
	// it is a loop. Empty means DefaultLoopHeader.
	LoopHeader string
	// OwnAddresses are the addresses of our own mailboxes; a message from
	// one of them is a loop. Compared case-insensitively.
	OwnAddresses []string
}

// Kind is the primary class of a message.
type Kind int

// Kinds, in the order Classify decides them: a challenge-response request
// wins over a delivery report (challenges are often built as one), a
// delivery report over a loop, a loop over an auto-reply, an auto-reply over
// list mail (a vacation notice sent with Precedence: bulk is an
// auto-reply). The numeric values are stable; KindChallenge was added last.
const (
	KindNormal         Kind = iota // written by a person, may be answered
	KindBounce                     // delivery failure notification (hard or soft bounce)
	KindDeliveryReport             // delivery status notification without failure (delay warning, success notice)
	KindFeedback                   // abuse/feedback report (RFC 5965 ARF)
	KindLoop                       // our own mail came back
	KindAutoReply                  // vacation notice, read receipt or other automatic answer
	KindList                       // mailing list or bulk mail
	KindChallenge                  // challenge-response request: a program holds our message until a person confirms
)

// String returns a stable lower-case name for the kind.
func (k Kind) String() string {
	switch k {
	case KindNormal:
		return "normal"
	case KindBounce:
		return "bounce"
	case KindDeliveryReport:
		return "delivery-report"
	case KindFeedback:
		return "feedback"
	case KindLoop:
		return "loop"
	case KindAutoReply:
		return "auto-reply"
	case KindList:
		return "list"
	case KindChallenge:
		return "challenge"
	}
	return "unknown"
}

// Classification is the result of Classify.
type Classification struct {
	// Kind is the primary class.
	Kind Kind
	// Bounce describes the delivery report when Kind is KindBounce or
	// KindDeliveryReport.
	Bounce *Bounce
	// AutoReply, Loop, List, Bulk and Challenge report the individual
	// findings (several may be true; Kind picks one).
	AutoReply, Loop, List, Bulk, Challenge bool
	// AutoAnswerSuppressed is true when the sender asked not to be answered
	// automatically (Exchange's X-Auto-Response-Suppress: All, AutoReply or
	// OOF), and whenever the message carries a mark that an automatic
	// answer must never go to, whatever else it carries: a null return
	// path (Return-Path: <>), any Auto-Submitted field other than "no"
	// (with several, one that is not "no" wins), a vendor loop header
	// (X-MS-Exchange-Inbox-Rules-Loop, X-Loop, X-OTRS-Loop,
	// RT-Loop-Prevention) or an autoresponder marker (X-Autoreply,
	// X-Autorespond, ...) not set to no. The message may still be a
	// person's, so Kind is unchanged, but AutoAnswerAllowed is false.
	AutoAnswerSuppressed bool
	// Signals names the rules that fired, for logs and debugging
	// (for example "header:auto-submitted", "report:delivery-status").
	Signals []string
	// AutoAnswerAllowed is false for bounces, feedback reports, loops,
	// auto-replies, challenge-response requests, list or bulk mail, and
	// when AutoAnswerSuppressed.
	AutoAnswerAllowed bool
}

// Bounce describes a delivery status notification.
type Bounce struct {
	// Format is "rfc3464" when a machine-readable report was parsed and
	// "heuristic" when the bounce was recognised from its text.
	Format string
	// Permanent is true for a hard bounce (status 5.x.x, or a failure
	// without any code), false for a soft one (4.x.x, delayed) or a report
	// of successful delivery.
	Permanent bool
	// Status is the most relevant enhanced status code ("5.1.1"), "" if none.
	Status string
	// Recipients lists the recipients the report is about.
	Recipients []BounceRecipient
	// OriginalMessageID is the Message-ID of the message that bounced,
	// without angle brackets; "" if it could not be found.
	OriginalMessageID string
	// Original is the header of the returned message, if included.
	Original *Header
}

// BounceRecipient is the status of one recipient in a bounce.
type BounceRecipient struct {
	Address        string
	Action         string // failed, delayed, delivered, relayed, expanded; "failed" when guessed
	Status         string // enhanced status code, "" if none found
	ReplyCode      string // SMTP reply code ("550"), "" if none found
	DiagnosticCode string
	RemoteMTA      string
	Permanent      bool
}

// Classify decides whether m is a bounce, a feedback report, a loop, an
// auto-reply or list mail, and whether an automatic answer is allowed. It
// looks at the report structure and body first, so a delivery report that
// also carries auto-reply headers is a bounce.
func Classify(m *Message, opts ClassifyOptions) Classification {
	var c Classification
	if m == nil {
		return c
	}
	loopHdr := opts.LoopHeader
	if loopHdr == "" {
		loopHdr = DefaultLoopHeader
	}
	h := &m.Header
	sig := func(s string) { c.Signals = append(c.Signals, s) }

	// Loop.
	if h.Has(loopHdr) {
		c.Loop = true
		sig("header:" + strings.ToLower(loopHdr))
	}
	for _, a := range append(append([]*mail.Address{}, m.From...), m.Sender) {
		if a == nil {
			continue
		}
		for _, own := range opts.OwnAddresses {
			if own != "" && strings.EqualFold(strings.TrimSpace(own), a.Address) {
				c.Loop = true
				sig("from:own-address")
			}
		}
	}

	// Automatic answers: auto-replies, challenge-response requests, and
	// senders asking not to be answered automatically.
	auto := findAutomatic(m, sig)
	c.AutoReply = auto.autoReply
	c.Challenge = auto.challenge
	c.AutoAnswerSuppressed = auto.suppress
	switch prec := strings.ToLower(strings.TrimSpace(h.Get("Precedence"))); prec {
	case "bulk", "junk":
		c.Bulk = true
		sig("header:precedence-" + prec)
	case "list":
		c.List = true
		sig("header:precedence-list")
	}

	// List mail.
	for _, name := range []string{"List-Id", "List-Unsubscribe", "List-Post", "Mailing-List"} {
		if h.Has(name) {
			c.List = true
			sig("header:" + strings.ToLower(name))
			break
		}
	}

	// Reports and bounces, decided from the structure and body.
	feedback := m.ReportType == "feedback-report" || m.Report != nil && m.Report.ContentType == "message/feedback-report"
	if feedback {
		sig("report:feedback-report")
	}
	var b *Bounce
	if !feedback && !c.Challenge {
		// A challenge-response request is never a bounce, even when it is
		// built as a delivery report: our message is held, not refused.
		b = detectBounce(m, sig)
	}

	switch {
	case c.Challenge:
		c.Kind = KindChallenge
	case b != nil && b.failed():
		c.Kind, c.Bounce = KindBounce, b
	case b != nil:
		c.Kind, c.Bounce = KindDeliveryReport, b
	case feedback:
		c.Kind = KindFeedback
	case c.Loop:
		c.Kind = KindLoop
	case c.AutoReply:
		c.Kind = KindAutoReply
	case c.List || c.Bulk:
		c.Kind = KindList
	}
	// Marks that forbid an automatic answer whatever else the message
	// carries.
	if marks := neverAnswer(h); len(marks) > 0 {
		c.AutoAnswerSuppressed = true
		for _, m := range marks {
			if !slices.Contains(c.Signals, m) {
				sig(m)
			}
		}
	}
	c.AutoAnswerAllowed = c.Kind == KindNormal && !c.Loop && !c.AutoReply && !c.List && !c.Bulk && !c.Challenge && !c.AutoAnswerSuppressed
	return c
}

var (
	bounceSenderRe   = regexp.MustCompile(`(?i)^(mailer[-_]?daemon|postmaster|mail[-_]?delivery[-_]?(system|subsystem)?|bounces?|mdaemon|nobody[-_]?bounce|returned[-_]?mail|mail[-_]?administrator|mailadmin|mail\.?daemon)$`)
	bounceNameRe     = regexp.MustCompile(`(?i)mail delivery (sub)?system|mailer[- ]daemon|postmaster|delivery status notification|mail administrator|mail delivery service`)
	enhancedStatusRe = regexp.MustCompile(`(?:^|[^\d.])([245]\.\d{1,3}\.\d{1,3})(?:[^\d.]|\.\s|\.$|$)`)
	replyCodeRe      = regexp.MustCompile(`(?:^|[^\d.\w-])([45][0-5]\d)(?:[ -]|$)`)
	emailRe          = regexp.MustCompile(`[A-Za-z0-9._%+=/'!#$&*?^{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+`)
	origMarkerRe     = regexp.MustCompile(`(?i)^\s*[-=*_#>]{2,}.*(original|returned|copy of|headers? of|message headers|undelivered message|rfc ?822)|^\s*(original message( headers?)? (is |are )?(follows|below|attached)|below (this line )?is a copy|the (original|returned) message (headers? )?(is|are|follows)|received:\s|return-path:\s)`)
	embeddedDSNRe    = regexp.MustCompile(`(?im)^[ \t]*(reporting-mta|final-recipient|original-recipient)[ \t]*:`)
	headerLineRe     = regexp.MustCompile(`(?im)^\s*message-id\s*:\s*(<[^<>\s]+>)`)
)

// detectBounce recognises a delivery status notification, from an RFC 3464
// report or, failing that, from general signals. It returns nil if m is not
// a bounce.
func detectBounce(m *Message, sig func(string)) *Bounce {
	h := &m.Header
	text := m.Text
	if strings.TrimSpace(text) == "" && m.HTML != "" {
		text = stripTags(m.HTML)
	}
	// RFC 3464 report.
	if m.Report != nil && (m.Report.ContentType == "message/delivery-status" || m.Report.ContentType == "message/global-delivery-status") && len(m.Report.Recipients) > 0 {
		sig("report:delivery-status")
		notice, _ := splitOriginal(text)
		b := &Bounce{Format: "rfc3464"}
		for _, r := range m.Report.Recipients {
			br := BounceRecipient{
				Address:        r.FinalRecipient,
				Action:         r.Action,
				Status:         r.Status,
				DiagnosticCode: r.DiagnosticCode,
				RemoteMTA:      r.RemoteMTA,
			}
			if br.Address == "" {
				br.Address = r.OriginalRecipient
			}
			br.Status = refineStatus(br.Status, r.DiagnosticCode)
			if br.Status == "" {
				br.Status = firstStatus(notice)
			}
			if mm := replyCodeRe.FindStringSubmatch(r.DiagnosticCode); mm != nil {
				br.ReplyCode = mm[1]
			}
			br.Permanent = permanent(br.Action, br.Status, br.ReplyCode)
			b.Recipients = append(b.Recipients, br)
		}
		finishBounce(b, m, notice, text)
		return b
	}

	score := 0
	fromBounceSender := false
	for _, a := range m.From {
		local, _, _ := strings.Cut(a.Address, "@")
		if bounceSenderRe.MatchString(local) || bounceNameRe.MatchString(a.Name) {
			fromBounceSender = true
		}
	}
	if len(m.From) == 0 && bounceNameRe.MatchString(h.Get("From")) {
		fromBounceSender = true
	}
	if fromBounceSender {
		score += 2
		sig("from:mailer-daemon")
	}
	if rp := strings.TrimSpace(h.Get("Return-Path")); rp == "<>" || rp == "" && h.Has("Return-Path") {
		score++
		sig("header:null-return-path")
	}
	failed := h.Values("X-Failed-Recipients")
	if len(failed) > 0 {
		score += 3
		sig("header:x-failed-recipients")
	}
	if m.ReportType == "delivery-status" {
		score += 3
		sig("structure:multipart-report")
	}
	if failureSubjects.match(strings.ToLower(m.Subject)) {
		score += 2
		sig("subject:delivery-failure")
	}
	// A notice is sent by the mail system, and says so in its header: a
	// daemon sender, a null return path, X-Failed-Recipients, a report
	// structure or a failure subject. Without any of these the body alone
	// does not make a bounce (a person forwarding a bounce they received
	// wrote a message to us), and ordinary mail skips the body scan.
	if score == 0 {
		return nil
	}
	notice, _ := splitOriginal(text)

	// A delivery status report pasted into the text (vendor formats).
	if loc := findEmbeddedDSN(notice); loc != nil {
		if r := parseReport("message/delivery-status", []byte(notice[loc[0]:])); len(r.Recipients) > 0 && r.Recipients[0].Action+r.Recipients[0].Status != "" {
			m2 := *m
			m2.Report = r
			if b := detectBounce(&m2, sig); b != nil {
				b.Format = "text-report"
				return b
			}
		}
	}

	lowerNotice := strings.ToLower(notice)
	if failurePhrases.match(lowerNotice) {
		score += 2
		sig("body:delivery-failure")
	}
	if hasSMTPReplyLine(notice) {
		score++
		sig("body:smtp-reply-line")
	}
	for _, l := range strings.Split(lowerNotice, "\n") {
		if strings.IndexByte(l, '@') >= 0 && failurePhrases.match(l) && emailRe.MatchString(l) {
			score++
			sig("body:failure-near-address")
			break
		}
	}
	recips := scanRecipients(notice)
	if len(recips) > 0 {
		score += 2
		sig("body:status-near-address")
	}
	if m.Original != nil || containsFold(text, "message-id") && headerLineRe.MatchString(text) {
		score++
		sig("body:original-headers")
	}
	if score < 5 {
		return nil
	}
	b := &Bounce{Format: "heuristic"}
	seen := map[string]bool{}
	for _, r := range recips {
		seen[strings.ToLower(r.Address)] = true
		b.Recipients = append(b.Recipients, r)
	}
	for _, v := range failed {
		for _, a := range emailRe.FindAllString(v, -1) {
			if !seen[strings.ToLower(a)] {
				seen[strings.ToLower(a)] = true
				b.Recipients = append(b.Recipients, BounceRecipient{Address: a, Action: "failed"})
			}
		}
	}
	st := firstStatus(notice)
	delayed := st == "" || st[0] == '4'
	for _, r := range b.Recipients {
		delayed = delayed && (r.Status == "" || r.Status[0] == '4') && (r.ReplyCode == "" || r.ReplyCode[0] == '4')
	}
	delayed = delayed && (delayRe.MatchString(m.Subject) || delayRe.MatchString(notice)) && len(failed) == 0
	for i := range b.Recipients {
		r := &b.Recipients[i]
		if r.Status == "" {
			r.Status = st
		}
		if delayed {
			r.Action = "delayed"
		}
		r.Permanent = permanent(r.Action, r.Status, r.ReplyCode)
	}
	if len(b.Recipients) == 0 && st != "" {
		b.Status = st
	}
	finishBounce(b, m, notice, text)
	return b
}

// failed reports whether the report is about at least one failed delivery.
func (b *Bounce) failed() bool {
	if len(b.Recipients) == 0 {
		return true
	}
	for _, r := range b.Recipients {
		switch r.Action {
		case "delayed", "delivered", "relayed", "expanded":
		default:
			return true
		}
	}
	return false
}

var delayRe = regexp.MustCompile(`(?i)delay|warning|still (being )?(tried|retried)|will (keep )?(retry|trying)|not yet (been )?delivered|(no|not) need to resend`)

// finishBounce fills the summary fields of b.
func finishBounce(b *Bounce, m *Message, notice, text string) {
	for _, r := range b.Recipients {
		if b.Status == "" && r.Status != "" {
			b.Status = r.Status
		}
		if r.Permanent {
			b.Permanent = true
			if r.Status != "" && r.Status[0] == '5' {
				b.Status = r.Status
			}
		}
	}
	if b.Status == "" {
		b.Status = firstStatus(notice)
	}
	if len(b.Recipients) == 0 {
		b.Permanent = permanent("failed", b.Status, "")
	}
	b.Original = m.Original
	if m.Original != nil {
		b.OriginalMessageID = firstMsgID(m.Original.Get("Message-ID"))
	}
	if b.OriginalMessageID == "" {
		if mm := headerLineRe.FindStringSubmatch(text); mm != nil {
			b.OriginalMessageID = strings.Trim(mm[1], "<>")
		}
	}
	if b.OriginalMessageID == "" {
		for _, ids := range [][]string{m.InReplyTo, m.References} {
			if len(ids) > 0 {
				b.OriginalMessageID = ids[len(ids)-1]
				break
			}
		}
	}
}

// permanent decides hard vs soft from the action and codes.
func permanent(action, status, reply string) bool {
	switch action {
	case "delayed", "delivered", "relayed", "expanded":
		return false
	}
	switch {
	case status != "":
		return status[0] == '5'
	case reply != "":
		return reply[0] == '5'
	}
	return true
}

// refineStatus replaces a generic status (x.0.0) by a more specific code of
// the same class found in the diagnostic text.
func refineStatus(status, diag string) string {
	for _, mm := range enhancedStatusRe.FindAllStringSubmatch(diag, -1) {
		d := mm[1]
		if status == "" {
			return d
		}
		if strings.HasSuffix(status, ".0.0") && d[0] == status[0] && d != status {
			return d
		}
	}
	return status
}

// firstStatus returns the first enhanced status code in s, preferring a
// specific one to a generic x.0.0.
func firstStatus(s string) string {
	first := ""
	for _, mm := range enhancedStatusRe.FindAllStringSubmatch(s, 50) {
		d := mm[1]
		if first == "" {
			first = d
		}
		if !strings.HasSuffix(d, ".0.0") {
			return d
		}
	}
	return first
}

// splitOriginal splits a bounce text into the notice and the returned
// original message, at the first marker line.
func splitOriginal(text string) (notice, original string) {
	lines := strings.SplitAfter(text, "\n")
	off := 0
	for i, l := range lines {
		if i > 0 && mayMarkOriginal(l) && origMarkerRe.MatchString(l) {
			return text[:off], text[off:]
		}
		off += len(l)
	}
	return text, ""
}

// scanRecipients finds addresses with an enhanced status or SMTP reply code
// on the same line or within the next three lines.
func scanRecipients(notice string) []BounceRecipient {
	lines := strings.Split(notice, "\n")
	var out []BounceRecipient
	seen := map[string]int{}
	for i, l := range lines {
		if strings.IndexByte(l, '@') < 0 {
			continue
		}
		for _, a := range emailRe.FindAllString(l, 4) {
			a = strings.Trim(a, ".")
			key := strings.ToLower(a)
			var st, rc string
			for j := i; j < len(lines) && j <= i+3; j++ {
				if j > i && emailRe.MatchString(lines[j]) && st+rc != "" {
					break
				}
				if st == "" {
					if mm := enhancedStatusRe.FindStringSubmatch(lines[j]); mm != nil {
						st = mm[1]
					}
				}
				if rc == "" {
					if mm := replyCodeRe.FindStringSubmatch(lines[j]); mm != nil {
						rc = mm[1]
					}
				}
			}
			if st == "" && rc == "" {
				continue
			}
			if k, ok := seen[key]; ok {
				if out[k].Status == "" {
					out[k].Status = st
				}
				continue
			}
			seen[key] = len(out)
			out = append(out, BounceRecipient{Address: a, Action: "failed", Status: st, ReplyCode: rc, DiagnosticCode: strings.TrimSpace(l)})
		}
	}
	return out
}

var tagRe = regexp.MustCompile(`(?s)<(script|style)[^>]*>.*?</(script|style)>|<[^>]*>`)

// stripTags turns HTML into rough text for the bounce heuristics.
func stripTags(s string) string {
	s = tagRe.ReplaceAllStringFunc(s, func(t string) string {
		lt := strings.ToLower(t)
		if strings.HasPrefix(lt, "<br") || strings.HasPrefix(lt, "<p") || strings.HasPrefix(lt, "</p") || strings.HasPrefix(lt, "<div") || strings.HasPrefix(lt, "<tr") || strings.HasPrefix(lt, "</tr") {
			return "\n"
		}
		return " "
	})
	r := strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&", "&nbsp;", " ", "&quot;", `"`)
	return r.Replace(s)
}

// phrase is a failure wording: a literal every match contains, and, when
// the wording has variants, a small regexp over lower-case text run only
// where the literal occurs. One large case-insensitive alternation costs
// about a millisecond per ordinary body in Go's NFA; this costs a few
// substring searches.
type phrase struct {
	lit string
	re  *regexp.Regexp
}

type phrases []phrase

func (ps phrases) match(lower string) bool {
	for _, p := range ps {
		if !strings.Contains(lower, p.lit) {
			continue
		}
		if p.re == nil || p.re.MatchString(lower) {
			return true
		}
	}
	return false
}

func lit(s string) phrase { return phrase{lit: s} }

func pat(literal, re string) phrase { return phrase{lit: literal, re: regexp.MustCompile(re)} }

// failurePhrases say, in a notice's own words, that a delivery failed.
// Match them against lower-case text.
var failurePhrases = phrases{
	lit("could not be delivered"), lit("couldn't be delivered"), lit("was not delivered"), lit("wasn't delivered"),
	lit("undeliverable"), lit("undelivered"),
	pat("delivery ", `delivery (to the following|has failed|failed|failure|problem|error|attempts? (will continue|failed))`),
	pat("permanent", `permanent(ly)? (error|failure|fatal)`),
	lit("fatal error"), lit("user unknown"), lit("unknown user"),
	pat("no such ", `no such (user|mailbox|recipient|address)`),
	pat("mailbox ", `mailbox (unavailable|is full|full|not found|disabled|does not exist|quota)`),
	lit("quota exceeded"), lit("over quota"),
	pat("recipient ", `recipient (address )?rejected`),
	lit("address rejected"), lit("unable to deliver"),
	pat("sorry to ", `i'?m sorry to (have to )?inform you`),
	lit("not able to deliver"), lit("wasn't able to deliver"),
	pat("following ", `following (recipient|address|destination)`),
	pat("message ", `message (could not|cannot|can ?not) be (delivered|sent)`),
	lit("this is the mail system at"), lit("this message was created automatically by mail delivery software"),
	lit("returned to sender"), lit("delivery status notification"), lit("host unknown"),
	pat("domain ", `domain (not found|does not exist)`),
	pat("relay", `relay(ing)? (access )?denied`),
	pat("message ", `message (has been|was) (rejected|blocked|refused)`),
	pat("rejected ", `rejected (your|the) message`),
	pat("afraid i was", `i'?m afraid i wasn'?t able`),
	pat("transcript of ", `transcript of (the )?session`),
	lit("could not deliver"), lit("failed to deliver"),
	pat("delivery to ", `delivery to .{1,80} failed`),
	lit("not delivered to"), lit("has been delayed"), lit("will retry"),
	pat("still ", `still (trying|being retried)`),
	lit("送信できません"), lit("配送できません"), lit("届きませんでした"), lit("宛先"), lit("見つかりません"),
}

// failureSubjects are subjects of delivery-failure notices, lower-case.
var failureSubjects = phrases{
	lit("undeliver"), lit("nondeliverable"),
	pat("delivery ", `delivery (status notification|fail|problem|notification|error|report|has failed|delayed)`),
	lit("returned mail"), lit("returning message"), lit("failure notice"),
	pat("delivery", `non[- ]?delivery`),
	pat("could not ", `could not (be )?deliver`),
	pat("delivered", `not (been )?delivered`),
	pat("error", `mail (system )?error`),
	lit("failed delivery"), lit("mail delivery"), lit("unable to deliver"),
	pat("permanent", `permanent(ly)? (error|failure)`),
	lit("rejected"),
	pat("blocked", `message (was )?blocked`),
	lit("bounce"), lit("warning: could not send"), lit("delayed mail"), lit("message delayed"),
	lit("returned to sender"), lit("mail failure"), lit("mail could not"), lit("failed to deliver"),
	lit("error sending"), lit("user unknown"), lit("not reachable"),
	lit("unzustellbar"), lit("nicht zustellbar"), lit("non remis"), lit("no entregado"), lit("erro na entrega"),
	lit("返送"), lit("エラー"), lit("未配信"), lit("配送"), lit("送信できません"),
}

// containsFold reports whether s contains the lower-case ASCII word w in
// any case, without copying s.
func containsFold(s, w string) bool {
	for i := 0; i+len(w) <= len(s); i++ {
		j := 0
		for ; j < len(w); j++ {
			c := s[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != w[j] {
				break
			}
		}
		if j == len(w) {
			return true
		}
	}
	return false
}

// findEmbeddedDSN finds DSN fields written into a notice's text; the
// regexp runs only when one of their names occurs.
func findEmbeddedDSN(notice string) []int {
	if !containsFold(notice, "reporting-mta") && !containsFold(notice, "-recipient") {
		return nil
	}
	return embeddedDSNRe.FindStringIndex(notice)
}

// mayMarkOriginal is a cheap test a line must pass before origMarkerRe runs
// on it: it starts with a separator or names the original or its headers.
func mayMarkOriginal(l string) bool {
	t := strings.TrimLeft(l, " \t")
	if t != "" && strings.IndexByte("-=*_#>", t[0]) >= 0 {
		return true
	}
	for _, w := range []string{"original", "below", "returned", "received:", "return-path:"} {
		if containsFold(l, w) {
			return true
		}
	}
	return false
}

// hasSMTPReplyLine reports whether a line starts (after blanks) with an
// SMTP reply code of class 4 or 5 followed by a space or dash and text, as
// transcripts quote a server's refusal ("550 5.1.1 user unknown").
func hasSMTPReplyLine(text string) bool {
	for len(text) > 0 {
		line := text
		if i := strings.IndexByte(text, '\n'); i >= 0 {
			line, text = text[:i], text[i+1:]
		} else {
			text = ""
		}
		line = strings.TrimLeft(line, " \t")
		if len(line) < 5 || (line[0] != '4' && line[0] != '5') || line[1] < '0' || line[1] > '5' || line[2] < '0' || line[2] > '9' {
			continue
		}
		rest := line[3:]
		n := len(rest) - len(strings.TrimLeft(rest, " -"))
		if n > 0 && n < len(rest) && rest[n] != ' ' && rest[n] != '\t' && rest[n] != '\r' {
			return true
		}
	}
	return false
}
