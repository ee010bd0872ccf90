package message

import (
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/inbucket/html2text"
	"github.com/microcosm-cc/bluemonday"
	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// HTMLOptions says how SanitizeHTML (and Message.SafeHTML) prepares a
// message's HTML for display. The zero value keeps remote images and drops
// inline images (there is no URL to serve them under).
type HTMLOptions struct {
	// BlockRemoteImages replaces every image loaded from the network
	// (http, https or protocol-relative URLs) by its alt text in
	// brackets, or drops it when it has none, and counts them in
	// SanitizedHTML.RemoteImagesBlocked, so a host can offer to show them.
	// Remote images are tracking pixels as often as content.
	BlockRemoteImages bool
	// PartURL returns the URL under which the host serves an inline part
	// of the message: the target of a cid: reference (RFC 2392), or a
	// part whose Content-Location or file name an image refers to, as
	// Outlook and Apple Mail do. It is trusted: its result is used as
	// given (escaped as an attribute). Nil, or an empty result, drops the
	// image. Use Message.PartByContentID to find the part again when the
	// browser asks for it.
	PartURL func(p *Part) string
	// AllowDataImages keeps images embedded as data: URLs (base64 PNG,
	// GIF, JPEG or WebP). They load nothing from the network; they are
	// dropped by default because a host's content security policy often
	// forbids them.
	AllowDataImages bool
}

// SanitizedHTML is HTML made safe for display in the host's page.
type SanitizedHTML struct {
	// HTML is the sanitised markup: a fragment without scripts, event
	// handlers, forms, frames, objects, embeds, meta refresh, style
	// sheets, CSS that loads or evaluates anything, nor links other than
	// http, https, mailto and tel. Links open in a new window with
	// rel="nofollow noreferrer noopener".
	HTML string
	// RemoteImagesBlocked counts the images BlockRemoteImages removed.
	RemoteImagesBlocked int
	// Inline lists the message parts the HTML shows inline (each once, in
	// order of first use), mapped to URLs with HTMLOptions.PartURL.
	Inline []*Part
	// MissingInline counts inline image references that match no part of
	// the message, or that had no URL: those images were dropped.
	MissingInline int
}

// htmlPolicy is the sanitiser's policy, built once: a bluemonday.Policy is
// safe for concurrent use once built and it is never changed afterwards.
var htmlPolicy = sync.OnceValue(func() *bluemonday.Policy {
	p := bluemonday.UGCPolicy()
	p.AllowRelativeURLs(false) // they would resolve against the host's own site
	p.AllowURLSchemes("http", "https", "mailto", "tel", "cid")
	p.AllowDataURIImages()
	p.RequireNoReferrerOnLinks(true)
	p.AddTargetBlankToFullyQualifiedLinks(true)
	p.AllowElements("font", "center", "span", "div", "u", "s", "strike", "small", "big", "hr", "br", "sub", "sup")
	p.AllowAttrs("color", "face", "size").OnElements("font")
	p.AllowAttrs("align", "valign", "bgcolor", "width", "height", "cellpadding", "cellspacing", "border", "colspan", "rowspan", "dir", "nowrap").
		OnElements("table", "tbody", "thead", "tfoot", "tr", "td", "th", "col", "colgroup", "div", "p", "img", "span", "center", "hr")
	p.AllowAttrs("dir", "lang").Globally()
	// Inline styles only from properties that take no URL and cannot
	// move content over the host's page; bluemonday checks each value.
	p.AllowStyles("color", "background-color", "font-family", "font-size", "font-weight", "font-style",
		"font-variant", "text-align", "text-decoration", "text-indent", "text-transform", "vertical-align",
		"line-height", "letter-spacing", "word-spacing", "white-space", "direction",
		"margin", "margin-top", "margin-bottom", "margin-left", "margin-right",
		"padding", "padding-top", "padding-bottom", "padding-left", "padding-right",
		"border", "border-top", "border-bottom", "border-left", "border-right",
		"border-color", "border-style", "border-width", "border-collapse", "border-spacing", "border-radius",
		"width", "height", "max-width", "min-width", "max-height", "min-height",
		"list-style-type", "table-layout", "caption-side", "empty-cells").Globally()
	return p
})

// SanitizeHTML makes the HTML body of a message safe for display and maps
// its inline images to the parts (of that message) they show. It never
// fails; unusable input yields an empty or shorter result.
func SanitizeHTML(doc string, parts []*Part, opts HTMLOptions) SanitizedHTML {
	var res SanitizedHTML
	if strings.TrimSpace(doc) == "" {
		return res
	}
	root, err := html.Parse(strings.NewReader(doc))
	if err != nil {
		return res
	}
	inline := map[string]*Part{}
	rewriteImages(root, parts, opts, inline, &res)
	var sb strings.Builder
	if err := html.Render(&sb, root); err != nil {
		return res
	}
	safe := htmlPolicy().Sanitize(sb.String())
	if len(inline) > 0 {
		safe = resolveInline(safe, inline, opts, &res)
	}
	res.HTML = strings.TrimSpace(safe)
	return res
}

// inlineToken is the cid: URL SanitizeHTML puts in place of an inline
// reference between the two passes; part i of parts.
func inlineToken(i int) string { return "cid:correio-part-" + strconv.Itoa(i) }

func rewriteImages(n *html.Node, parts []*Part, opts HTMLOptions, inline map[string]*Part, res *SanitizedHTML) {
	for c := n.FirstChild; c != nil; {
		next := c.NextSibling
		if c.Type == html.ElementNode {
			// id and name would let the mail clobber names in the
			// host's page (DOM clobbering).
			htmlRemoveAttr(c, "id")
			htmlRemoveAttr(c, "name")
		}
		if c.Type == html.ElementNode && c.DataAtom == atom.Img {
			rewriteImage(c, parts, opts, inline, res)
		} else {
			rewriteImages(c, parts, opts, inline, res)
		}
		c = next
	}
}

func rewriteImage(img *html.Node, parts []*Part, opts HTMLOptions, inline map[string]*Part, res *SanitizedHTML) {
	src := strings.TrimSpace(htmlAttr(img, "src"))
	htmlRemoveAttr(img, "srcset")
	lower := strings.ToLower(src)
	switch {
	case strings.HasPrefix(lower, "cid:"):
		id := src[4:]
		if u, err := url.PathUnescape(id); err == nil {
			id = u
		}
		id = strings.Trim(strings.TrimSpace(id), "<>")
		if i := partByCID(parts, id); i >= 0 {
			setInline(img, i, parts, inline)
			return
		}
		res.MissingInline++
		replaceWithAlt(img)
	case strings.HasPrefix(lower, "data:"):
		if !opts.AllowDataImages || !dataImageRe.MatchString(lower) {
			replaceWithAlt(img)
		}
	default:
		if i := partByLocation(parts, src); i >= 0 {
			setInline(img, i, parts, inline)
			return
		}
		if strings.HasPrefix(lower, "http:") || strings.HasPrefix(lower, "https:") || strings.HasPrefix(lower, "//") {
			if opts.BlockRemoteImages {
				res.RemoteImagesBlocked++
				replaceWithAlt(img)
			} else if strings.HasPrefix(src, "//") {
				htmlSetAttr(img, "src", "https:"+src)
			}
			return
		}
		// A relative or unknown reference: nothing the host could load.
		replaceWithAlt(img)
	}
}

// dataImageRe matches the data: URLs of raster images (SVG can carry
// script and is left out).
var dataImageRe = regexp.MustCompile(`^data:image/(?:png|gif|jpe?g|webp|bmp);base64,`)

func setInline(img *html.Node, i int, parts []*Part, inline map[string]*Part) {
	tok := inlineToken(i)
	inline[tok] = parts[i]
	htmlSetAttr(img, "src", tok)
}

// partByCID returns the index of the part with Content-ID id, or -1.
func partByCID(parts []*Part, id string) int {
	if id == "" {
		return -1
	}
	for i, p := range parts {
		if p != nil && p.ContentID != "" && strings.EqualFold(p.ContentID, id) {
			return i
		}
	}
	return -1
}

// partByLocation returns the index of the part an image URL names by its
// Content-Location (RFC 2557) or, for a bare file name, by its file name
// or Content-Location, or -1.
func partByLocation(parts []*Part, src string) int {
	if src == "" {
		return -1
	}
	bare := !strings.Contains(src, ":") && !strings.HasPrefix(src, "/")
	for i, p := range parts {
		if p == nil {
			continue
		}
		loc := strings.TrimSpace(p.Header.Get("Content-Location"))
		if loc != "" && loc == src {
			return i
		}
		if bare && !strings.HasPrefix(p.ContentType, "text/") &&
			(p.Filename != "" && p.Filename == src || loc != "" && strings.HasSuffix(loc, "/"+src)) {
			return i
		}
	}
	return -1
}

func replaceWithAlt(img *html.Node) {
	parent := img.Parent
	if parent == nil {
		return
	}
	if alt := strings.TrimSpace(htmlAttr(img, "alt")); alt != "" {
		parent.InsertBefore(&html.Node{Type: html.TextNode, Data: "[" + alt + "]"}, img)
	}
	parent.RemoveChild(img)
}

// resolveInline replaces the inline tokens of sanitised markup by the
// host's URLs.
func resolveInline(safe string, inline map[string]*Part, opts HTMLOptions, res *SanitizedHTML) string {
	ctx := &html.Node{Type: html.ElementNode, Data: "div", DataAtom: atom.Div}
	nodes, err := html.ParseFragment(strings.NewReader(safe), ctx)
	if err != nil {
		return safe
	}
	for _, n := range nodes {
		ctx.AppendChild(n)
	}
	seen := map[*Part]bool{}
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		for c := n.FirstChild; c != nil; {
			next := c.NextSibling
			if c.Type == html.ElementNode && c.DataAtom == atom.Img {
				src := htmlAttr(c, "src")
				if strings.HasPrefix(strings.ToLower(src), "cid:") {
					p := inline[src]
					u := ""
					if p != nil && opts.PartURL != nil {
						u = opts.PartURL(p)
					}
					if u == "" {
						res.MissingInline++
						replaceWithAlt(c)
					} else {
						htmlSetAttr(c, "src", u)
						if !seen[p] {
							seen[p] = true
							res.Inline = append(res.Inline, p)
						}
					}
				}
			} else {
				walk(c)
			}
			c = next
		}
	}
	walk(ctx)
	var sb strings.Builder
	for c := ctx.FirstChild; c != nil; c = c.NextSibling {
		if err := html.Render(&sb, c); err != nil {
			return ""
		}
	}
	return sb.String()
}

func htmlAttr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Namespace == "" && strings.EqualFold(a.Key, key) {
			return a.Val
		}
	}
	return ""
}

func htmlSetAttr(n *html.Node, key, val string) {
	for i, a := range n.Attr {
		if a.Namespace == "" && strings.EqualFold(a.Key, key) {
			n.Attr[i].Val = val
			return
		}
	}
	n.Attr = append(n.Attr, html.Attribute{Key: key, Val: val})
}

func htmlRemoveAttr(n *html.Node, key string) {
	out := n.Attr[:0]
	for _, a := range n.Attr {
		if !strings.EqualFold(a.Key, key) {
			out = append(out, a)
		}
	}
	n.Attr = out
}

func htmlHasClass(n *html.Node, names ...string) bool {
	for _, c := range strings.Fields(htmlAttr(n, "class")) {
		for _, name := range names {
			if strings.EqualFold(c, name) {
				return true
			}
		}
	}
	return false
}

// HTMLToText renders HTML as plain text for display or search, with
// github.com/inbucket/html2text: paragraphs and line breaks kept, links as
// "text ( url )", blockquotes as "> " lines, tables as rows of cells.
func HTMLToText(doc string) string {
	if strings.TrimSpace(doc) == "" {
		return ""
	}
	root, err := html.Parse(strings.NewReader(doc))
	if err != nil {
		return ""
	}
	return nodeText(root)
}

func nodeText(n *html.Node) string {
	s, err := html2text.FromHTMLNode(n)
	if err != nil {
		return ""
	}
	return s
}

// isHTMLQuote reports whether n starts a mail client's quoted history:
// Gmail's gmail_quote, Outlook's divRplyFwdMsg and appendonsend (web,
// mobile and new desktop) and OLK_SRC_BODY_SECTION (Mac), Apple Mail's and
// Thunderbird's blockquote type=cite and moz-cite-prefix, Yahoo's
// yahoo_quoted, Proton's protonmail_quote, Zoho's zmail_extra.
func isHTMLQuote(n *html.Node) bool {
	if n.Type != html.ElementNode {
		return false
	}
	id := htmlAttr(n, "id")
	switch {
	case htmlHasClass(n, "gmail_quote", "gmail_quote_container", "moz-cite-prefix", "yahoo_quoted",
		"protonmail_quote", "zmail_extra", "OutlookMessageHeader", "x_gmail_quote"):
		return true
	case strings.EqualFold(id, "divRplyFwdMsg"), strings.EqualFold(id, "x_divRplyFwdMsg"),
		strings.EqualFold(id, "appendonsend"), strings.EqualFold(id, "OLK_SRC_BODY_SECTION"),
		strings.HasPrefix(strings.ToLower(id), "yahoo_quoted"):
		return true
	case n.DataAtom == atom.Blockquote && strings.EqualFold(htmlAttr(n, "type"), "cite"):
		return true
	}
	return false
}

func isHTMLSignature(n *html.Node) bool {
	if n.Type != html.ElementNode {
		return false
	}
	id := htmlAttr(n, "id")
	return htmlHasClass(n, "gmail_signature", "moz-signature") || strings.EqualFold(htmlAttr(n, "data-smartmail"), "gmail_signature") ||
		strings.EqualFold(id, "Signature") || strings.EqualFold(id, "AppleMailSignature") || strings.EqualFold(id, "ms-outlook-mobile-signature")
}

func htmlFind(n *html.Node, pred func(*html.Node) bool) *html.Node {
	if pred(n) {
		return n
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if f := htmlFind(c, pred); f != nil {
			return f
		}
	}
	return nil
}

// cutFrom detaches n and every node after it in document order, and
// returns them under a new container.
func cutFrom(n *html.Node) *html.Node {
	box := &html.Node{Type: html.ElementNode, Data: "div", DataAtom: atom.Div}
	// An <hr> right before Outlook's reply header belongs to the history.
	start := n
	for p := n.PrevSibling; p != nil; p = p.PrevSibling {
		if p.Type == html.TextNode && strings.TrimSpace(p.Data) == "" {
			continue
		}
		if p.Type == html.ElementNode && p.DataAtom == atom.Hr {
			start = p
		}
		break
	}
	var tail []*html.Node
	for a := start; a != nil && a.Parent != nil; a = a.Parent {
		from := a.NextSibling
		if a == start {
			from = a
		}
		for c := from; c != nil; c = c.NextSibling {
			tail = append(tail, c)
		}
	}
	for _, c := range tail {
		c.Parent.RemoveChild(c)
		box.AppendChild(c)
	}
	return box
}

// ExtractReplyHTML is ExtractReply for an HTML body: it cuts at the quote
// container the sender's client wrote (ConfidenceHigh, By CutHTMLQuote),
// then renders the rest as text (HTMLToText) and applies the plain-text
// rules to it, which also find Outlook desktop's header block, the reply
// marker and attribution lines. Full is the whole HTML rendered as text.
func ExtractReplyHTML(doc string) Reply {
	root, err := html.Parse(strings.NewReader(doc))
	if err != nil {
		return Reply{Confidence: ConfidenceLow, By: CutNone}
	}
	full := nodeText(root)
	q := htmlFind(root, isHTMLQuote)
	var quoted string
	if q != nil {
		quoted = nodeText(cutFrom(q))
	}
	// The signature of the new part only: the quoted messages' own
	// signatures went with the history.
	var sigText string
	if sig := htmlFind(root, isHTMLSignature); sig != nil && sig.Parent != nil {
		sig.Parent.RemoveChild(sig)
		sigText = nodeText(sig)
	}
	r := ExtractReply(nodeText(root))
	r.Full = full
	if q != nil {
		if r.By != CutMarker {
			r.By, r.Confidence = CutHTMLQuote, ConfidenceHigh
		}
		r.Quoted = strings.TrimSpace(strings.TrimSpace(r.Quoted) + "\n\n" + quoted)
	}
	if sigText != "" {
		r.Signature = strings.TrimSpace(sigText + "\n" + r.Signature)
	}
	return r
}

// PlainText returns the message's text body, or, for HTML-only mail, its
// HTML rendered as text (HTMLToText).
func (m *Message) PlainText() string {
	if strings.TrimSpace(m.Text) != "" || m.HTML == "" {
		return m.Text
	}
	return HTMLToText(m.HTML)
}

// ReplyText returns the new part of the message when it is a reply (see
// ExtractReply). It reads the text body; when that gives less than
// ConfidenceHigh and the message also has HTML, the HTML's quote
// containers are tried and the surer result is returned. HTML-only mail is
// read from its HTML (ExtractReplyHTML).
func (m *Message) ReplyText() Reply {
	if strings.TrimSpace(m.Text) != "" {
		r := ExtractReply(m.Text)
		if r.Confidence == ConfidenceHigh || strings.TrimSpace(m.HTML) == "" {
			return r
		}
		if h := ExtractReplyHTML(m.HTML); h.Confidence > r.Confidence && h.Text != "" {
			return h
		}
		return r
	}
	if strings.TrimSpace(m.HTML) != "" {
		return ExtractReplyHTML(m.HTML)
	}
	return Reply{Full: m.Text, Confidence: ConfidenceHigh, By: CutNone}
}

// SafeHTML returns the message's HTML body sanitised for display, its
// inline images mapped to the message's parts (SanitizeHTML). For mail
// without HTML it returns the text body escaped, in a <pre>-like <div>.
func (m *Message) SafeHTML(opts HTMLOptions) SanitizedHTML {
	if strings.TrimSpace(m.HTML) != "" {
		return SanitizeHTML(m.HTML, m.Parts, opts)
	}
	if m.Text == "" {
		return SanitizedHTML{}
	}
	return SanitizedHTML{HTML: `<div style="white-space: pre-wrap">` + html.EscapeString(m.Text) + `</div>`}
}

// PartByContentID returns the part with Content-ID id (angle brackets
// optional, compared case-insensitively), or nil.
func (m *Message) PartByContentID(id string) *Part {
	if i := partByCID(m.Parts, strings.Trim(strings.TrimSpace(id), "<>")); i >= 0 {
		return m.Parts[i]
	}
	return nil
}
