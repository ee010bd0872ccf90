package transport_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/transport"
)

// encodings are the forms of s a leak search looks for.
func encodings(s string) []string {
	return []string{s, base64.StdEncoding.EncodeToString([]byte(s)), base64.RawStdEncoding.EncodeToString([]byte(s)),
		base64.URLEncoding.EncodeToString([]byte(s))}
}

func TestRedactorForms(t *testing.T) {
	const user, pw, tok = "alice@example.com", "pässwörd-\"q\\", "ya29.access-token-XYZ"
	r := transport.NewRedactor(user, mailbox.NewSecret(pw))
	r.AddToken(user, mailbox.NewSecret(tok))
	plain := "\x00" + user + "\x00" + pw
	xo := string(transport.XOAUTH2(user, mailbox.NewSecret(tok)))
	var leaks []string
	for _, s := range []string{pw, plain, user + "\x00" + user + "\x00" + pw, tok, xo} {
		leaks = append(leaks, encodings(s)...)
	}
	leaks = append(leaks, `pässwörd-\"q\\`) // IMAP quoted
	// base64 of the password at each offset of a longer blob.
	for _, pre := range []string{"x", "xy", "xyz", "user\x00"} {
		leaks = append(leaks, base64.StdEncoding.EncodeToString([]byte(pre+pw+"tail")))
	}
	for _, l := range leaks {
		in := "535 5.7.8 refused <" + l + "> bye"
		out := r.Redact(in)
		if !strings.Contains(out, transport.Redacted) || !strings.HasPrefix(out, "535 5.7.8 refused <") || !strings.HasSuffix(out, "> bye") {
			t.Errorf("Redact(%q) = %q", in, out)
		}
		for _, bad := range append(encodings(pw), encodings(tok)...) {
			if len(bad) >= 6 && strings.Contains(out, bad) {
				t.Errorf("Redact(%q) still holds %q: %q", in, bad, out)
			}
		}
		// The password's own base64 chars must be gone from the shifted blobs.
		if strings.Contains(out, base64.RawStdEncoding.EncodeToString([]byte(pw))[2:10]) {
			t.Errorf("Redact(%q) = %q keeps base64 of the password", in, out)
		}
	}
	if got := r.Redact("nothing secret here"); got != "nothing secret here" {
		t.Errorf("clean text changed: %q", got)
	}
}

func TestRedactorShortSecret(t *testing.T) {
	r := transport.NewRedactor("bob", mailbox.NewSecret("pw"))
	if got := r.Redact("NO password pw refused"); got != "NO password [REDACTED] refused" {
		t.Errorf("short word: %q", got)
	}
	if got := r.Redact("NO pwned"); got != "NO pwned" {
		t.Errorf("short secret inside a word removed: %q", got)
	}
	if got := r.Redact("blob AGJvYgBwdw=="); strings.Contains(got, "AGJvYgBwdw") {
		t.Errorf("PLAIN blob of a short password kept: %q", got)
	}
	var nilR *transport.Redactor
	if nilR.Redact("x pw") != "x pw" || nilR.RedactError(io.EOF) != io.EOF {
		t.Error("nil Redactor changes things")
	}
}

func TestRedactError(t *testing.T) {
	const pw = "hunter2-secret"
	r := transport.NewRedactor("carol", mailbox.NewSecret(pw))
	cause := errors.Join(context.DeadlineExceeded, fmt.Errorf("NO [AUTHENTICATIONFAILED] LOGIN carol %s", pw))
	te := &transport.Error{Class: transport.Auth, Protocol: "imap", Op: "login", Server: "h:993", Message: "NO refused " + pw, Hint: "check " + pw, Err: cause}
	got := r.RedactError(fmt.Errorf("poll: %w", te))
	for _, s := range []string{got.Error(), fmt.Sprintf("%v|%+v|%s|%q", got, got, got, got)} {
		if strings.Contains(s, pw) || !strings.Contains(s, transport.Redacted) {
			t.Errorf("leak or nothing redacted: %s", s)
		}
	}
	if !errors.Is(got, transport.ErrAuth) || !errors.Is(got, context.DeadlineExceeded) || transport.ClassOf(got) != transport.Auth {
		t.Errorf("classes lost: %v", got)
	}
	var out *transport.Error
	if !errors.As(got, &out) || strings.Contains(out.Message+out.Hint+out.Err.Error(), pw) || out.Server != "h:993" {
		t.Fatalf("As gives %#v", out)
	}
	if te.Message != "NO refused "+pw {
		t.Error("RedactError changed the original")
	}
	// Walking the chain by hand never reaches the secret.
	for e := got; e != nil; e = errors.Unwrap(e) {
		if strings.Contains(e.Error(), pw) {
			t.Errorf("unwrapped %T leaks: %v", e, e)
		}
	}
	for e := error(out); e != nil; e = errors.Unwrap(e) {
		if strings.Contains(e.Error(), pw) {
			t.Errorf("unwrapped %T leaks: %v", e, e)
		}
	}
	clean := &transport.Error{Class: transport.Temporary, Err: io.EOF}
	if r.RedactError(clean) != error(clean) || !errors.Is(r.RedactError(clean), io.EOF) {
		t.Error("an error without secrets must come back unchanged")
	}
	if s := fmt.Sprintf("%v %+v %s %#v", r, r, r, r); strings.Contains(s, pw) || strings.Contains(s, "aHVudGVy") {
		t.Errorf("Redactor prints its secrets: %s", s)
	}
}
