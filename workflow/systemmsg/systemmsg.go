// Package systemmsg ships the system's own messages as ready-made templates
// in Brazilian Portuguese and English: confirmation that a request was
// opened, a request for approval, and the completion of a request. A host
// uses them as they are or overrides any of them; they render through the
// workflow package (text/template for subject and text, html/template for
// HTML, missingkey=error) and the subject gets the request's thread token, so
// a customer's reply is matched to its request.
//
// Variables every message reads: Request (the request number), Title,
// Requester (the person it is addressed to) and Sender (the signature). The
// approval request also reads Approver. Optional: Contract, Link,
// Resolution, and Thread (the token id, default Request).
package systemmsg

import (
	"embed"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/correio-dev/correio/threading"
	"github.com/correio-dev/correio/workflow"
)

//go:embed templates
var files embed.FS

// Kind names a system message.
type Kind string

// The system messages.
const (
	RequestOpened     Kind = "opened"
	ApprovalRequested Kind = "approval"
	RequestCompleted  Kind = "completed"
)

// Kinds lists every system message.
func Kinds() []Kind { return []Kind{RequestOpened, ApprovalRequested, RequestCompleted} }

// Languages shipped. Default is English.
const (
	English    = "en"
	Portuguese = "pt-BR"
	Default    = English
)

// Template is the source of one message in one language.
type Template struct {
	Subject string
	Text    string
	HTML    string
}

// ErrUnknown is returned for a kind that is not a system message.
var ErrUnknown = errors.New("systemmsg: unknown message")

// optional variables get an empty default so missingkey=error only catches
// the required ones.
var optional = []string{"Contract", "Link", "Resolution", "Approver"}

type key struct {
	kind Kind
	lang string
}

// Set holds the messages with the host's overrides. The zero Set is not
// usable; call New. A Set is safe for concurrent use.
type Set struct {
	mu       sync.RWMutex
	compiled map[key]*workflow.Templates
	sources  map[key]Template
	tokens   *threading.Tokens
}

// New returns the shipped messages, tagging subjects with tokens (the
// default "[#REQ-<id>]" format when nil).
func New(tokens *threading.Tokens) (*Set, error) {
	if tokens == nil {
		tokens = threading.TokenFormat{}.MustCompile()
	}
	s := &Set{compiled: map[key]*workflow.Templates{}, sources: map[key]Template{}, tokens: tokens}
	for _, lang := range []string{English, Portuguese} {
		for _, k := range Kinds() {
			t, err := shipped(k, lang)
			if err != nil {
				return nil, err
			}
			if err := s.Override(k, lang, t); err != nil {
				return nil, err
			}
		}
	}
	return s, nil
}

func shipped(k Kind, lang string) (Template, error) {
	read := func(ext string) (string, error) {
		b, err := files.ReadFile("templates/" + lang + "/" + string(k) + "." + ext)
		return string(b), err
	}
	var t Template
	var err error
	if t.Subject, err = read("subject"); err != nil {
		return t, err
	}
	t.Subject = strings.TrimSpace(t.Subject)
	if t.Text, err = read("txt"); err != nil {
		return t, err
	}
	t.HTML, err = read("html")
	return t, err
}

// Override replaces (or adds, for another language) one message. The
// templates are compiled now, so a broken override is refused here rather
// than when mail is due.
func (s *Set) Override(k Kind, lang string, t Template) error {
	if k != RequestOpened && k != ApprovalRequested && k != RequestCompleted {
		return fmt.Errorf("%w %q", ErrUnknown, k)
	}
	c, err := workflow.Compile(t.Subject, t.Text, t.HTML)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.compiled[key{k, lang}] = c
	s.sources[key{k, lang}] = t
	return nil
}

// Source returns the template of a message, after overrides, in the best
// language available for lang.
func (s *Set) Source(k Kind, lang string) (Template, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	t, ok := s.sources[key{k, s.match(lang)}]
	if !ok {
		return t, fmt.Errorf("%w %q", ErrUnknown, k)
	}
	return t, nil
}

// Languages returns the languages the set has, sorted.
func (s *Set) Languages() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	seen := map[string]bool{}
	for k := range s.sources {
		seen[k.lang] = true
	}
	var out []string
	for l := range seen {
		out = append(out, l)
	}
	sort.Strings(out)
	return out
}

// match picks the best language: exact (case-insensitive), then the same
// primary subtag ("pt" or "pt-PT" -> "pt-BR"), then English.
func (s *Set) match(lang string) string {
	lang = strings.TrimSpace(lang)
	var primaryMatch string
	for k := range s.sources {
		if strings.EqualFold(k.lang, lang) {
			return k.lang
		}
		if primary(k.lang) == primary(lang) && primaryMatch == "" {
			primaryMatch = k.lang
		}
	}
	if primaryMatch != "" {
		return primaryMatch
	}
	return Default
}

func primary(l string) string {
	l = strings.ToLower(l)
	if i := strings.IndexAny(l, "-_"); i >= 0 {
		return l[:i]
	}
	return l
}

// Render renders message k in the best language for lang with vars, and
// tags the subject with the thread token of vars["Thread"] (or
// vars["Request"]).
func (s *Set) Render(k Kind, lang string, vars workflow.Vars) (workflow.Rendered, error) {
	s.mu.RLock()
	c, ok := s.compiled[key{k, s.match(lang)}]
	s.mu.RUnlock()
	if !ok {
		return workflow.Rendered{}, fmt.Errorf("%w %q", ErrUnknown, k)
	}
	full := make(workflow.Vars, len(vars)+len(optional))
	for _, o := range optional {
		full[o] = ""
	}
	for k, v := range vars {
		full[k] = v
	}
	r, err := c.Render(full)
	if err != nil {
		return r, err
	}
	thread := fmt.Sprint(full["Thread"])
	if full["Thread"] == nil || thread == "" {
		thread = fmt.Sprint(full["Request"])
	}
	r.Subject, err = s.tokens.Tag(r.Subject, thread)
	if err != nil {
		return r, fmt.Errorf("systemmsg: thread token for %q: %w", thread, err)
	}
	return r, nil
}
