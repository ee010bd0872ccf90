package threading

import (
	"errors"
	"regexp"
	"strings"

	"github.com/correio-dev/correio/workflow"
)

// TokenFormat formats and parses the thread token put in subjects, for
// example "[#REQ-123]": Open + Prefix + id + Close. Replies keep the subject,
// so the inbound engine finds the request again. The zero TokenFormat is the
// default "[#" "REQ-" id "]".
//
// IDs are made of letters, digits and "._-" (1 to 64 characters).
type TokenFormat struct {
	Open   string // default "[#"
	Prefix string // default "REQ-"
	Close  string // default "]"
}

// ErrBadToken is returned for an ID or a format that cannot make a token.
var ErrBadToken = errors.New("threading: bad thread token")

const tokenIDChars = `[A-Za-z0-9._-]{1,64}`

var tokenIDRe = regexp.MustCompile(`^` + tokenIDChars + `$`)

func (f TokenFormat) parts() (string, string, string) {
	o, p, c := f.Open, f.Prefix, f.Close
	if o == "" && p == "" && c == "" {
		return "[#", "REQ-", "]"
	}
	return o, p, c
}

// Tokens is a compiled TokenFormat. Build one with Compile and reuse it.
type Tokens struct {
	open, prefix, close string
	re                  *regexp.Regexp
}

// Compile checks the format and prepares its matcher.
func (f TokenFormat) Compile() (*Tokens, error) {
	o, p, c := f.parts()
	if o == "" || c == "" {
		return nil, errors.Join(ErrBadToken, errors.New("open and close delimiters are required"))
	}
	for _, s := range []string{o, p, c} {
		if workflow.CheckHeader(s) != nil {
			return nil, errors.Join(ErrBadToken, workflow.ErrHeaderInjection)
		}
	}
	re, err := regexp.Compile(`(?i)` + regexp.QuoteMeta(o) + regexp.QuoteMeta(p) + `(` + tokenIDChars + `)` + regexp.QuoteMeta(c))
	if err != nil {
		return nil, errors.Join(ErrBadToken, err)
	}
	return &Tokens{open: o, prefix: p, close: c, re: re}, nil
}

// MustCompile is Compile that panics on a bad format; for package-level
// defaults built from constants.
func (f TokenFormat) MustCompile() *Tokens {
	t, err := f.Compile()
	if err != nil {
		panic(err)
	}
	return t
}

// Format returns the token for id.
func (t *Tokens) Format(id string) (string, error) {
	if !tokenIDRe.MatchString(id) {
		return "", ErrBadToken
	}
	return t.open + t.prefix + id + t.close, nil
}

// Parse returns the id of the last token in subject. Mail clients prepend
// "Re:" and friends, and forwarding may add tokens of other systems; the
// last token of our format is the most specific.
func (t *Tokens) Parse(subject string) (id string, ok bool) {
	all := t.re.FindAllStringSubmatch(subject, -1)
	if len(all) == 0 {
		return "", false
	}
	return all[len(all)-1][1], true
}

// Tag returns subject with the token for id appended, unless that token is
// already present.
func (t *Tokens) Tag(subject, id string) (string, error) {
	tok, err := t.Format(id)
	if err != nil {
		return "", err
	}
	if got, ok := t.Parse(subject); ok && strings.EqualFold(got, id) {
		return subject, nil
	}
	if subject == "" {
		return tok, nil
	}
	return subject + " " + tok, nil
}
