// Command correio-pipe delivers one message from an MTA to a correio host:
// Postfix's or Exim's pipe transport runs it with the message on stdin
// and the recipient as its argument. It spools the message, signs it with
// the shared secret and POSTs it to the host's push webhook
// (inbound.NewWebhook), which takes it through the inbound pipeline and
// answers only once the hand-off is durable. The exit status is what the
// MTA acts on (sysexits.h):
//
//	0   EX_OK        the host took the message (handled, duplicate or quarantined)
//	64  EX_USAGE     bad arguments or configuration (the MTA defers the message)
//	65  EX_DATAERR   the host refused the input as unusable (400, 413): bounced
//	67  EX_NOUSER    no pushed mailbox for the recipient (404): bounced
//	75  EX_TEMPFAIL  the host or its store is unavailable, timed out, or refused
//	                 the signature (5xx, 401, network errors): the MTA keeps the
//	                 message and retries
//
// A wrong secret defers rather than bounces: mail waits in the MTA's queue
// while an administrator fixes the configuration.
//
// Usage:
//
//	correio-pipe -url https://desk.example/correio/push -secret-file /etc/correio/push.secret [-mailbox ID] [RECIPIENT]
//
// The secret is read from -secret-file or the CORREIO_PIPE_SECRET
// environment variable, never from the command line (which other users
// can see). With -mailbox the message goes to that mailbox; otherwise the
// host maps RECIPIENT to the pushed mailbox with that address.
//
// Postfix master.cf:
//
//	correio unix - n n - 10 pipe
//	  flags=Rq user=correio argv=/usr/local/bin/correio-pipe -url https://desk.example/correio/push -secret-file /etc/correio/push.secret ${original_recipient}
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/correio-dev/correio/inbound"
	"github.com/correio-dev/correio/transport"
)

// Exit codes of sysexits.h.
const (
	exOK       = 0
	exUsage    = 64
	exDataErr  = 65
	exNoUser   = 67
	exTempFail = 75
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stderr, os.Getenv, http.DefaultClient))
}

func run(ctx context.Context, args []string, stdin io.Reader, stderr io.Writer, getenv func(string) string, client *http.Client) int {
	fs := flag.NewFlagSet("correio-pipe", flag.ContinueOnError)
	fs.SetOutput(stderr)
	endpoint := fs.String("url", "", "the host's push webhook URL (required)")
	secretFile := fs.String("secret-file", "", "file holding the shared secret (or set CORREIO_PIPE_SECRET)")
	mb := fs.String("mailbox", "", "deliver to this mailbox ID instead of mapping the recipient")
	timeout := fs.Duration("timeout", 2*time.Minute, "how long to wait for the host")
	maxSize := fs.Int64("max-size", inbound.DefaultWebhookMaxBodySize, "largest message accepted from the MTA, in bytes")
	spoolDir := fs.String("spool-dir", "", "where messages above 1 MiB are spooled (default the system's temporary directory)")
	if err := fs.Parse(args); err != nil {
		return exUsage
	}
	fail := func(code int, format string, a ...any) int {
		fmt.Fprintf(stderr, "correio-pipe: "+format+"\n", a...)
		return code
	}
	u, err := url.Parse(*endpoint)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fail(exUsage, "-url must be an http(s) URL")
	}
	var target string
	switch {
	case *mb != "" && fs.NArg() == 0:
		target = "mailbox=" + *mb
	case *mb == "" && fs.NArg() == 1 && strings.TrimSpace(fs.Arg(0)) != "":
		target = "recipient=" + strings.TrimSpace(fs.Arg(0))
	default:
		return fail(exUsage, "give either -mailbox ID or one RECIPIENT argument")
	}
	secret := getenv("CORREIO_PIPE_SECRET")
	if *secretFile != "" {
		b, err := os.ReadFile(*secretFile)
		if err != nil {
			return fail(exUsage, "reading the secret: %v", err)
		}
		secret = strings.TrimSpace(string(b))
	}
	if len(secret) < inbound.MinWebhookSecret {
		return fail(exUsage, "the secret is missing or shorter than %d bytes", inbound.MinWebhookSecret)
	}

	// Spool stdin (memory up to 1 MiB, a temporary file above), bounded.
	sp, err := transport.NewSpool(io.LimitReader(stdin, *maxSize+1), -1, 0, *spoolDir)
	if err != nil {
		return fail(exTempFail, "reading the message: %v", err)
	}
	defer sp.Close()
	if sp.Size() == 0 {
		return fail(exDataErr, "no message on stdin")
	}
	if sp.Size() > *maxSize {
		return fail(exDataErr, "the message is larger than %d bytes", *maxSize)
	}
	ts := time.Now().Unix()
	sig, err := inbound.PushSignature([]byte(secret), ts, target, sp.Reader())
	if err != nil {
		return fail(exTempFail, "signing: %v", err)
	}
	q := u.Query()
	k, v, _ := strings.Cut(target, "=")
	q.Set(k, v)
	u.RawQuery = q.Encode()

	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), sp.Reader())
	if err != nil {
		return fail(exUsage, "request: %v", err)
	}
	req.ContentLength = sp.Size()
	req.Header.Set("Content-Type", "message/rfc822")
	req.Header.Set(inbound.HeaderPushTimestamp, strconv.FormatInt(ts, 10))
	req.Header.Set(inbound.HeaderPushSignature, sig)
	resp, err := client.Do(req)
	if err != nil {
		return fail(exTempFail, "the host is unavailable: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	text := strings.TrimSpace(string(bytes.ToValidUTF8(body, nil)))
	switch c := resp.StatusCode; {
	case c >= 200 && c < 300:
		return exOK
	case c == http.StatusNotFound:
		return fail(exNoUser, "no pushed mailbox for %s (%d %s)", target, c, text)
	case c == http.StatusBadRequest || c == http.StatusRequestEntityTooLarge || c == http.StatusUnprocessableEntity:
		return fail(exDataErr, "the host refused the message: %d %s", c, text)
	case c == http.StatusUnauthorized || c == http.StatusForbidden:
		return fail(exTempFail, "the host refused the signature (check the secret and the clock): %d %s", c, text)
	default:
		return fail(exTempFail, "the host did not take the message: %d %s", c, text)
	}
}
