package main

import (
	"bytes"
	"crypto/rand"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/correio-dev/correio/contract"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/transport"
	"github.com/correio-dev/correio/workflow/systemmsg"
)

//go:embed templates/*.html
var templateFS embed.FS

// App is the helpdesk's web application.
type App struct {
	cat    store.Catalog
	engine Engine
	dir    *directory
	msgs   *systemmsg.Set
	log    *slog.Logger
	pages  map[string]*template.Template
	mux    *http.ServeMux
	h      http.Handler

	// policy is the address policy of the connection test (-public-only),
	// applied at save too; resolver resolves hosts for it (nil: the
	// system's).
	policy   transport.AddressPolicy
	resolver resolver

	// pageSize is the rows per page of the lists (0: defaultPageSize).
	pageSize int

	// settings keep the email step across restarts (nil: in memory only).
	settings settings

	// oauth connects mailboxes to Microsoft 365 and Google (oauth.go; nil:
	// passwords only).
	oauth *oauthSetup

	mu   sync.Mutex
	step url.Values // the email step being edited
}

// NewApp builds the application over a catalog and an engine (nil: the
// record-only engine, which resolves and records but sends nothing).
func NewApp(cat store.Catalog, engine Engine, dir *directory, log *slog.Logger) (*App, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if dir == nil {
		dir = builtinDirectory()
	}
	if engine == nil {
		engine = newRecordEngine(cat, dir)
	}
	msgs, err := systemmsg.New(nil)
	if err != nil {
		return nil, err
	}
	a := &App{cat: cat, engine: engine, dir: dir, msgs: msgs, log: log, mux: http.NewServeMux()}
	// Forms change settings: refuse cross-site POSTs (CSRF).
	a.h = http.NewCrossOriginProtection().Handler(a.mux)
	if err := a.parseTemplates(); err != nil {
		return nil, err
	}
	a.routes()
	return a, nil
}

func (a *App) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("X-Frame-Options", "DENY")
	a.h.ServeHTTP(w, r)
}

func (a *App) routes() {
	m := a.mux
	m.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/mailboxes", http.StatusSeeOther)
	})
	m.HandleFunc("GET /mailboxes", a.mailboxList)
	m.HandleFunc("GET /mailboxes/new", a.mailboxNew)
	m.HandleFunc("POST /mailboxes/new", a.mailboxSave)
	m.HandleFunc("GET /mailboxes/{id}", a.mailboxEdit)
	m.HandleFunc("POST /mailboxes/{id}", a.mailboxSave)
	m.HandleFunc("GET /mailboxes/{id}/delete", a.mailboxConfirmDelete)
	m.HandleFunc("POST /mailboxes/{id}/delete", a.mailboxDelete)
	m.HandleFunc("POST /mailboxes/{id}/system", a.mailboxSystem)
	m.HandleFunc("GET /contracts", a.contractList)
	m.HandleFunc("GET /contracts/new", a.contractNew)
	m.HandleFunc("POST /contracts/new", a.contractSave)
	m.HandleFunc("GET /contracts/{id}", a.contractEdit)
	m.HandleFunc("POST /contracts/{id}", a.contractSave)
	m.HandleFunc("GET /contracts/{id}/delete", a.contractConfirmDelete)
	m.HandleFunc("POST /contracts/{id}/delete", a.contractDelete)
	m.HandleFunc("GET /workflow", a.workflowPage)
	m.HandleFunc("POST /workflow", a.workflowPost)
	m.HandleFunc("GET /messages", a.messagesPage)
	m.HandleFunc("POST /outbox/{id}/retry", a.outboxRetry)
	m.HandleFunc("GET /outbox/{id}/cancel", a.outboxConfirmCancel)
	m.HandleFunc("POST /outbox/{id}/cancel", a.outboxCancel)
	m.HandleFunc("POST /quarantine/{id}/release", a.quarantineRelease)
	m.HandleFunc("GET /quarantine/{id}/delete", a.quarantineConfirmDelete)
	m.HandleFunc("POST /quarantine/{id}/delete", a.quarantineDelete)
	m.HandleFunc("GET /status", a.statusPage)
	m.HandleFunc("POST /status/{id}/check", a.statusCheck)
	m.HandleFunc("GET /status/{id}/pause", a.statusConfirmPause)
	m.HandleFunc("POST /status/{id}/pause", a.statusPause)
	m.HandleFunc("POST /status/{id}/resume", a.statusResume)
	m.HandleFunc("GET /healthz", a.healthz)
	m.HandleFunc("GET /metrics", a.metricsPage)
	a.oauthRoutes()
}

func (a *App) parseTemplates() error {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return err
	}
	a.pages = map[string]*template.Template{}
	funcs := template.FuncMap{
		"fieldID": fieldID,
		"has":     func(vs []string, v string) bool { return contains(vs, v) },
		"mailbox": func(id mailbox.ID) string { return a.mailboxLabel(id) },
		"when":    func(t time.Time) string { return t.Local().Format("2006-01-02 15:04:05") },
		"join":    strings.Join,
		"list":    func(xs ...string) []string { return xs },
		"short":   short,
	}
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if base == "layout" {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", n)
		if err != nil {
			return fmt.Errorf("template %s: %w", n, err)
		}
		a.pages[base] = t
	}
	return nil
}

// page is what every template receives: the language, the translation
// function and the page's own data.
type page struct {
	Lang  string
	Nav   string
	Title string
	Path  string
	Flash string
	Error string
	Data  any
	// Errs maps a field path to its translated errors; Summary lists them
	// all, in order, for the summary at the top of a form.
	Errs    map[string][]string
	Summary []summaryItem
	// Form holds a form's values as typed, for In.
	Form url.Values
}

// input describes one labelled form input for the "input" template.
type input struct {
	ID, Name, Label, Type, Value, Help string
	Errs                               fieldErrs
	Aria                               template.HTMLAttr
	Invalid                            string
	Checked                            bool
	Options                            []option
}

type option struct {
	Value, Label string
	Selected     bool
}

// Select describes a select input; opts are "value=labelKey" pairs.
func (p *page) Select(path, label string, opts ...string) input {
	in := p.In(path, label, "select", "")
	for _, o := range opts {
		v, key, _ := strings.Cut(o, "=")
		in.Options = append(in.Options, option{Value: v, Label: p.T(key), Selected: in.Value == v})
	}
	return in
}

// In describes the input for a field path: its label translated, its value
// as typed, its errors. help is a catalog key or "".
func (p *page) In(path, label, typ, help string) input {
	in := input{
		ID: fieldID(path), Name: path, Label: p.T(label), Type: typ,
		Value: p.Form.Get(path), Errs: p.ErrFor(path), Aria: p.Aria(path), Invalid: p.Invalid(path),
		Checked: p.Form.Get(path) != "",
	}
	if help != "" {
		in.Help = p.T(help)
	}
	return in
}

type summaryItem struct {
	Field   string // field path the link points at ("" when none)
	Label   string
	Message string
}

// T translates a catalog key into the page's language.
func (p *page) T(key string, args ...any) string { return tr(p.Lang, key, args...) }

// Err returns the translated errors of a field.
func (p *page) Err(path string) []string { return p.Errs[path] }

// fieldErrs is what the "errs" template shows under a field.
type fieldErrs struct {
	ID   string
	Msgs []string
}

// ErrFor returns a field's errors for the "errs" template.
func (p *page) ErrFor(path string) fieldErrs {
	return fieldErrs{ID: fieldID(path) + "-err", Msgs: p.Errs[path]}
}

// Aria returns the attributes that tie an invalid input to its errors.
func (p *page) Aria(path string) template.HTMLAttr {
	if len(p.Errs[path]) == 0 {
		return ""
	}
	return template.HTMLAttr(`aria-invalid="true" aria-describedby="` + fieldID(path) + `-err"`)
}

// Invalid returns the CSS class of a field with errors.
func (p *page) Invalid(path string) string {
	if len(p.Errs[path]) == 0 {
		return ""
	}
	return "invalid"
}

// Health names a health state; a state this version does not know shows
// as the engine names it.
func (p *page) Health(state string) string {
	if _, ok := catalog[langEN]["health."+state]; !ok {
		return state
	}
	return p.T("health." + state)
}

// SwitchURL is the current page in another language.
func (p *page) SwitchURL(lang string) string {
	return p.Path + "?lang=" + url.QueryEscape(lang)
}

// Languages lists the languages of the switch.
func (p *page) Languages() []string { return languages }

func fieldID(path string) string {
	return "f-" + strings.NewReplacer(".", "-", "_", "-").Replace(path)
}

func (a *App) newPage(w http.ResponseWriter, r *http.Request, nav, title string) *page {
	lang := pickLanguage(w, r)
	p := &page{Lang: lang, Nav: nav, Path: r.URL.Path, Errs: map[string][]string{}}
	p.Title = tr(lang, title)
	switch r.URL.Query().Get("done") {
	case "saved":
		p.Flash = tr(lang, "common.saved")
	case "deleted":
		p.Flash = tr(lang, "common.deleted")
	case "retried", "cancelled", "released":
		p.Flash = tr(lang, "admin.done."+r.URL.Query().Get("done"))
	case "checked", "paused", "resumed":
		p.Flash = tr(lang, "status.done."+r.URL.Query().Get("done"))
	case "connected", "consented":
		p.Flash = tr(lang, "mailboxes.connect.done."+r.URL.Query().Get("done"))
	}
	return p
}

// addErr records a translated error for a field (path "" for the form as a
// whole); label is the field's translated label for the summary.
func (p *page) addErr(path, label, msg string) {
	if path != "" {
		p.Errs[path] = append(p.Errs[path], msg)
	}
	p.Summary = append(p.Summary, summaryItem{Field: path, Label: label, Message: msg})
}

func (a *App) render(w http.ResponseWriter, status int, name string, p *page) {
	t, ok := a.pages[name]
	if !ok {
		http.Error(w, "no template "+name, http.StatusInternalServerError)
		return
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout.html", p); err != nil {
		a.log.Error("render", "page", name, "err", err)
		http.Error(w, "template error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Language", p.Lang)
	w.Header().Set("Vary", "Accept-Language, Cookie")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

func (a *App) notFound(w http.ResponseWriter, r *http.Request) {
	p := a.newPage(w, r, "", "common.notfound")
	p.Error = p.T("common.notfound")
	a.render(w, http.StatusNotFound, "error", p)
}

// confirmData is the confirmation page of a destructive action.
type confirmData struct {
	Name, Verb, Action, Back string
	// Title is the page title's catalog key (default common.delete).
	Title string
}

// confirm renders the confirmation page: the action runs only when its
// form is posted with confirm=yes.
func (a *App) confirm(w http.ResponseWriter, r *http.Request, nav string, d confirmData) {
	if d.Title == "" {
		d.Title = "common.delete"
	}
	p := a.newPage(w, r, nav, d.Title)
	if d.Verb == "" {
		d.Verb = p.T("common.delete")
	}
	p.Data = d
	a.render(w, http.StatusOK, "confirm", p)
}

// confirmed reports whether a destructive POST carries the confirmation;
// without it the browser is sent to the confirmation page.
func confirmed(w http.ResponseWriter, r *http.Request) bool {
	if r.PostFormValue("confirm") == "yes" {
		return true
	}
	http.Redirect(w, r, r.URL.Path, http.StatusSeeOther)
	return false
}

// short cuts a text shown in a list to 80 characters (the whole text is
// its title); older rows may predate the length limits.
func short(s string) string {
	const n = 80
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// newID returns a fresh identifier with a prefix ("mb-3k9x2q").
func newID(prefix string) string {
	return prefix + "-" + strings.ToLower(rand.Text()[:8])
}

func contains(vs []string, v string) bool {
	for _, x := range vs {
		if x == v {
			return true
		}
	}
	return false
}

// ruleErrors returns every *contract.RuleError in err (a joined error may
// hold several).
func ruleErrors(err error) []*contract.RuleError {
	var out []*contract.RuleError
	var walk func(error)
	walk = func(e error) {
		if e == nil {
			return
		}
		var re *contract.RuleError
		if r, ok := e.(*contract.RuleError); ok {
			out = append(out, r)
			return
		}
		switch u := e.(type) {
		case interface{ Unwrap() []error }:
			for _, x := range u.Unwrap() {
				walk(x)
			}
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		default:
			if errors.As(e, &re) {
				out = append(out, re)
			}
		}
	}
	walk(err)
	return out
}

// ruleMessage translates a contract rule error.
func (a *App) ruleMessage(lang string, e *contract.RuleError) string {
	name := func(id contract.ID) string {
		if c, ok := a.cat.Contract(id); ok {
			return c.Name
		}
		return string(id)
	}
	switch {
	case errors.Is(e, contract.ErrInboundTaken):
		return tr(lang, "rule.contract.taken", name(e.Contract))
	case errors.Is(e, contract.ErrMailboxInUse):
		if e.Contract == "" {
			return tr(lang, "rule.contract.in_use_sys")
		}
		return tr(lang, "rule.contract.in_use", name(e.Contract))
	case errors.Is(e, contract.ErrKindChangeInUse):
		who := name(e.Contract)
		if e.Contract == "" {
			who = tr(lang, "mailboxes.system")
		}
		return tr(lang, "rule.contract.kind_change", who)
	case errors.Is(e, contract.ErrMailboxNotFound):
		return tr(lang, "rule.contract.not_found")
	case errors.Is(e, contract.ErrWrongKind):
		return tr(lang, "rule.contract.wrong_kind")
	case errors.Is(e, contract.ErrContractNotFound):
		return tr(lang, "rule.contract.no_contract")
	case errors.Is(e, contract.ErrInvalid) && e.Path == "name":
		return tr(lang, "err.required")
	}
	return tr(lang, "rule.contract.invalid")
}

// mailboxLabel names a mailbox for people: its description.
func (a *App) mailboxLabel(id mailbox.ID) string {
	if m, ok := a.cat.Mailbox(id); ok {
		return m.Description
	}
	return string(id)
}

func (a *App) contractLabel(id contract.ID) string {
	if c, ok := a.cat.Contract(id); ok {
		return c.Name
	}
	return string(id)
}

func sortedMailboxes(ms []*mailbox.Mailbox) []*mailbox.Mailbox {
	out := append([]*mailbox.Mailbox(nil), ms...)
	sort.SliceStable(out, func(i, j int) bool {
		return strings.ToLower(out[i].Description) < strings.ToLower(out[j].Description)
	})
	return out
}
