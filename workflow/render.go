package workflow

import (
	"bytes"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"strings"
	texttemplate "text/template"
)

// Vars are the flow's variables templates see, for example
// {"Request": "REQ-123", "Title": "...", "Requester": "...", "Contract": "..."}.
// A template that reads a missing key fails (missingkey=error).
type Vars map[string]any

// ErrHeaderInjection is returned when a CR or LF would reach a header (a
// rendered subject, a name or an address).
var ErrHeaderInjection = errors.New("workflow: CR or LF in a header value")

// TemplateError says which template failed to parse or render.
type TemplateError struct {
	Field string // "subject", "text" or "html"
	Err   error
}

func (e *TemplateError) Error() string { return "workflow: " + e.Field + " template: " + e.Err.Error() }
func (e *TemplateError) Unwrap() error { return e.Err }

// Templates are an EmailConnector's compiled templates. They are safe for
// concurrent use.
type Templates struct {
	subject *texttemplate.Template
	text    *texttemplate.Template
	html    *htmltemplate.Template
}

// Rendered is a rendered message body.
type Rendered struct {
	Subject string
	Text    string
	HTML    string
}

// Compile parses subject and text as text/template and html as
// html/template, all with missingkey=error. Empty sources render empty.
func Compile(subject, text, html string) (*Templates, error) {
	t := &Templates{}
	var err error
	if t.subject, err = texttemplate.New("subject").Option("missingkey=error").Parse(subject); err != nil {
		return nil, &TemplateError{Field: "subject", Err: err}
	}
	if text != "" {
		if t.text, err = texttemplate.New("text").Option("missingkey=error").Parse(text); err != nil {
			return nil, &TemplateError{Field: "text", Err: err}
		}
	}
	if html != "" {
		if t.html, err = htmltemplate.New("html").Option("missingkey=error").Parse(html); err != nil {
			return nil, &TemplateError{Field: "html", Err: err}
		}
	}
	return t, nil
}

// Render executes the templates with vars. A subject containing CR or LF
// after rendering is ErrHeaderInjection, never a header.
func (t *Templates) Render(vars Vars) (Rendered, error) {
	var r Rendered
	var buf bytes.Buffer
	if err := t.subject.Execute(&buf, map[string]any(vars)); err != nil {
		return r, &TemplateError{Field: "subject", Err: err}
	}
	r.Subject = strings.TrimSpace(buf.String())
	if err := CheckHeader(r.Subject); err != nil {
		return r, &TemplateError{Field: "subject", Err: err}
	}
	if t.text != nil {
		buf.Reset()
		if err := t.text.Execute(&buf, map[string]any(vars)); err != nil {
			return r, &TemplateError{Field: "text", Err: err}
		}
		r.Text = buf.String()
	}
	if t.html != nil {
		buf.Reset()
		if err := t.html.Execute(&buf, map[string]any(vars)); err != nil {
			return r, &TemplateError{Field: "html", Err: err}
		}
		r.HTML = buf.String()
	}
	return r, nil
}

// CheckHeader returns ErrHeaderInjection when v contains CR, LF or NUL.
func CheckHeader(v string) error {
	if i := strings.IndexAny(v, "\r\n\x00"); i >= 0 {
		return fmt.Errorf("%w at byte %d", ErrHeaderInjection, i)
	}
	return nil
}
