package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/correio-dev/correio/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestRun starts the command as a user would, on each store, saves a
// mailbox through the form and reads it back.
func TestRun(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		dir := t.TempDir()
		runAndUse(t, "-db", filepath.Join(dir, "h.db"))
	})
	t.Run("postgres", func(t *testing.T) {
		dsn := pgtest.Database(t)
		runAndUse(t, "-postgres", dsn, "-key-file", filepath.Join(t.TempDir(), "k"))
	})
}

func runAndUse(t *testing.T, args ...string) {
	t.Helper()
	t.Setenv("HELPDESK_SECRET_KEY", "")
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"-addr", "127.0.0.1:0"}, args...), pw, io.Discard)
		pw.Close()
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()
	sc := bufio.NewScanner(pr)
	var base string
	for sc.Scan() {
		if u, ok := strings.CutPrefix(sc.Text(), "helpdesk: open "); ok {
			base = strings.TrimSuffix(u, "/")
			break
		}
	}
	if base == "" {
		cancel()
		t.Fatalf("no address printed: %v", <-done)
	}
	go io.Copy(io.Discard, pr)

	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	form := outboundForm()
	res, err := c.PostForm(base+"/mailboxes/new", form)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("save: %s", res.Status)
	}
	res, err = c.Get(base + "/mailboxes?" + url.Values{"lang": {"pt-BR"}}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(b), "ACME outgoing") || !strings.Contains(string(b), "Saída") {
		t.Fatalf("mailbox not listed:\n%s", b)
	}
	if strings.Contains(string(b), "s3cret") {
		t.Fatal("password shown")
	}
}

// startRun starts the command and returns its address and a stop function
// that waits for it to end.
func startRun(t *testing.T, args ...string) (string, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"-addr", "127.0.0.1:0"}, args...), pw, io.Discard)
		pw.Close()
	}()
	sc := bufio.NewScanner(pr)
	var base string
	for sc.Scan() {
		if u, ok := strings.CutPrefix(sc.Text(), "helpdesk: open "); ok {
			base = strings.TrimSuffix(u, "/")
			break
		}
	}
	if base == "" {
		cancel()
		t.Fatalf("no address printed: %v", <-done)
	}
	go io.Copy(io.Discard, pr)
	return base, func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}
}

// TestEmailStepSurvivesRestart saves the email step (the specific
// mailbox choice, users, a group, other addresses, one message for all)
// and reads it back after a restart on the same database; a step refused
// by the checks on save is not kept.
func TestEmailStepSurvivesRestart(t *testing.T) {
	check := func(t *testing.T, args ...string) {
		t.Setenv("HELPDESK_SECRET_KEY", "")
		base, stop := startRun(t, args...)
		c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		post := func(target string, form url.Values) (int, string) {
			t.Helper()
			res, err := c.PostForm(base+target, form)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			b, _ := io.ReadAll(res.Body)
			return res.StatusCode, string(b)
		}
		if code, _ := post("/mailboxes/new", outboundForm()); code != http.StatusSeeOther {
			t.Fatalf("mailbox: %d", code)
		}
		res, err := c.Get(base + "/workflow")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		m := regexp.MustCompile(`<option value="(mb-[^"]+)"`).FindStringSubmatch(string(b))
		if m == nil {
			t.Fatalf("no outbound mailbox offered:\n%s", b)
		}
		step := url.Values{"action": {"save"}, "name": {"Kept across restarts"}, "choice": {"specific"}, "mailbox_id": {m[1]},
			"users": {"ana", "bruno"}, "groups": {"approvers"}, "addresses": {"Fin <fin@cliente.example>\r\nops@cliente.example"},
			"delivery": {"bcc"}, "subject": {"Pedido {{.Request}}"}, "text": {"Olá"}, "request": {"77"}}
		if code, body := post("/workflow", step); code != http.StatusOK || !strings.Contains(body, tr(langEN, "common.saved")) {
			t.Fatalf("save: %d\n%s", code, body)
		}
		// Refused on save (a line break in the name): the saved step stays.
		bad := cloneValues(step)
		bad.Set("name", "Two\r\nlines")
		if code, _ := post("/workflow", bad); code != http.StatusUnprocessableEntity {
			t.Fatalf("a name with CR/LF: %d", code)
		}
		stop()

		base, stop = startRun(t, args...)
		defer stop()
		res, err = c.Get(base + "/workflow")
		if err != nil {
			t.Fatal(err)
		}
		b, _ = io.ReadAll(res.Body)
		res.Body.Close()
		body := string(b)
		for _, want := range []string{`value="Kept across restarts"`, `value="specific" id="choice-specific" checked`,
			`<option value="` + m[1] + `" selected>`, `value="ana" checked`, `value="bruno" checked`, `value="approvers" checked`,
			`value="bcc" selected`, "Fin &lt;fin@cliente.example&gt;\r\nops@cliente.example</textarea>",
			`value="Pedido {{.Request}}"`, `value="77"`} {
			if !strings.Contains(body, want) {
				t.Errorf("after restart, %s missing", want)
			}
		}
		for _, not := range []string{`value="carla" checked`, `value="support" checked`, "Two"} {
			if strings.Contains(body, not) {
				t.Errorf("after restart, %s found", not)
			}
		}
	}
	t.Run("sqlite", func(t *testing.T) {
		dir := t.TempDir()
		check(t, "-db", filepath.Join(dir, "h.db"))
	})
	t.Run("postgres", func(t *testing.T) {
		dsn := pgtest.Database(t)
		check(t, "-postgres", dsn, "-key-file", filepath.Join(t.TempDir(), "k"))
	})
}
