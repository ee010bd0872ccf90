package outbound

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/mail"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/threading"
	"github.com/correio-dev/correio/workflow"
)

// InputError is a message refused at Enqueue; it wraps
// workflow.ErrHeaderInjection when a header value held CR or LF.
type InputError struct {
	Field string
	Err   error
}

// Error names the field and the cause.
func (e *InputError) Error() string { return "outbound: " + e.Field + ": " + e.Err.Error() }

// Unwrap returns the cause.
func (e *InputError) Unwrap() error { return e.Err }

// ErrInvalid is wrapped by InputErrors that are not header injections.
var ErrInvalid = errors.New("invalid message")

func checkHeader(field, v string) error {
	if err := workflow.CheckHeader(v); err != nil {
		return &InputError{Field: field, Err: err}
	}
	return nil
}

func checkAddress(field string, a store.Address) error {
	if err := checkHeader(field+".name", a.Name); err != nil {
		return err
	}
	if err := checkHeader(field+".address", a.Address); err != nil {
		return err
	}
	pa, err := mail.ParseAddress(a.Address)
	if err != nil || pa.Address != a.Address {
		return &InputError{Field: field, Err: fmt.Errorf("%w: bad address %q", ErrInvalid, a.Address)}
	}
	return nil
}

func checkMessageID(field, id string) error {
	if err := checkHeader(field, id); err != nil {
		return err
	}
	if id == "" || strings.ContainsAny(id, "<> \t") || !strings.Contains(id, "@") {
		return &InputError{Field: field, Err: fmt.Errorf("%w: bad Message-ID %q (give it without angle brackets)", ErrInvalid, id)}
	}
	return nil
}

// validate checks every header value of m.
func validate(m *store.Message) error {
	if err := checkHeader("subject", m.Subject); err != nil {
		return err
	}
	n := 0
	for kind, list := range [][]store.Address{m.To, m.Cc, m.Bcc} {
		for i, a := range list {
			if err := checkAddress(fmt.Sprintf("%s[%d]", [...]string{"to", "cc", "bcc"}[kind], i), a); err != nil {
				return err
			}
			n++
		}
	}
	if n == 0 {
		return &InputError{Field: "to", Err: fmt.Errorf("%w: no recipient", ErrInvalid)}
	}
	if m.Text == "" && m.HTML == "" {
		return &InputError{Field: "text", Err: fmt.Errorf("%w: no body", ErrInvalid)}
	}
	if m.InReplyTo != "" {
		if err := checkMessageID("in_reply_to", m.InReplyTo); err != nil {
			return err
		}
	}
	for i, r := range m.References {
		if err := checkMessageID(fmt.Sprintf("references[%d]", i), r); err != nil {
			return err
		}
	}
	if err := checkHeader("thread", m.Thread); err != nil {
		return err
	}
	for i, a := range m.Attachments {
		f := fmt.Sprintf("attachments[%d]", i)
		if err := checkHeader(f+".name", a.Name); err != nil {
			return err
		}
		if err := checkHeader(f+".content_type", a.ContentType); err != nil {
			return err
		}
		if a.Open == nil || a.Name == "" {
			return &InputError{Field: f, Err: fmt.Errorf("%w: an attachment needs a name and an Open function", ErrInvalid)}
		}
	}
	return nil
}

// newMessageID returns a Message-ID on the domain of addr.
func newMessageID(addr string) string {
	domain := "localhost"
	if i := strings.LastIndexByte(addr, '@'); i >= 0 && i+1 < len(addr) {
		domain = addr[i+1:]
	}
	return strings.ToLower(rand.Text()) + "@" + domain
}

// build renders a record into a go-mail message for mb: From is the
// mailbox's identity, the Message-ID and Date are the record's, and the
// loop headers name the mailbox.
func build(r *store.OutboxRecord, mb *mailbox.Mailbox) (*gomail.Msg, error) {
	o := mb.Outbound
	m := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	if err := m.FromFormat(o.From.Name, o.From.Address); err != nil {
		return nil, &InputError{Field: "from", Err: err}
	}
	if o.ReplyTo != "" {
		if err := m.ReplyTo(o.ReplyTo); err != nil {
			return nil, &InputError{Field: "reply_to", Err: err}
		}
	}
	for _, rc := range r.Recipients {
		var err error
		switch rc.Kind {
		case store.To:
			err = m.AddToFormat(rc.Address.Name, rc.Address.Address)
		case store.Cc:
			err = m.AddCcFormat(rc.Address.Name, rc.Address.Address)
		}
		if err != nil {
			return nil, &InputError{Field: "to", Err: err}
		}
	}
	msg := &r.Message
	m.SetMessageIDWithValue(r.MessageID)
	m.SetDateWithValue(r.EnqueuedAt)
	m.Subject(msg.Subject)
	m.SetGenHeader("Auto-Submitted", "auto-generated")
	m.SetGenHeader("X-Auto-Response-Suppress", "All")
	m.SetGenHeader(threading.LoopHeader, string(mb.ID))
	if msg.InReplyTo != "" {
		m.SetGenHeader(gomail.HeaderInReplyTo, "<"+msg.InReplyTo+">")
	}
	if len(msg.References) > 0 {
		refs := make([]string, len(msg.References))
		for i, ref := range msg.References {
			refs[i] = "<" + ref + ">"
		}
		m.SetGenHeader(gomail.HeaderReferences, strings.Join(refs, " "))
	}
	switch {
	case msg.Text != "" && msg.HTML != "":
		m.SetBodyString(gomail.TypeTextPlain, msg.Text)
		m.AddAlternativeString(gomail.TypeTextHTML, msg.HTML)
	case msg.HTML != "":
		m.SetBodyString(gomail.TypeTextHTML, msg.HTML)
	default:
		m.SetBodyString(gomail.TypeTextPlain, msg.Text)
	}
	if len(msg.Attachments) > 0 {
		fsys := attachFS(msg.Attachments)
		for i, a := range msg.Attachments {
			opts := []gomail.FileOption{gomail.WithFileName(a.Name)}
			if a.ContentType != "" {
				opts = append(opts, gomail.WithFileContentType(gomail.ContentType(a.ContentType)))
			}
			if err := m.AttachFromIOFS(fmt.Sprint(i), fsys, opts...); err != nil {
				return nil, &InputError{Field: fmt.Sprintf("attachments[%d]", i), Err: err}
			}
		}
	}
	return m, nil
}

// attachFS exposes attachments to go-mail as files opened lazily: go-mail
// opens a file once when attaching (without reading) and again each time
// it writes the message; only reads open the attachment's source.
type attachFS []store.Attachment

func (a attachFS) Open(name string) (fs.File, error) {
	var i int
	if _, err := fmt.Sscan(name, &i); err != nil || i < 0 || i >= len(a) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return &lazyFile{a: a[i]}, nil
}

type lazyFile struct {
	a  store.Attachment
	rc io.ReadCloser
}

func (f *lazyFile) Read(p []byte) (int, error) {
	if f.rc == nil {
		rc, err := f.a.Open()
		if err != nil {
			return 0, err
		}
		f.rc = rc
	}
	return f.rc.Read(p)
}

func (f *lazyFile) Close() error {
	if f.rc == nil {
		return nil
	}
	return f.rc.Close()
}

func (f *lazyFile) Stat() (fs.FileInfo, error) { return fileInfo(f.a.Name), nil }

type fileInfo string

func (n fileInfo) Name() string       { return string(n) }
func (n fileInfo) Size() int64        { return -1 }
func (n fileInfo) Mode() fs.FileMode  { return 0o444 }
func (n fileInfo) ModTime() time.Time { return time.Time{} }
func (n fileInfo) IsDir() bool        { return false }
func (n fileInfo) Sys() any           { return nil }
