package message

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// Message is a parsed message. Text bodies are decoded to UTF-8; attachment
// and inline parts are described by byte ranges into the raw message and read
// on demand with Part.Open, so a Message stays small whatever the size of
// its attachments.
type Message struct {
	// Header holds every top-level header field in order.
	Header Header

	From    []*mail.Address
	Sender  *mail.Address // nil if absent
	ReplyTo []*mail.Address
	To      []*mail.Address
	Cc      []*mail.Address

	Subject    string    // RFC 2047 decoded
	Date       time.Time // zero if absent or unparsable
	MessageID  string    // without angle brackets
	InReplyTo  []string  // message IDs without angle brackets
	References []string  // message IDs without angle brackets

	// ContentType is the top-level media type, lower case.
	ContentType string

	// Text is the first text/plain body that is not an attachment, decoded
	// to UTF-8 and cut at Options.MaxTextBytes.
	Text string
	// HTML is the first text/html body that is not an attachment, decoded
	// to UTF-8 and cut at Options.MaxTextBytes.
	HTML string

	// Parts lists attachments and inline parts (everything that is neither a
	// multipart container nor the chosen Text/HTML body), in message order.
	Parts []*Part

	// ReportType is the report-type parameter of the first multipart/report
	// entity ("delivery-status", "feedback-report", ...), lower case.
	ReportType string
	// Report is the first machine-readable report (message/delivery-status,
	// message/feedback-report, message/disposition-notification) found.
	Report *Report
	// Original is the header of the first embedded message or header block
	// (message/rfc822, text/rfc822-headers and kin), typically the message a
	// bounce returns. Nil if none.
	Original *Header

	// Warnings lists the defects that were worked around.
	Warnings []Warning

	// Auth says whether the From domain was authenticated; nil unless
	// Options.Auth was set (see Authenticate).
	Auth *Authentication

	// Size is the size of the raw message in bytes.
	Size int64
}

// Part is an attachment or inline part of a message.
type Part struct {
	// Header holds the part's own header fields.
	Header Header
	// ContentType is the media type, lower case ("application/pdf").
	ContentType string
	// Params holds the Content-Type parameters (keys lower case).
	Params map[string]string
	// Disposition is "attachment", "inline" or "" (lower case).
	Disposition string
	// Filename is the RFC 2231/2047 decoded file name, made safe by
	// SanitizeFilename; "" if none.
	Filename string
	// ContentID is the Content-ID without angle brackets, "" if none.
	ContentID string
	// TransferEncoding is the Content-Transfer-Encoding, lower case.
	TransferEncoding string
	// Offset and Length give the encoded body's byte range in the raw message.
	Offset, Length int64
	// Size estimates the decoded size in bytes.
	Size int64
	// Depth is the MIME nesting depth (0 for a single-part message).
	Depth int

	ra io.ReaderAt
}

// Open returns the part's body with the transfer encoding (base64,
// quoted-printable) decoded on the fly from the raw message. Decoding is
// lenient: damaged encodings yield what can be decoded, and DecodeDamage
// tells afterwards how many defects were worked around. The caller must
// close the reader.
func (p *Part) Open() (io.ReadCloser, error) {
	if p == nil || p.ra == nil {
		return nil, errors.New("message: part has no source")
	}
	r, _ := transferDecoder(p.TransferEncoding, p.Raw(), p.Length)
	return partReader{r}, nil
}

// partReader is the reader Part.Open returns.
type partReader struct{ io.Reader }

func (partReader) Close() error { return nil }

func (r partReader) damage() int {
	if d, ok := r.Reader.(interface{ damage() int }); ok {
		return d.damage()
	}
	return 0
}

// DecodeDamage returns how many defects the lenient decoder of a reader
// returned by Part.Open has worked around so far: garbage skipped in
// base64, malformed quoted-printable escapes kept as written. Read the
// part to the end first. It is 0 for an intact part and for any other
// reader. (Text bodies report the same defects as WarnBadBase64 and
// WarnBadQuotedPrintable warnings.)
func DecodeDamage(r io.Reader) int {
	if d, ok := r.(interface{ damage() int }); ok {
		return d.damage()
	}
	return 0
}

// Raw returns the encoded body as found in the raw message.
func (p *Part) Raw() *io.SectionReader {
	return io.NewSectionReader(p.ra, p.Offset, p.Length)
}

// IsAttachment reports whether the part is meant to be saved rather than
// displayed inline.
func (p *Part) IsAttachment() bool {
	return p.Disposition == "attachment" || (p.Disposition != "inline" && p.ContentID == "")
}

// Parse reads the message of size bytes in r. It scans the structure once,
// keeping only header fields, offsets and the decoded text bodies, so
// attachment bodies are never held in memory. Defects it can work around are
// reported in Message.Warnings; it returns a *ParseError (see ErrTooLarge,
// ErrUnreadable, ErrIO) only when the input cannot be read as a message.
//
// Parse does no I/O besides reading r; with Options.Auth and a DKIM
// resolver it looks up DKIM keys without a deadline: use ParseContext then.
func Parse(r io.ReaderAt, size int64, opts Options) (*Message, error) {
	return ParseContext(context.Background(), r, size, opts)
}

// ParseContext is Parse with a context, which bounds the DNS lookups of
// DKIM verification when Options.Auth asks for it; without Options.Auth
// the context is not used.
func ParseContext(ctx context.Context, r io.ReaderAt, size int64, opts Options) (*Message, error) {
	m, err := parse(r, size, opts)
	if err != nil || opts.Auth == nil {
		return m, err
	}
	m.Auth = Authenticate(ctx, r, size, m, *opts.Auth)
	return m, nil
}

func parse(r io.ReaderAt, size int64, opts Options) (*Message, error) {
	opts = opts.withDefaults()
	if size > opts.MaxSize {
		return nil, &ParseError{Reason: ReasonTooLarge, Offset: opts.MaxSize,
			Err: fmt.Errorf("%d bytes, limit %d", size, opts.MaxSize)}
	}
	if size <= 0 {
		return nil, &ParseError{Reason: ReasonEmpty}
	}
	p := &parser{ra: r, opts: opts, msg: &Message{Size: size}}
	if err := p.run(size); err != nil {
		return nil, err
	}
	return p.msg, nil
}

// ParseBytes is Parse over a message held in memory.
func ParseBytes(b []byte, opts Options) (*Message, error) {
	return Parse(bytes.NewReader(b), int64(len(b)), opts)
}

const readBufSize = 64 << 10

type line struct {
	b     []byte // content without terminator; valid until the next read
	start int64  // offset of the first byte
	term  int    // length of the terminator (0 at EOF or for a fragment)
	cont  bool   // continues a previous fragment of the same line
	frag  bool   // the line goes on in the next fragment
}

type lineReader struct {
	br      *bufio.Reader
	off     int64
	sep     byte
	midLine bool
	err     error
	pending *line
}

func (l *lineReader) unread(ln line) {
	c := ln
	c.b = append([]byte(nil), ln.b...)
	l.pending = &c
}

func (l *lineReader) next() (line, bool) {
	if l.pending != nil {
		ln := *l.pending
		l.pending = nil
		return ln, true
	}
	if l.err != nil {
		return line{}, false
	}
	b, err := l.br.ReadSlice(l.sep)
	ln := line{start: l.off, cont: l.midLine}
	l.off += int64(len(b))
	switch err {
	case nil:
		b = b[:len(b)-1]
		ln.term = 1
		if l.sep == '\n' && len(b) > 0 && b[len(b)-1] == '\r' {
			b = b[:len(b)-1]
			ln.term = 2
		} else if l.sep == '\r' {
			if nb, _ := l.br.Peek(1); len(nb) == 1 && nb[0] == '\n' {
				_, _ = l.br.ReadByte()
				l.off++
				ln.term = 2
			}
		}
		l.midLine = false
	case bufio.ErrBufferFull:
		l.midLine = true
		ln.frag = true
	default:
		l.err = err
		l.midLine = false
		if len(b) == 0 {
			return line{}, false
		}
	}
	ln.b = b
	return ln, true
}

type stop struct {
	idx   int // index in the boundary stack; -1 at end of input
	close bool
}

var eofStop = stop{idx: -1}

type parser struct {
	ra     io.ReaderAt
	opts   Options
	msg    *Message
	lr     *lineReader
	stack  [][]byte // active boundaries, outermost first
	nparts int
	warned map[WarningCode]int

	texts     []*Part
	html      *Part
	reports   []*Part
	originals []*Part
}

const maxWarningsPerCode = 5

func (p *parser) warn(code WarningCode, off int64, format string, args ...any) {
	if p.warned == nil {
		p.warned = map[WarningCode]int{}
	}
	p.warned[code]++
	if p.warned[code] > maxWarningsPerCode {
		return
	}
	p.msg.Warnings = append(p.msg.Warnings, Warning{Code: code, Offset: off, Detail: fmt.Sprintf(format, args...)})
}

func (p *parser) run(size int64) error {
	sr := io.NewSectionReader(p.ra, 0, size)
	bufSize := int(min(max(size, 4096), readBufSize))
	br := bufio.NewReaderSize(sr, bufSize)
	sep := byte('\n')
	head, err := br.Peek(bufSize)
	if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
		return &ParseError{Reason: ReasonIO, Err: errors.Join(ErrIO, err)}
	}
	if bytes.IndexByte(head, '\n') < 0 && bytes.IndexByte(head, '\r') >= 0 {
		sep = '\r'
		p.warn(WarnBareCR, 0, "")
	}
	binary := isBinary(head)
	p.lr = &lineReader{br: br, sep: sep}
	p.parseEntity(0, "")
	if p.lr.err != nil && p.lr.err != io.EOF {
		return &ParseError{Reason: ReasonIO, Offset: p.lr.off, Err: errors.Join(ErrIO, p.lr.err)}
	}
	m := p.msg
	if len(m.Header.Fields) == 0 && binary {
		return &ParseError{Reason: ReasonBinary, Err: ErrUnreadable}
	}
	if len(m.Header.Fields) == 0 && len(p.texts) == 0 && p.html == nil && len(m.Parts) == 0 {
		return &ParseError{Reason: ReasonNoHeader, Err: ErrUnreadable}
	}
	p.fillHeaderFields()
	if len(p.texts) == 1 {
		m.Text = p.decodeText(p.texts[0], p.opts.MaxTextBytes)
	} else if len(p.texts) > 0 {
		var sb strings.Builder
		for i, tp := range p.texts {
			if i > 0 {
				sb.WriteString("\n\n")
			}
			sb.WriteString(p.decodeText(tp, p.opts.MaxTextBytes-sb.Len()))
			if sb.Len() >= p.opts.MaxTextBytes {
				break
			}
		}
		m.Text = sb.String()
	}
	if p.html != nil {
		m.HTML = p.decodeText(p.html, p.opts.MaxTextBytes)
	}
	if len(m.Header.Fields) == 0 && strings.TrimSpace(m.Text) == "" && m.HTML == "" && len(m.Parts) == 0 {
		return &ParseError{Reason: ReasonNoHeader, Err: ErrUnreadable}
	}
	for _, rp := range p.reports {
		if b := p.readCapped(rp, 256<<10); b != nil {
			m.Report = parseReport(rp.ContentType, b)
			break
		}
	}
	for _, op := range p.originals {
		if b := p.readCapped(op, p.opts.MaxHeaderBytes); b != nil {
			h, _ := parseHeaderBlock(b)
			if len(h.Fields) > 0 {
				m.Original = &h
				break
			}
		}
	}
	return nil
}

// isBinary reports whether the start of the input looks like binary data
// rather than text: NUL bytes or many control characters.
func isBinary(b []byte) bool {
	if len(b) > 4096 {
		b = b[:4096]
	}
	ctl := 0
	for _, c := range b {
		if c == 0 {
			return true
		}
		if c < 0x20 && c != '\t' && c != '\r' && c != '\n' && c != '\f' && c != 0x1b {
			ctl++
		}
	}
	return len(b) > 0 && ctl*10 > len(b)
}

func (p *parser) readCapped(pt *Part, n int) []byte {
	rc, err := pt.Open()
	if err != nil {
		return nil
	}
	defer rc.Close()
	b, _ := io.ReadAll(io.LimitReader(rc, int64(n)))
	return b
}

func (p *parser) fillHeaderFields() {
	m := p.msg
	h := &m.Header
	addrs := func(name string) []*mail.Address {
		var out []*mail.Address
		for _, v := range h.Values(name) {
			l, ok := parseAddressList(v)
			if !ok {
				p.warn(WarnBadAddress, -1, "%s: %q", name, clip(v, 80))
			}
			out = append(out, l...)
		}
		return out
	}
	m.From = addrs("From")
	m.To = addrs("To")
	m.Cc = addrs("Cc")
	m.ReplyTo = addrs("Reply-To")
	if s := addrs("Sender"); len(s) > 0 {
		m.Sender = s[0]
	}
	m.Subject = h.Text("Subject")
	if v := h.Get("Date"); v != "" {
		if t, ok := parseDate(v); ok {
			m.Date = t
		} else {
			p.warn(WarnBadDate, -1, "%q", clip(v, 80))
		}
	}
	m.MessageID = firstMsgID(h.Get("Message-ID"))
	m.InReplyTo = parseMsgIDs(h.Get("In-Reply-To"))
	m.References = parseMsgIDs(strings.Join(h.Values("References"), " "))
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// matchBoundary checks whether ln is a boundary line of an active multipart,
// innermost first.
func (p *parser) matchBoundary(ln line) (stop, bool) {
	b := ln.b
	if ln.cont || len(p.stack) == 0 || len(b) < 3 || b[0] != '-' || b[1] != '-' {
		return stop{}, false
	}
	b = b[2:]
	for i := len(p.stack) - 1; i >= 0; i-- {
		bd := p.stack[i]
		if !bytes.HasPrefix(b, bd) {
			continue
		}
		rest := b[len(bd):]
		if bytes.HasPrefix(rest, []byte("--")) {
			return stop{idx: i, close: true}, true
		}
		if !ln.frag && len(bytes.Trim(rest, " \t")) == 0 {
			return stop{idx: i}, true
		}
	}
	return stop{}, false
}

// scanBody consumes lines up to the next boundary of an active multipart or
// the end of input and returns the end offset of the body.
func (p *parser) scanBody(start int64) (int64, stop) {
	prevTerm := 0
	for {
		ln, ok := p.lr.next()
		if !ok {
			return p.lr.off, eofStop
		}
		if st, ok := p.matchBoundary(ln); ok {
			return max(start, ln.start-int64(prevTerm)), st
		}
		prevTerm = ln.term
	}
}

// readHeader reads a header block. It returns the offset where the body
// starts and, if the entity ended inside its header (boundary or end of
// input), the stop.
func (p *parser) readHeader(top bool) (Header, int64, *stop) {
	var h Header
	var cur []byte
	total := 0
	truncated := false
	first := true
	flush := func() {
		if cur == nil {
			return
		}
		if !utf8.Valid(cur) {
			p.warn(WarnUndeclared8Bit, -1, "header %q", clip(string(bytes.ToValidUTF8(cur, nil)), 40))
		}
		if f, ok := splitField(cur); ok {
			h.Fields = append(h.Fields, f)
		}
		cur = nil
	}
	add := func(b []byte, off int64) {
		if truncated {
			return
		}
		total += len(b)
		if total > p.opts.MaxHeaderBytes {
			truncated = true
			p.warn(WarnHeaderTruncated, off, "header block over %d bytes", p.opts.MaxHeaderBytes)
			return
		}
		cur = append(cur, b...)
	}
	for {
		ln, ok := p.lr.next()
		if !ok {
			flush()
			return h, p.lr.off, &eofStop
		}
		if ln.cont {
			if cur != nil {
				add(ln.b, ln.start)
			}
			continue
		}
		if st, ok := p.matchBoundary(ln); ok {
			flush()
			return h, ln.start, &st
		}
		b := ln.b
		if top && first {
			if bytes.HasPrefix(b, []byte("\xef\xbb\xbf")) {
				p.warn(WarnByteOrderMark, 0, "")
				b = b[3:]
			}
			if bytes.HasPrefix(b, []byte("From ")) || bytes.HasPrefix(b, []byte(">From ")) {
				p.warn(WarnMboxFromLine, ln.start, "%q", clip(string(b), 60))
				continue
			}
		}
		if len(b) == 0 {
			if top && first {
				// The message starts with an empty line: an empty header
				// block. When header fields follow, the empty line was
				// prepended by a broken tool: skip it and read them.
				nl, ok := p.lr.next()
				if ok {
					p.lr.unread(nl)
				}
				if ok && !nl.cont && len(nl.b) > 0 && nl.b[0] != ' ' && nl.b[0] != '\t' && isFieldLine(nl.b) {
					p.warn(WarnEmptyHeader, ln.start, "leading empty line skipped, header fields follow")
					continue
				}
				p.warn(WarnEmptyHeader, ln.start, "message starts with an empty header block")
			}
			flush()
			return h, ln.start + int64(ln.term), nil
		}
		if b[0] == ' ' || b[0] == '\t' {
			if cur != nil {
				add(b, ln.start)
			} else if first {
				// Leading whitespace lines are ignored.
				continue
			} else {
				p.warn(WarnMalformedHeader, ln.start, "continuation without field")
			}
			continue
		}
		if isFieldLine(b) {
			flush()
			if !truncated {
				cur = make([]byte, 0, len(b)+16)
			}
			add(b, ln.start)
			first = false
			continue
		}
		if first {
			// No header at all: the entity starts with its body.
			if top {
				p.warn(WarnNoHeader, ln.start, "")
			}
			p.lr.unread(ln)
			return h, ln.start, nil
		}
		p.warn(WarnMalformedHeader, ln.start, "%q", clip(string(bytes.ToValidUTF8(b, nil)), 60))
		if bytes.HasPrefix(b, []byte("--")) {
			// The header block may have ended without its blank line: a
			// boundary of this entity's own multipart starts the body.
			flush()
			_, params, _ := parseMediaType(h.Get("Content-Type"))
			if bd := params["boundary"]; bd != "" && bytes.HasPrefix(b[2:], []byte(bd)) {
				p.lr.unread(ln)
				return h, ln.start, nil
			}
		}
		if cur != nil && looksContinued(cur, b) {
			// A folded line that lost its indentation.
			add([]byte(" "), ln.start)
			add(b, ln.start)
		}
	}
}

var paramLineRe = regexp.MustCompile(`^[ \t]*[A-Za-z0-9_-]+\*?[0-9]*\*?[ \t]*=`)

// looksContinued reports whether a line that is not a header field continues
// the field in cur although it is not indented (seen in broken generators).
func looksContinued(cur, b []byte) bool {
	c := bytes.TrimRight(cur, " \t")
	return len(c) > 0 && (c[len(c)-1] == ';' || c[len(c)-1] == ',') || paramLineRe.Match(b)
}

type entity struct {
	header      Header
	mediaType   string
	params      map[string]string
	disposition string
	dparams     map[string]string
}

func (p *parser) newEntity(h Header, parentType string, off int64) *entity {
	e := &entity{header: h}
	ct := h.Get("Content-Type")
	mt, params, ok := parseMediaType(ct)
	if !ok {
		p.warn(WarnBadContentType, off, "%q", clip(ct, 80))
	}
	if mt == "" || !strings.Contains(mt, "/") {
		if ct != "" && mt != "" {
			p.warn(WarnBadContentType, off, "%q", clip(ct, 80))
		}
		mt = "text/plain"
		if parentType == "multipart/digest" {
			mt = "message/rfc822"
		}
	}
	e.mediaType, e.params = mt, params
	if cd := h.Get("Content-Disposition"); cd != "" {
		d, dp, ok := parseMediaType(cd)
		if !ok {
			p.warn(WarnBadDisposition, off, "%q", clip(cd, 80))
		}
		e.disposition, e.dparams = d, dp
	}
	return e
}

// parseEntity parses the entity starting at the current position and
// returns the stop that ended it.
func (p *parser) parseEntity(depth int, parentType string) stop {
	off := p.lr.off
	h, bodyStart, hst := p.readHeader(depth == 0)
	e := p.newEntity(h, parentType, off)
	if depth == 0 {
		p.msg.Header = h
		p.msg.ContentType = e.mediaType
	}
	if hst != nil {
		p.leaf(e, parentType, depth, bodyStart, bodyStart)
		return *hst
	}
	if strings.HasPrefix(e.mediaType, "multipart/") {
		bd := e.params["boundary"]
		switch {
		case bd == "":
			p.warn(WarnMissingBoundary, off, "%s", e.mediaType)
		case depth >= p.opts.MaxDepth:
			p.warn(WarnDepthLimit, off, "depth %d", depth)
		default:
			return p.multipart(e, depth, bodyStart, bd)
		}
	}
	end, st := p.scanBody(bodyStart)
	p.leaf(e, parentType, depth, bodyStart, end)
	return st
}

func (p *parser) multipart(e *entity, depth int, bodyStart int64, boundary string) stop {
	if e.mediaType == "multipart/report" && p.msg.ReportType == "" {
		p.msg.ReportType = strings.ToLower(e.params["report-type"])
	}
	p.stack = append(p.stack, []byte(strings.TrimRight(boundary, " \t")))
	mine := len(p.stack) - 1
	preEnd, st := p.scanBody(bodyStart)
	children := 0
	for {
		switch {
		case st.idx == mine && !st.close:
			children++
			p.nparts++
			if p.nparts > p.opts.MaxParts {
				p.warn(WarnPartLimit, p.lr.off, "more than %d parts", p.opts.MaxParts)
				_, st = p.scanBody(p.lr.off)
				continue
			}
			st = p.parseEntity(depth+1, e.mediaType)
		case st.idx == mine && st.close:
			p.stack = p.stack[:mine]
			_, st = p.scanBody(p.lr.off)
			return st
		default:
			p.warn(WarnUnclosedMultipart, p.lr.off, "%s boundary %q", e.mediaType, clip(boundary, 70))
			p.stack = p.stack[:mine]
			if children == 0 {
				// Not a single boundary line: read the body as text.
				p.leaf(&entity{mediaType: "text/plain", params: map[string]string{}, header: Header{}}, e.mediaType, depth+1, bodyStart, preEnd)
			}
			return st
		}
	}
}

func (p *parser) leaf(e *entity, parentType string, depth int, start, end int64) {
	if p.nparts > p.opts.MaxParts {
		return
	}
	pt := &Part{
		Header:           e.header,
		ContentType:      e.mediaType,
		Params:           e.params,
		Disposition:      strings.ToLower(e.disposition),
		ContentID:        firstMsgID(e.header.Get("Content-ID")),
		TransferEncoding: strings.ToLower(strings.TrimSpace(e.header.Get("Content-Transfer-Encoding"))),
		Offset:           start,
		Length:           end - start,
		Depth:            depth,
		ra:               p.ra,
	}
	if !knownEncoding(pt.TransferEncoding) {
		p.warn(WarnBadEncoding, start, "unknown transfer encoding %q", clip(pt.TransferEncoding, 40))
	}
	pt.Size = pt.Length
	if pt.TransferEncoding == "base64" {
		pt.Size = pt.Length * 57 / 78
	}
	name := e.dparams["filename"]
	if name == "" {
		name = e.params["name"]
	}
	if name != "" {
		dec := DecodeHeaderText(name)
		pt.Filename = SanitizeFilename(dec)
		if pt.Filename != dec {
			p.warn(WarnFilenameChanged, start, "%q", clip(dec, 80))
		}
	}
	switch pt.ContentType {
	case "message/delivery-status", "message/global-delivery-status",
		"message/feedback-report", "message/disposition-notification":
		p.reports = append(p.reports, pt)
	case "message/rfc822", "message/global", "text/rfc822-headers",
		"message/rfc822-headers", "message/global-headers":
		p.originals = append(p.originals, pt)
	}
	if pt.Disposition != "attachment" {
		switch {
		case pt.ContentType == "text/plain" && len(p.texts) == 0 && (pt.Filename == "" || pt.Disposition == ""),
			pt.ContentType == "text/plain" && pt.Filename == "" && parentType != "multipart/alternative":
			p.texts = append(p.texts, pt)
			return
		case pt.ContentType == "text/html" && p.html == nil:
			p.html = pt
			return
		}
	}
	p.msg.Parts = append(p.msg.Parts, pt)
}

// readAllSized is io.ReadAll into a buffer of hint bytes to start with.
func readAllSized(r io.Reader, hint int64) []byte {
	b := make([]byte, 0, max(hint, 512))
	for {
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err != nil {
			return b
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
	}
}

// decodeText decodes a text part to UTF-8, bounded by Options.MaxTextBytes.
func (p *parser) decodeText(pt *Part, limit int) string {
	if limit <= 0 {
		p.warn(WarnTextTruncated, pt.Offset, "%s dropped, text over %d bytes", pt.ContentType, p.opts.MaxTextBytes)
		return ""
	}
	var raw []byte
	if pt.TransferEncoding == "base64" {
		// Text bodies are bounded, so they are decoded line by line, which
		// recovers more of a damaged encoding than the streaming decoder.
		enc, _ := io.ReadAll(io.LimitReader(pt.Raw(), int64(limit)/3*4+64<<10))
		dec, damage, ok := decodeBase64Text(enc)
		switch {
		case !ok:
			p.warn(WarnBadEncoding, pt.Offset, "%s declared base64 but is not, read as is", pt.ContentType)
			raw, _ = io.ReadAll(io.LimitReader(pt.Raw(), int64(limit)+1))
		case damage > 0:
			p.warn(WarnBadBase64, pt.Offset, "%s: %d damaged spots skipped or kept as text", pt.ContentType, damage)
			fallthrough
		default:
			raw = dec
		}
	} else {
		src, _ := transferDecoder(pt.TransferEncoding, pt.Raw(), pt.Length)
		// The decoded text is at most as long as the encoded (both
		// decoders only shrink it): one allocation of that size.
		raw = readAllSized(io.LimitReader(src, int64(limit)+1), min(pt.Length, int64(limit))+1)
		if d, ok := src.(interface{ damage() int }); ok && d.damage() > 0 {
			p.warn(WarnBadQuotedPrintable, pt.Offset, "%s: %d malformed escapes kept as written", pt.ContentType, d.damage())
		}
	}
	truncated := false
	if len(raw) > limit {
		raw = raw[:limit]
		truncated = true
	}
	cs := strings.ToLower(strings.Trim(pt.Params["charset"], " \t\"'"))
	var s string
	s, code := decodeCharset(cs, raw)
	if code != "" {
		p.warn(code, pt.Offset, "%s in charset %q decoded by guess", pt.ContentType, clip(cs, 40))
	}
	if len(s) > limit {
		n := limit
		for n > 0 && !utf8.RuneStart(s[n]) {
			n--
		}
		s = s[:n]
		truncated = true
	}
	if truncated {
		p.warn(WarnTextTruncated, pt.Offset, "%s cut at %d bytes", pt.ContentType, limit)
	}
	return s
}
