package message

import (
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Confidence says how sure ExtractReply is that Reply.Text is exactly the
// new part of a reply.
type Confidence int

// Confidence levels, from least to most sure. The zero value is not a level.
const (
	// ConfidenceLow: the text mixes new and quoted lines (an inline or
	// bottom-posted reply) or nothing told where the history starts; Text
	// is then the whole text minus what is surely not new.
	ConfidenceLow Confidence = iota + 1
	// ConfidenceMedium: the cut rests on a weaker sign, such as a block of
	// ">" lines without an attribution line, or an attribution line not
	// followed by quoted text.
	ConfidenceMedium
	// ConfidenceHigh: the cut rests on a strong sign: the reply marker, a
	// client's quote container in HTML, a quoted header block ("From: ...
	// Sent: ..."), a separator line ("-----Original Message-----") or an
	// attribution line ("On ... wrote:") followed by quoted text; or the
	// text has no quoted part at all.
	ConfidenceHigh
)

// String returns "low", "medium" or "high".
func (c Confidence) String() string {
	switch c {
	case ConfidenceLow:
		return "low"
	case ConfidenceMedium:
		return "medium"
	case ConfidenceHigh:
		return "high"
	}
	return "unknown"
}

// CutBy names what decided where the new part of a reply ends.
type CutBy string

// What can decide the cut.
const (
	CutNone        CutBy = "none"        // nothing quoted found: the whole text is new
	CutMarker      CutBy = "marker"      // the reply marker (ReplyMarker)
	CutHTMLQuote   CutBy = "html-quote"  // a client's quote container in HTML
	CutHeaderBlock CutBy = "header"      // a quoted header block (From:/Sent:/To:/Subject:)
	CutSeparator   CutBy = "separator"   // "-----Original Message-----", a forward line, ...
	CutAttribution CutBy = "attribution" // "On ... wrote:" and its translations
	CutQuote       CutBy = "quote"       // a trailing block of ">" lines
	CutInline      CutBy = "inline"      // new text between quoted lines: nothing cut
)

// Reply is the new part of a reply message, split from the quoted history
// and the signature. Full always keeps the whole text, so a host can show
// it when Confidence is not high enough for its use.
type Reply struct {
	// Text is the new part, without quoted history, attribution line and
	// signature, trimmed of blank lines at both ends.
	Text string
	// Signature is the signature cut from the new part ("-- " and what
	// follows, "Sent from my iPhone" and kin), "" if none.
	Signature string
	// Quoted is what was cut after the new part: attribution or separator
	// lines and the quoted history.
	Quoted string
	// Full is the whole text the reply was taken from.
	Full string
	// Confidence says how sure the cut is.
	Confidence Confidence
	// By names what decided the cut.
	By CutBy
}

// ReplyMarkerPrefix and ReplyMarkerSuffix enclose the reply marker line.
// Any line holding text between them (in any language, quoted or not)
// is recognised as the marker by ExtractReply.
const (
	ReplyMarkerPrefix = "##-"
	ReplyMarkerSuffix = "-##"
)

// ReplyMarker is the English reply marker line. Put it (or the line
// ReplyMarkerFor returns) at the top of the messages the outbound side
// sends, and ExtractReply cuts a customer's answer exactly above it, with
// ConfidenceHigh, whatever client quoted it.
const ReplyMarker = "##- Please type your reply above this line -##"

var replyMarkers = map[string]string{
	"en": ReplyMarker,
	"pt": "##- Por favor, responda acima desta linha -##",
	"es": "##- Por favor, escriba su respuesta encima de esta línea -##",
	"fr": "##- Veuillez répondre au-dessus de cette ligne -##",
	"de": "##- Bitte schreiben Sie Ihre Antwort über dieser Zeile -##",
	"it": "##- Si prega di rispondere sopra questa riga -##",
}

// ReplyMarkerFor returns the reply marker line in the language of the BCP
// 47 tag lang (en, pt, es, fr, de, it; English for any other).
func ReplyMarkerFor(lang string) string {
	l := strings.ToLower(strings.TrimSpace(lang))
	if i := strings.IndexAny(l, "-_"); i >= 0 {
		l = l[:i]
	}
	if m, ok := replyMarkers[l]; ok {
		return m
	}
	return ReplyMarker
}

// isMarkerLine reports whether a (cleaned, unquoted) line is a reply
// marker.
func isMarkerLine(s string) bool {
	i := strings.Index(s, ReplyMarkerPrefix)
	if i < 0 || i > 8 {
		return false
	}
	j := strings.LastIndex(s, ReplyMarkerSuffix)
	return j > i+len(ReplyMarkerPrefix) && len(s)-j-len(ReplyMarkerSuffix) <= 8
}

// maxReplyLines bounds the lines examined; text beyond is kept in Full and
// Quoted only.
const maxReplyLines = 20000

// Attribution lines: a line (or a few wrapped lines) such as "On ...
// wrote:", "Em ... escreveu:", "Am ... schrieb X:" or Gmail's
// "2015-02-02 10:58 GMT-02:00 Name <addr>:".
const attrVerbs = `wrote|writes|said|escreveu|escribió|escribio|a [ée]crit|ha scritto|ha escrit|pisze|작성|schrieb|schreef|skrev|napisał\(a\)|napisała|napisał|napisal|написал\(а\)|написала|написал|написав|пише|пишет|kirjoitti|írta|napsal|yazdı|写道|寫道|のメッセージ`

var (
	// the verb right before the colon ("wrote:", "a écrit :", "schreef het volgende:")
	attrVerbRe = regexp.MustCompile(`(?i)(?:^|[\s"'>)])(?:` + attrVerbs + `)(?:\s+(?:the following|het volgende(?: geschreven)?|folgendes|o seguinte|lo siguiente))?\s*[:：]\s*$`)
	// the verb followed by the writer ("schrieb Max <max@example.org>:")
	// Google's German and Nordic form: "Name <addr> schrieb am Fr., 28. Apr. 2017 um 11:53 Uhr:"
	attrVerbDateRe    = regexp.MustCompile(`(?i)(?:^|\s)(?:schrieb|skrev|schreef|wrote) (?:am|den|op|on)\s.{0,100}[:：]\s*$`)
	attrVerbAnyNameRe = regexp.MustCompile(`(?i)(?:^|\s)(?:` + attrVerbs + `)\s[^:：]{1,80}[:：]\s*$`)
	attrVerbNameRe    = regexp.MustCompile(`(?i)(?:^|\s)(?:` + attrVerbs + `)\s.{0,160}[@<].{0,80}[:：]\s*$`)
	// Zoho: "---- On Tue, ... wrote ----"
	attrDashedRe = regexp.MustCompile(`(?i)^-{2,}\s*\S.{0,250}\b(?:` + attrVerbs + `)\s*-{2,}$`)
	// no verb: a date and the writer's address ending the line with a colon
	attrDateAddrRe = regexp.MustCompile(`^.{0,150}\d.{0,150}<\s*[^<>\s]+@[^<>\s]+\s*>{1,2}\s*[:：]\s*$`)
	// Gmail: "2016-03-03 17:21 GMT+01:00 Name", "2013/7/20 Name <addr>"
	attrGmailDateRe = regexp.MustCompile(`^\d{4}[-/]\d{1,2}[-/]\d{1,2}(?:\s+\d{1,2}:\d{2}\s+GMT[+-]\d{1,2}:\d{2}\s+\S.{0,120}|\s+\S.{0,120}<[^<>\s]+@[^<>\s]+>\s*:?)$`)
	attrStartRe     = regexp.MustCompile(`(?i)^(?:on|em|el|le|am|il|op|den|dne|w dniu|d[ae]n|på|pe|в|у|la|às|as|a las|no dia|\d+)\b`)
	// Separator lines.
	separatorRe    = regexp.MustCompile(`(?i)^[-=_*\s]*(?:original message|mensagem original|mensaje original|message d'origine|message original|ursprüngliche nachricht|urspr[üu]ngliche nachricht|originalnachricht|messaggio originale|oorspronkelijk bericht|origineel bericht|original meddelelse|oprindelig besked|originalmeddelelse|opprinnelig melding|ursprungligt meddelande|alkuperäinen viesti|wiadomość oryginalna|původní zpráva|исходное сообщение|reply message|mensagem de resposta)[-=_*\s:]*$`)
	forwardRe      = regexp.MustCompile(`(?i)^[-=_*\s]*(?:forwarded message|mensagem encaminhada|mensaje reenviado|message transféré|weitergeleitete nachricht|messaggio inoltrato|doorgestuurd bericht|videresendt meddelelse|vidarebefordrat meddelande|пересылаемое сообщение)[-=_*\s:]*$`)
	beginForwardRe = regexp.MustCompile(`(?i)^(?:begin forwarded message|início da mensagem (?:re)?encaminhada|inicio del mensaje reenviado|début du message réexpédié|anfang der weitergeleiteten nachricht|inizio messaggio inoltrato)\s*:?\s*$`)
	underscoreRe   = regexp.MustCompile(`^(?:[_\x{2014}\x{2015}-]{8,}|={4,})$`)
	// Quoted header lines.
	headerFromRe = regexp.MustCompile(`(?i)^\*?\s*(?:from|de|von|da|van|od|fra|från|lähettäjä|от|від|feladó|发件人|寄件者|差出人)\s*\*?\s*[:：]`)
	headerAnyRe  = regexp.MustCompile(`(?i)^\*?\s*(?:from|sent|date|to|cc|bcc|subject|reply-to|de|enviado(?: el| em)?|enviada(?: em)?|data|para|assunto|von|gesendet|datum|an|betreff|envoyé(?: le)?|envoye(?: le)?|à|a|objet|copie à|message du|da|risposta|inviato|oggetto|fecha|asunto|van|verzonden|aan|onderwerp|fra|sendt|dato|til|emne|från|skickat|till|ämne|od|wysłane|do|temat|от|отправлено|кому|тема|发件人|发送时间|收件人|主题|寄件者|傳送時間|收件者|主旨|差出人|送信日時|宛先|件名)\s*\*?\s*[:：]`)
	headerDateRe = regexp.MustCompile(`(?i)^\*?\s*(?:sent|date|enviado(?: el| em)?|enviada(?: em)?|data|gesendet|datum|envoyé(?: le)?|envoye(?: le)?|message du|inviato|fecha|verzonden|sendt|dato|skickat|wysłane|отправлено|发送时间|傳送時間|送信日時)\s*\*?\s*[:：]`)
	// Signatures of mobile and desktop clients.
	mobileSigRe = regexp.MustCompile(`(?i)^[\s<(\[]*(?:` +
		`sent (?:from|via|with|using|by) (?:my )?[^,.;!?]{1,50}(?:[,.]\s*please excuse.{0,60})?|` +
		`sent from \[?mail\]?.{0,120}|` +
		`(?:enviado|enviada) (?:do|de|desde|a partir do|pelo|via|com) (?:meu |mi |minha )?[^,.;!?]{1,50}|` +
		`envoyé (?:de|depuis|avec|à partir de) (?:mon )?[^,.;!?]{1,50}|` +
		`(?:von|mit) meinem [^,.;!?]{1,50} (?:gesendet|versendet|verschickt)\.?|` +
		`gesendet (?:von|mit|über) (?:meinem )?[^,.;!?]{1,50}|` +
		`diese nachricht wurde von meinem .{0,80} gesendet\.?|` +
		`inviato da(?:l)? (?:mio )?[^,.;!?]{1,50}|` +
		`verzonden (?:met|vanaf|van) (?:mijn )?[^,.;!?]{1,50}|` +
		`skickat från (?:min )?[^,.;!?]{1,50}|sendt fra (?:min )?[^,.;!?]{1,50}|lähetetty [^,.;!?]{1,50}|` +
		`wysłane z [^,.;!?]{1,50}|отправлено с [^,.;!?]{1,50}|` +
		`get outlook for .{0,80}|obtenha o outlook para .{0,80}|obter o outlook para .{0,80}|obtener outlook para .{0,80}|télécharger outlook pour .{0,80}|outlook für .{0,40} herunterladen|scarica outlook per .{0,80}|` +
		`from my (?:iphone|ipad|android|mobile|samsung|galaxy|phone|blackberry)[^,.;!?]{0,40}|` +
		`\S+ from mobile|sent by galaxy|` +
		`从我的.{0,20}发送|從我的.{0,20}傳送|` +
		`this message was sent from (?:my )?[^,.;!?]{1,50}` +
		`)\.?(?:\s*[<(\[]?(?:https?|mailto):\S*)?[\s>)\]]*$`)
	sigDashRe = regexp.MustCompile(`^(?:--|-- |__)\s*$`)
	// Supercite quoting: "Richard> text".
	superciteRe = regexp.MustCompile(`^[A-Za-z]{1,12}>(?:\s|$)`)
)

// replyLine is one line of the text with its cleaned, unquoted form.
type replyLine struct {
	raw    string
	clean  string // NBSP and zero-width removed, trimmed
	quoted bool   // starts with '>' (or '|' in some clients' HTML to text)
	body   string // clean without the quote prefix
}

func cleanReplyLine(s string) string {
	if strings.ContainsAny(s, "\u00a0\u200b\u200c\u200d\ufeff\u202f") {
		s = strings.Map(func(r rune) rune {
			switch r {
			case '\u00a0', '\u202f':
				return ' '
			case '\u200b', '\u200c', '\u200d', '\ufeff':
				return -1
			}
			return r
		}, s)
	}
	s = strings.TrimSpace(s)
	if s == "\u1427" { // Gmail add-ons' tracking dot
		return ""
	}
	return s
}

func splitReplyLines(text string) []replyLine {
	text = strings.ReplaceAll(text, "\r\n", "\n")
	text = strings.ReplaceAll(text, "\r", "\n")
	raws := strings.Split(text, "\n")
	if len(raws) > maxReplyLines {
		raws = raws[:maxReplyLines]
	}
	out := make([]replyLine, len(raws))
	for i, r := range raws {
		c := cleanReplyLine(r)
		l := replyLine{raw: r, clean: c, body: c}
		if strings.HasPrefix(c, ">") || superciteRe.MatchString(c) {
			l.quoted = true
			b := c
			if !strings.HasPrefix(b, ">") {
				b = b[strings.IndexByte(b, '>'):]
			}
			for strings.HasPrefix(b, ">") {
				b = strings.TrimLeft(b[1:], " \t")
			}
			l.body = b
		}
		out[i] = l
	}
	return out
}

// ExtractReply splits a plain-text reply into its new part, signature and
// quoted history. It never fails: when nothing marks the history, Text is
// the whole text (minus a trailing signature) with the confidence the signs
// allow.
func ExtractReply(text string) Reply {
	r := extractLines(splitReplyLines(text), 0)
	r.Full = text
	return r
}

// maxReplyDepth bounds the re-reading of a reply whose new text stands
// below a leading attribution or forward header.
const maxReplyDepth = 4

func extractLines(lines []replyLine, depth int) Reply {
	var r Reply
	cut, n, by, conf := findCut(lines)
	if cut < 0 {
		if q := trailingQuoteStart(lines); q >= 0 {
			cut, by, conf = q, CutQuote, ConfidenceMedium
		} else if hasQuoted(lines) {
			return inlineReply(lines)
		} else {
			body, sig := splitSignature(lines)
			r.Text, r.Signature = joinLines(body), joinLines(sig)
			r.By, r.Confidence = CutNone, ConfidenceHigh
			return r
		}
	}
	if by == CutMarker {
		// Everything above the marker is new, less the attribution or
		// header block the client put between (Outlook quotes without
		// ">"): read that part again.
		sub := extractLines(lines[:cut], maxReplyDepth)
		r.Text, r.Signature = sub.Text, sub.Signature
		r.Quoted = strings.TrimSpace(sub.Quoted + "\n" + joinLines(lines[cut:]))
		r.By, r.Confidence = CutMarker, ConfidenceHigh
		return r
	}
	keep := cut
	if by == cutSignature {
		keep = cut + 1 // the signature line itself goes to Signature
	}
	newPart := trimTrailingAttribution(lines[:keep])
	if blankLines(newPart) && by != CutMarker && depth < maxReplyDepth {
		// Nothing above the history: the new text may stand below it
		// (an answer under the attribution line, a forwarded message).
		if rest := belowHistory(lines, cut, n, by); !blankLines(rest) {
			r = extractLines(rest, depth+1)
			r.Confidence = min(r.Confidence, ConfidenceMedium)
			if by == CutHeaderBlock || by == CutSeparator {
				r.Confidence = ConfidenceLow
			}
			return r
		}
	}
	if by == CutAttribution && conf == ConfidenceHigh && !blankLines(newPart) && hasTextAfterQuote(lines[cut+n:]) {
		return inlineReply(lines)
	}
	body, sig := splitSignature(newPart)
	r.Text = joinLines(body)
	r.Signature = joinLines(sig)
	r.Quoted = joinLines(lines[len(newPart):])
	if by == cutSignature {
		r.Quoted = joinLines(lines[keep:])
		by = CutQuote
	}
	r.By, r.Confidence = by, conf
	return r
}

// cutSignature is findCut's report of a client signature line ("Sent from
// my iPhone") followed by the unquoted history; Reply.By says CutQuote.
const cutSignature CutBy = "signature"

// belowHistory returns the lines after a leading attribution line and the
// quote block under it, or after a leading forward or header block.
func belowHistory(lines []replyLine, cut, n int, by CutBy) []replyLine {
	i := cut + n
	switch by {
	case CutAttribution:
		for i < len(lines) && (lines[i].quoted || lines[i].clean == "") {
			i++
		}
	case CutSeparator, CutHeaderBlock:
		for i < len(lines) && lines[i].clean == "" {
			i++
		}
		for i < len(lines) && lines[i].clean != "" {
			i++ // the header lines of the forwarded message
		}
	default:
		return nil
	}
	return lines[i:]
}

// inlineReply keeps the new text written between quoted lines: the whole
// text without attribution lines, the trailing quote block and the
// signature.
func inlineReply(lines []replyLine) Reply {
	var r Reply
	body, sig := splitSignature(lines)
	kept := make([]replyLine, 0, len(body))
	for i := 0; i < len(body); i++ {
		if !body[i].quoted {
			if n := attributionAt(body, i); n > 0 {
				if j := nextNonBlank(body, i+n, 3); j >= 0 && body[j].quoted {
					i += n - 1
					continue
				}
			}
		}
		kept = append(kept, body[i])
	}
	end := len(kept)
	for end > 0 && (kept[end-1].quoted || kept[end-1].clean == "") {
		end--
	}
	if end == 0 {
		end = len(kept) // all quote: keep it
	}
	r.Text = joinLines(kept[:end])
	r.Signature = joinLines(sig)
	r.Quoted = joinLines(kept[end:])
	r.By, r.Confidence = CutInline, ConfidenceLow
	return r
}

func blankLines(ls []replyLine) bool {
	for _, l := range ls {
		if l.clean != "" {
			return false
		}
	}
	return true
}

func hasQuoted(ls []replyLine) bool {
	for _, l := range ls {
		if l.quoted && l.body != "" {
			return true
		}
	}
	return false
}

// hasTextAfterQuote reports whether new text stands between quoted
// lines (an inline reply) before a signature, footer or further history.
// A line right under a quoted line, without a blank line between, is taken
// for a quoted line its client wrapped.
func hasTextAfterQuote(ls []replyLine) bool {
	seenQuote, seenText := false, false
	for i, l := range ls {
		switch {
		case l.clean == "":
		case l.quoted:
			if seenText {
				return true
			}
			seenQuote = true
		case sigDashRe.MatchString(l.raw), underscoreRe.MatchString(l.clean), isMobileSig(l.clean),
			attributionAt(ls, i) > 0, headerBlockAt(ls, i), isSeparator(l.clean), isForward(l.clean):
			return false
		case seenQuote && i > 0 && !ls[i-1].quoted:
			seenText = true
		}
	}
	return false
}

// trailingQuoteStart returns the first line of a block of quoted lines
// that runs (with blank lines) to the end of the text, or -1.
func trailingQuoteStart(ls []replyLine) int {
	end := len(ls)
	for end > 0 && ls[end-1].clean == "" {
		end--
	}
	if end == 0 || !ls[end-1].quoted {
		return -1
	}
	i := end
	for i > 0 && (ls[i-1].quoted || ls[i-1].clean == "") {
		i--
	}
	for i < end && ls[i].clean == "" {
		i++
	}
	if blankLines(ls[:i]) {
		return -1 // all quote: no new text to keep apart
	}
	return i
}

// findCut returns the index of the first line of the quoted history, the
// number of lines of the attribution or separator there, what found it and
// the confidence; -1 when nothing did.
func findCut(ls []replyLine) (int, int, CutBy, Confidence) {
	for i := range ls {
		if isMarkerLine(ls[i].body) {
			return i, 1, CutMarker, ConfidenceHigh
		}
	}
	lastText := -2 // the last line that is neither blank nor a client signature, computed once
	for i := 0; i < len(ls); i++ {
		l := ls[i]
		if l.clean == "" {
			continue
		}
		b := l.body
		if isSeparator(b) || isForward(b) || len(b) < 80 && beginForwardRe.MatchString(b) {
			return i, 1, CutSeparator, ConfidenceHigh
		}
		if underscoreRe.MatchString(b) {
			if j := nextNonBlank(ls, i+1, 3); j >= 0 && headerBlockAt(ls, j) {
				return i, j - i, CutHeaderBlock, ConfidenceHigh
			}
			continue
		}
		if headerBlockAt(ls, i) {
			return i, 0, CutHeaderBlock, ConfidenceHigh
		}
		if n := attributionAt(ls, i); n > 0 {
			if l.quoted && i > 0 && ls[i-1].quoted {
				// An attribution inside the quoted history.
				continue
			}
			j := nextNonBlank(ls, i+n, 3)
			if j >= 0 && (ls[j].quoted || headerBlockAt(ls, j)) || j < 0 && i+n >= len(ls)-1 {
				return i, n, CutAttribution, ConfidenceHigh
			}
			return i, n, CutAttribution, ConfidenceMedium
		}
		if !l.quoted && (i == 0 || ls[i-1].clean == "") && isMobileSig(b) {
			if lastText == -2 {
				lastText = lastTextLine(ls)
			}
			k := nextNonBlank(ls, i+1, 3)
			strong := k >= 0 && (attributionAt(ls, k) > 0 || headerBlockAt(ls, k) ||
				underscoreRe.MatchString(ls[k].body) || isSeparator(ls[k].body) || isForward(ls[k].body))
			if lastText > i && !strong {
				// Without a surer sign below, the signature line itself
				// ends the new text.
				return i, 1, cutSignature, ConfidenceMedium
			}
		}
	}
	return -1, 0, "", 0
}

// lastTextLine returns the index of the last line that is neither blank
// nor a client signature line, or -1.
func lastTextLine(ls []replyLine) int {
	for i := len(ls) - 1; i >= 0; i-- {
		if ls[i].clean != "" && !isMobileSig(ls[i].clean) {
			return i
		}
	}
	return -1
}

// isSeparator reports a "-----Original Message-----" line (the dashes,
// equals signs, underscores or stars are required).
func isSeparator(b string) bool {
	return len(b) < 100 && strings.ContainsAny(b, "-=_*") && separatorRe.MatchString(b)
}

// isForward reports a "---------- Forwarded message ---------" line.
func isForward(b string) bool {
	return len(b) < 100 && strings.ContainsAny(b, "-=_*") && forwardRe.MatchString(b)
}

// isHeaderLine reports a quoted header line ("From: ...", "Assunto: ..."):
// its colon comes within the first few words.
func isHeaderLine(b string) bool {
	i := strings.IndexAny(b, ":：")
	return i > 0 && i <= 40 && headerAnyRe.MatchString(b)
}

func nextNonBlank(ls []replyLine, from, max int) int {
	for k := from; k < len(ls) && k < from+max; k++ {
		if ls[k].clean != "" {
			return k
		}
	}
	return -1
}

// headerBlockAt reports whether a quoted message header starts at line i:
// a From line followed closely by another header line, or two or more
// header lines in a row starting with a From, Date or Sent line.
func headerBlockAt(ls []replyLine, i int) bool {
	first := ls[i].body
	if !isHeaderLine(first) {
		return false
	}
	isFrom := headerFromRe.MatchString(first)
	n, dated := 1, headerDateRe.MatchString(first)
	for k := i + 1; k < len(ls) && k < i+8; k++ {
		b := ls[k].body
		if b == "" {
			if n >= 2 {
				break
			}
			continue
		}
		if isHeaderLine(b) {
			n++
			dated = dated || headerDateRe.MatchString(b)
			continue
		}
		if !strings.Contains(b, ":") && k == i+1 && len(b) < 80 {
			// A wrapped header value (long To: list).
			continue
		}
		break
	}
	// "From: my manager / To: finance" in a customer's text is not a
	// quoted message: two lines need a Sent or Date line among them.
	if isFrom {
		return n >= 3 || n >= 2 && dated
	}
	return n >= 3 && dated
}

// attrNoColonRe: "On <date> <name> <addr> wrote" without its colon.
var attrNoColonRe = regexp.MustCompile(`(?i)^on\b.{0,200}@.{0,80}\bwrote$`)

// isAttrText reports whether s (one line, or wrapped lines joined) is an
// attribution line; start says it begins like one ("On", "Em", a date).
//
// bare allows a short "Name wrote:" line with neither date nor address;
// callers pass it only when quoted lines follow.
func isAttrText(s string, start, bare bool) bool {
	if len(s) > 400 || s == "" {
		return false
	}
	// Cheap test first: every form ends with a colon, dashes or "wrote",
	// or starts with a digit (Gmail's dated forms).
	last, _ := utf8.DecodeLastRuneInString(s)
	if last != ':' && last != '：' && last != '-' && (s[0] < '0' || s[0] > '9') && !strings.HasSuffix(strings.ToLower(s), "wrote") {
		return false
	}
	if attrDashedRe.MatchString(s) || attrGmailDateRe.MatchString(s) || attrDateAddrRe.MatchString(s) || attrNoColonRe.MatchString(s) {
		return true
	}
	if attrVerbRe.MatchString(s) {
		return start || strings.ContainsAny(s, "@<0123456789") || utf8.RuneCountInString(s) < 80 && bare
	}
	if attrVerbNameRe.MatchString(s) || attrVerbDateRe.MatchString(s) {
		return start || strings.ContainsAny(s, "0123456789")
	}
	// "Am 25.06.2015 um 10:55 schrieb Test user:": a dated line with the
	// writer's name (no address) after the verb.
	return start && strings.ContainsAny(s, "0123456789") && attrVerbAnyNameRe.MatchString(s)
}

var replyEmailRe = regexp.MustCompile(`[^\s<>@]+@[^\s<>@]+\.[A-Za-z]{2,}`)

// attributionAt returns how many lines (1 to 5, blank lines included) form
// an attribution line starting at line i, or 0.
func attributionAt(ls []replyLine, i int) int {
	first := ls[i].body
	if len(first) > 300 || first == "" {
		return 0
	}
	start := attrStartRe.MatchString(first)
	j := nextNonBlank(ls, i+1, 3)
	if isAttrText(first, start, j >= 0 && ls[j].quoted) {
		return 1
	}
	if !start && !replyEmailRe.MatchString(first) {
		return 0
	}
	joined := first
	for n := 2; n <= 5 && i+n-1 < len(ls); n++ {
		next := ls[i+n-1].body
		if next == "" {
			continue
		}
		if attrStartRe.MatchString(next) && !strings.HasPrefix(next, "<") && isAttrText(next, true, false) {
			return 0 // the attribution starts on that line
		}
		joined += " " + next
		if len(joined) > 400 {
			return 0
		}
		if isAttrText(joined, start, false) {
			return n
		}
	}
	return 0
}

// trimTrailingAttribution drops trailing blank, attribution and separator
// lines from the new part.
func trimTrailingAttribution(ls []replyLine) []replyLine {
	for {
		end := len(ls)
		for end > 0 && (ls[end-1].clean == "" || ls[end-1].quoted && ls[end-1].body == "") {
			end--
		}
		ls = ls[:end]
		if end == 0 {
			return ls
		}
		last := ls[end-1].body
		switch {
		case underscoreRe.MatchString(last), isSeparator(last):
			ls = ls[:end-1]
			continue
		}
		trimmed := false
		for n := 1; n <= 3 && n <= end; n++ {
			if attributionAt(ls, end-n) == n {
				ls = ls[:end-n]
				trimmed = true
				break
			}
		}
		if !trimmed {
			return ls
		}
	}
}

// splitSignature splits the new part into body and signature: a "-- "
// delimiter line and what follows (when short enough to be a signature),
// then trailing lines of mobile and mail-client signatures.
func splitSignature(ls []replyLine) (body, sig []replyLine) {
	end := len(ls)
	for end > 0 && ls[end-1].clean == "" {
		end--
	}
	ls = ls[:end]
	after := make([]int, len(ls)+1) // after[i]: non-blank lines from i on
	for i := len(ls) - 1; i >= 0; i-- {
		after[i] = after[i+1]
		if ls[i].clean != "" {
			after[i]++
		}
	}
	for i := range ls {
		if sigDashRe.MatchString(ls[i].raw) || ls[i].raw == "-- " || strings.TrimRight(ls[i].raw, " ") == "--" {
			if len(ls)-i <= 25 && i > 0 {
				return trimMobileSig(ls[:i]), ls[i:]
			}
		}
		if i > 0 && listFooterRe.MatchString(ls[i].clean) && after[i+1] <= 8 {
			// A mailing list footer under a line of underscores.
			return trimMobileSig(ls[:i]), ls[i:]
		}
	}
	body = trimMobileSig(ls)
	return body, ls[len(body):]
}

var listFooterRe = regexp.MustCompile(`^_{10,}$`)

func trimMobileSig(ls []replyLine) []replyLine {
	end := len(ls)
	for end > 0 {
		c := ls[end-1].clean
		if c == "" || isMobileSig(c) {
			end--
			continue
		}
		break
	}
	// Keep the text if it was only a signature-like sentence of a body
	// that has nothing else (a one-line message "Sent from my desk").
	return ls[:end]
}

func isMobileSig(s string) bool {
	if utf8.RuneCountInString(s) > 120 {
		return false
	}
	return mobileSigRe.MatchString(s)
}

func joinLines(ls []replyLine) string {
	start, end := 0, len(ls)
	for start < end && strings.TrimFunc(ls[start].raw, unicode.IsSpace) == "" {
		start++
	}
	for end > start && strings.TrimFunc(ls[end-1].raw, unicode.IsSpace) == "" {
		end--
	}
	var sb strings.Builder
	for i := start; i < end; i++ {
		if i > start {
			sb.WriteByte('\n')
		}
		sb.WriteString(strings.TrimRightFunc(ls[i].raw, unicode.IsSpace))
	}
	return sb.String()
}
