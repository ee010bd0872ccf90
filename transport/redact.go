package transport

import (
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/correio-dev/correio/mailbox"
)

// Redacted replaces a secret wherever a Redactor removes one.
const Redacted = "[REDACTED]"

// A Redactor removes the credentials in play for one connection from any
// text a server sent back or an error built from it: servers that quote the
// client's AUTH data in their refusal would otherwise put a password or a
// token into errors, health records, logs and the database.
//
// It knows each secret in the forms it travels in: as is, as an IMAP quoted
// string, and base64-encoded (standard and URL alphabets, with or without
// padding, and at any byte offset inside a longer base64 string, which
// covers the SASL PLAIN, LOGIN and XOAUTH2 blobs). Secrets shorter than
// four bytes are only removed where they stand as a whole word, so that a
// one-letter password does not shred every message.
//
// The zero Redactor and a nil *Redactor remove nothing. A Redactor is safe
// for concurrent use; it never prints its secrets.
type Redactor struct {
	mu sync.RWMutex
	// st sits behind a pointer so that printing a struct holding a
	// Redactor shows an address, never the patterns.
	st *redactState
}

type redactState struct {
	long  []string // removed wherever they occur, longest first
	short []string // removed where they stand as a whole word
}

// minAnywhere is the length from which a secret is removed wherever it
// occurs; minFragment the length of a base64 fragment worth removing.
const (
	minAnywhere = 4
	minFragment = 6
)

// NewRedactor returns a Redactor knowing the password credentials of a
// connection: the password itself and the SASL PLAIN blob built from the
// user name and password. An empty password adds nothing.
func NewRedactor(username string, password mailbox.Secret) *Redactor {
	r := &Redactor{}
	r.AddPassword(username, password)
	return r
}

// AddPassword adds a password and its SASL PLAIN blobs (with and without
// an authorisation identity).
func (r *Redactor) AddPassword(username string, password mailbox.Secret) {
	if r == nil || password.IsZero() {
		return
	}
	pw := password.Reveal()
	r.add(pw, "\x00"+username+"\x00"+pw, username+"\x00"+username+"\x00"+pw)
}

// AddToken adds an OAuth2 access token and the XOAUTH2 blob built from it
// (see XOAUTH2).
func (r *Redactor) AddToken(username string, token mailbox.Secret) {
	if r == nil || token.IsZero() {
		return
	}
	t := token.Reveal()
	r.add(t, string(XOAUTH2(username, token)), "Bearer "+t)
}

// AddSecret adds any other secret (a refresh token, a client secret).
func (r *Redactor) AddSecret(s mailbox.Secret) {
	if r == nil || s.IsZero() {
		return
	}
	r.add(s.Reveal())
}

func (r *Redactor) add(secrets ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := &redactState{}
	if r.st != nil {
		st.long, st.short = slices.Clone(r.st.long), slices.Clone(r.st.short)
	}
	for _, s := range secrets {
		for _, f := range forms(s) {
			if len(f) < minAnywhere {
				if !slices.Contains(st.short, f) {
					st.short = append(st.short, f)
				}
				continue
			}
			if !slices.Contains(st.long, f) {
				st.long = append(st.long, f)
			}
		}
	}
	// Longest first: a whole encoding goes before the fragments inside it.
	slices.SortStableFunc(st.long, func(a, b string) int { return len(b) - len(a) })
	r.st = st
}

// forms lists the ways s may appear in a server's reply.
func forms(s string) []string {
	if s == "" {
		return nil
	}
	out := []string{s}
	if q := imapQuoted(s); q != s {
		out = append(out, q)
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
		out = append(out, enc.EncodeToString([]byte(s)))
		raw := enc.WithPadding(base64.NoPadding)
		// The characters of a base64 string that only the bytes of s
		// determine, for s starting at each of the three byte offsets.
		for k := range 3 {
			e := raw.EncodeToString(append(make([]byte, k), s...))
			from, to := (8*k+5)/6, 8*(k+len(s))/6
			if to-from >= minFragment {
				out = append(out, e[from:to])
			}
		}
	}
	return out
}

// imapQuoted is s as the inside of an IMAP quoted string.
func imapQuoted(s string) string {
	if !strings.ContainsAny(s, `\"`) {
		return s
	}
	return quoter.Replace(s)
}

// quoter is built once: a Replacer's table costs about 18 KB and was
// built per connection.
var quoter = strings.NewReplacer(`\`, `\\`, `"`, `\"`)

// Redact returns s with every known secret replaced by [REDACTED].
func (r *Redactor) Redact(s string) string {
	if r == nil {
		return s
	}
	r.mu.RLock()
	st := r.st
	r.mu.RUnlock()
	if st == nil {
		return s
	}
	for _, p := range st.long {
		if strings.Contains(s, p) {
			s = strings.ReplaceAll(s, p, Redacted)
		}
	}
	for _, p := range st.short {
		s = replaceWord(s, p)
	}
	return s
}

// replaceWord replaces p in s where it is not part of a longer word.
func replaceWord(s, p string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, p)
		if i < 0 {
			break
		}
		end := i + len(p)
		if (i == 0 || !isWordByte(s[i-1])) && (end == len(s) || !isWordByte(s[end])) {
			b.WriteString(s[:i])
			b.WriteString(Redacted)
		} else {
			b.WriteString(s[:end])
		}
		s = s[end:]
	}
	if b.Len() == 0 {
		return s
	}
	b.WriteString(s)
	return b.String()
}

func isWordByte(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '+' || c == '/' || c == '=' || c >= 0x80
}

// RedactError returns err with every known secret removed from its text.
//
// A *Error comes back as a copy whose Message and Hint are redacted. Where
// a cause's text held a secret, the cause is replaced by an error of the
// redacted text which still matches errors.Is against everything the
// original matched, but no longer unwraps to it (the original carries the
// secret); errors.As then finds only the *Error. Errors without a secret
// come back unchanged.
func (r *Redactor) RedactError(err error) error {
	if r == nil || err == nil {
		return err
	}
	if te, ok := err.(*Error); ok {
		return r.redactTE(te)
	}
	msg := err.Error()
	red := r.Redact(msg)
	var te *Error
	if red == msg && (!errors.As(err, &te) || r.redactTE(te) == te) {
		return err
	}
	return &redactedError{msg: red, orig: err, r: r}
}

// redactTE returns te itself when nothing in it holds a secret, else a
// redacted copy.
func (r *Redactor) redactTE(te *Error) *Error {
	c := *te
	c.Message, c.Hint = r.Redact(te.Message), r.Redact(te.Hint)
	if te.Err != nil {
		c.Err = r.RedactError(te.Err)
	}
	if c.Message == te.Message && c.Hint == te.Hint && c.Err == te.Err {
		return te
	}
	return &c
}

// redactedError is a cause whose text held a secret.
type redactedError struct {
	msg  string
	orig error
	r    *Redactor
}

func (e *redactedError) Error() string { return e.msg }

// Is reports whether the original error matched target.
func (e *redactedError) Is(target error) bool { return errors.Is(e.orig, target) }

// As gives a redacted copy of a *Error of the original chain.
func (e *redactedError) As(target any) bool {
	p, ok := target.(**Error)
	if !ok {
		return false
	}
	var te *Error
	if !errors.As(e.orig, &te) {
		return false
	}
	*p = e.r.redactTE(te)
	return true
}

// Format prints the redacted text whatever the verb.
func (e *redactedError) Format(f fmt.State, verb rune) {
	if verb == 'q' {
		fmt.Fprintf(f, "%q", e.msg)
		return
	}
	_, _ = f.Write([]byte(e.msg))
}

// Format keeps the secrets of a Redactor out of every fmt verb.
func (r *Redactor) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte("transport.Redactor")) }
