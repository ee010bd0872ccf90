package main

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/transport"
)

// The mailbox form names its inputs after mailbox.FieldError paths
// ("inbound.server.port"), so every validation error lands beside its
// field without a mapping table.

// formFields are the inputs of the mailbox form, with their label keys.
var formFields = []struct{ Path, Label string }{
	{"description", "mailboxes.description"},
	{"kind", "mailboxes.kind"},
	{"address", "mailboxes.address"},
	{"enabled", "form.enabled"},
	{"auth", "form.auth.method"},
	{"auth.tenant", "form.auth.tenant"},
	{"auth.sakey", "form.auth.sakey"},
	{"auth.safile", "form.auth.safile"},
	{"inbound.server.host", "form.host"},
	{"inbound.server.port", "form.port"},
	{"inbound.server.security", "form.security"},
	{"inbound.server.allow_plaintext", "form.allowPlaintext"},
	{"inbound.credentials.username", "form.username"},
	{"inbound.credentials.password", "form.password"},
	{"inbound.folder", "form.folder"},
	{"inbound.post_action", "form.postAction"},
	{"inbound.move_to", "form.moveTo"},
	{"outbound.server.host", "form.host"},
	{"outbound.server.port", "form.port"},
	{"outbound.server.security", "form.security"},
	{"outbound.server.allow_plaintext", "form.allowPlaintext"},
	{"outbound.credentials.username", "form.username"},
	{"outbound.credentials.password", "form.password"},
	{"outbound.from.name", "form.fromName"},
	{"outbound.from.address", "form.fromAddress"},
	{"outbound.reply_to", "form.replyTo"},
	{"outbound.max_connections", "form.maxConnections"},
}

// placeOf returns the form field an error path is shown beside: the field
// itself, the kind for a missing or refused settings block, or the nearest
// parent field ("inbound.credentials.mechanism" has no input: the username
// is the nearest credential field).
func placeOf(path string) (field, label string) {
	for _, f := range formFields {
		if f.Path == path {
			return f.Path, f.Label
		}
	}
	switch path {
	case "inbound", "outbound":
		return "kind", "mailboxes.kind"
	}
	if i := strings.LastIndexByte(path, '.'); i > 0 {
		parent := path[:i]
		for _, f := range formFields {
			if strings.HasPrefix(f.Path, parent+".") {
				return f.Path, f.Label
			}
		}
	}
	return "", ""
}

// mailboxView is a row of the mailbox list.
type mailboxView struct {
	M         *mailbox.Mailbox
	Server    string
	Health    HealthView
	System    bool
	Contracts []string
	// Auth is the login method (oauth.go); Account the connected account.
	Auth, Account string
}

type mailboxListData struct {
	Mailboxes []mailboxView
	Pager     pager
	// Reauth are the OAuth2 mailboxes needing a sign-in (the banner);
	// Providers the configured ones (the Connect buttons).
	Reauth    []reauthView
	Providers []string
}

func (a *App) mailboxList(w http.ResponseWriter, r *http.Request) {
	p := a.newPage(w, r, "mailboxes", "mailboxes.title")
	a.renderMailboxList(w, r, p, http.StatusOK)
}

func (a *App) renderMailboxList(w http.ResponseWriter, r *http.Request, p *page, status int) {
	health := a.engine.Health(r.Context())
	sys, _ := a.cat.SystemMailbox()
	var d mailboxListData
	all := sortedMailboxes(a.cat.Mailboxes())
	lo, hi, pg := a.paginate(r, p, "page", len(all))
	d.Pager = pg
	d.Reauth, d.Providers = a.reauthList(r.Context(), all, health), a.oauth.providerNames()
	for _, m := range all[lo:hi] {
		v := mailboxView{M: m, Health: health[m.ID], System: m.ID == sys}
		if a.oauth != nil {
			v.Auth = a.authMethod(r.Context(), m)
			if v.Auth == authOAuth2 && a.oauth.tokens != nil {
				g, _ := a.oauth.tokens.GetToken(r.Context(), m.ID)
				v.Account = g.Account
			}
		}
		if v.Health.State == "" {
			v.Health.State = "unknown"
		}
		switch {
		case m.Inbound != nil:
			v.Server = m.Inbound.Server.Host + ":" + strconv.Itoa(m.Inbound.Port())
		case m.Outbound != nil:
			v.Server = m.Outbound.Server.Host + ":" + strconv.Itoa(m.Outbound.Port())
		}
		for _, c := range a.cat.ContractsUsing(m.ID) {
			v.Contracts = append(v.Contracts, a.contractLabel(c))
		}
		d.Mailboxes = append(d.Mailboxes, v)
	}
	p.Data = d
	a.render(w, status, "mailboxes", p)
}

// mailboxFormData is the form's state: the raw values as typed (so a
// rejected form comes back as the user left it, passwords excepted).
type mailboxFormData struct {
	New    bool
	ID     mailbox.ID
	V      url.Values
	HasPwd bool // the saved mailbox has a password (left empty keeps it)
	// Retype: a password was typed in a form that came back rejected.
	Retype bool
	Probe  *probeView
	// Providers are the configured OAuth2 providers (empty: no login
	// method choice).
	Providers []string
}

type probeView struct {
	OK        bool
	Message   string
	Rows      [][2]string
	Warnings  []string
	Class     string // transport.Class name ("auth")
	ClassText string
	Hint      string
	Detail    string
}

// PwdHelp is the catalog key of the help under the password fields.
func (d *mailboxFormData) PwdHelp() string {
	switch {
	case d.Retype:
		return "form.password.again"
	case d.HasPwd:
		return "form.password.keep"
	}
	return "form.password.never"
}

// Val returns a form value.
func (d *mailboxFormData) Val(path string) string { return d.V.Get(path) }

// Checked reports whether a checkbox is on.
func (d *mailboxFormData) Checked(path string) bool { return d.V.Get(path) != "" }

func (a *App) mailboxNew(w http.ResponseWriter, r *http.Request) {
	p := a.newPage(w, r, "mailboxes", "mailboxes.new")
	v := url.Values{}
	v.Set("enabled", "on")
	if k := r.URL.Query().Get("kind"); k == "inbound" || k == "outbound" {
		v.Set("kind", k)
	}
	v.Set("auth", authPassword)
	p.Data = &mailboxFormData{New: true, V: v, Providers: a.oauth.providerNames()}
	p.Form = v
	a.render(w, http.StatusOK, "mailbox_form", p)
}

func (a *App) mailboxEdit(w http.ResponseWriter, r *http.Request) {
	m, ok := a.cat.Mailbox(mailbox.ID(r.PathValue("id")))
	if !ok {
		a.notFound(w, r)
		return
	}
	p := a.newPage(w, r, "mailboxes", "mailboxes.edit")
	d := &mailboxFormData{ID: m.ID, V: mailboxValues(m), HasPwd: hasPassword(m), Providers: a.oauth.providerNames()}
	a.authValues(r.Context(), m, d.V)
	p.Data, p.Form = d, d.V
	a.render(w, http.StatusOK, "mailbox_form", p)
}

func hasPassword(m *mailbox.Mailbox) bool {
	switch {
	case m == nil:
		return false
	case m.Inbound != nil:
		return !m.Inbound.Credentials.Password.IsZero()
	case m.Outbound != nil:
		return !m.Outbound.Credentials.Password.IsZero()
	}
	return false
}

// mailboxValues turns a saved mailbox into form values (never the
// password).
func mailboxValues(m *mailbox.Mailbox) url.Values {
	v := url.Values{}
	v.Set("description", m.Description)
	v.Set("address", m.Address)
	if m.Enabled {
		v.Set("enabled", "on")
	}
	port := func(p int) string {
		if p == 0 {
			return ""
		}
		return strconv.Itoa(p)
	}
	server := func(prefix string, s mailbox.Server) {
		v.Set(prefix+".server.host", s.Host)
		v.Set(prefix+".server.port", port(s.Port))
		v.Set(prefix+".server.security", string(s.Security))
		if s.AllowPlaintext {
			v.Set(prefix+".server.allow_plaintext", "on")
		}
	}
	switch {
	case m.Inbound != nil:
		v.Set("kind", "inbound")
		s := m.Inbound
		server("inbound", s.Server)
		v.Set("inbound.credentials.username", s.Credentials.Username)
		v.Set("inbound.folder", s.Folder)
		v.Set("inbound.post_action", string(s.PostAction))
		v.Set("inbound.move_to", s.MoveTo)
	case m.Outbound != nil:
		v.Set("kind", "outbound")
		s := m.Outbound
		server("outbound", s.Server)
		v.Set("outbound.credentials.username", s.Credentials.Username)
		v.Set("outbound.from.name", s.From.Name)
		v.Set("outbound.from.address", s.From.Address)
		v.Set("outbound.reply_to", s.ReplyTo)
		v.Set("outbound.max_connections", port(s.MaxConnections))
	}
	return v
}

// mailboxFromForm builds a mailbox from the form. Only the chosen kind's
// fieldset is read (the other one is shown, without JavaScript, but
// ignored). An empty password keeps old's. Numbers that do not parse are
// returned as field errors; everything else is left to Validate.
func mailboxFromForm(v url.Values, id mailbox.ID, old *mailbox.Mailbox) (*mailbox.Mailbox, []*mailbox.FieldError) {
	var errs []*mailbox.FieldError
	num := func(path string) int {
		s := strings.TrimSpace(v.Get(path))
		if s == "" {
			return 0
		}
		n, err := strconv.Atoi(s)
		if err != nil {
			errs = append(errs, &mailbox.FieldError{Path: path, Code: codeNumber, Message: "not a whole number"})
			return 0
		}
		return n
	}
	server := func(prefix string) mailbox.Server {
		return mailbox.Server{
			Host:           strings.TrimSpace(v.Get(prefix + ".server.host")),
			Port:           num(prefix + ".server.port"),
			Security:       mailbox.Security(v.Get(prefix + ".server.security")),
			AllowPlaintext: v.Get(prefix+".server.allow_plaintext") != "",
		}
	}
	creds := func(prefix string, oldCreds *mailbox.Credentials) mailbox.Credentials {
		c := mailbox.Credentials{
			Username: strings.TrimSpace(v.Get(prefix + ".credentials.username")),
			Password: mailbox.NewSecret(v.Get(prefix + ".credentials.password")),
		}
		if c.Password.IsZero() && oldCreds != nil {
			c.Password = oldCreds.Password
		}
		return c
	}
	m := &mailbox.Mailbox{
		ID:          id,
		Description: strings.TrimSpace(v.Get("description")),
		Address:     strings.TrimSpace(v.Get("address")),
		Enabled:     v.Get("enabled") != "",
	}
	switch v.Get("kind") {
	case "inbound":
		m.Kind = mailbox.Inbound
		var oc *mailbox.Credentials
		if old != nil && old.Inbound != nil {
			oc = &old.Inbound.Credentials
		}
		m.Inbound = &mailbox.InboundSettings{
			Server:      server("inbound"),
			Credentials: creds("inbound", oc),
			Folder:      strings.TrimSpace(v.Get("inbound.folder")),
			PostAction:  mailbox.PostAction(v.Get("inbound.post_action")),
			MoveTo:      strings.TrimSpace(v.Get("inbound.move_to")),
		}
		if old != nil && old.Inbound != nil {
			// Settings the form does not show are kept.
			s := old.Inbound
			m.Inbound.QuarantineFolder, m.Inbound.StartFrom, m.Inbound.PollInterval = s.QuarantineFolder, s.StartFrom, s.PollInterval
			m.Inbound.Idle, m.Inbound.MaxMessageSize = s.Idle, s.MaxMessageSize
		}
	case "outbound":
		m.Kind = mailbox.Outbound
		var oc *mailbox.Credentials
		if old != nil && old.Outbound != nil {
			oc = &old.Outbound.Credentials
		}
		m.Outbound = &mailbox.OutboundSettings{
			Server:         server("outbound"),
			Credentials:    creds("outbound", oc),
			From:           mailbox.Identity{Name: strings.TrimSpace(v.Get("outbound.from.name")), Address: strings.TrimSpace(v.Get("outbound.from.address"))},
			ReplyTo:        strings.TrimSpace(v.Get("outbound.reply_to")),
			MaxConnections: num("outbound.max_connections"),
		}
		if old != nil && old.Outbound != nil {
			s := old.Outbound
			m.Outbound.RateLimit, m.Outbound.HELOName = s.RateLimit, s.HELOName
		}
	case "":
	default:
		m.Kind = mailbox.Kind(-1) // Validate reports it unsupported
	}
	return m, errs
}

// codeNumber is the helpdesk's own code for a number that does not parse
// (the mailbox package never sees the text).
const codeNumber mailbox.Code = "number"

// fieldMessage translates a field error by its stable code; an unknown
// code falls back to the package's English message.
func fieldMessage(lang string, fe *mailbox.FieldError) string {
	if fe.Code == codeTooLong {
		return tr(lang, "err.too_long", limitOf(fe.Path))
	}
	if _, ok := catalog[langEN]["err."+string(fe.Code)]; ok {
		return tr(lang, "err."+string(fe.Code))
	}
	return fe.Message
}

func (p *page) addFieldErrors(errs []*mailbox.FieldError) {
	// In the order of the form, so the summary reads top to bottom.
	order := func(path string) int {
		field, _ := placeOf(path)
		for i, f := range formFields {
			if f.Path == field {
				return i
			}
		}
		return len(formFields)
	}
	errs = oneErrorPerProblem(errs)
	slices.SortStableFunc(errs, func(a, b *mailbox.FieldError) int { return order(a.Path) - order(b.Path) })
	for _, fe := range errs {
		field, label := placeOf(fe.Path)
		l := fe.Path
		if label != "" {
			l = p.T(label)
			if strings.HasPrefix(fe.Path, "inbound.") {
				l = p.T("kind.inbound") + " · " + l
			} else if strings.HasPrefix(fe.Path, "outbound.") {
				l = p.T("kind.outbound") + " · " + l
			}
		}
		p.addErr(field, l, fieldMessage(p.Lang, fe))
	}
}

func (a *App) mailboxSave(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	id := mailbox.ID(r.PathValue("id"))
	isNew := id == ""
	var old *mailbox.Mailbox
	if !isNew {
		o, ok := a.cat.Mailbox(id)
		if !ok {
			a.notFound(w, r)
			return
		}
		old = o
	} else {
		id = mailbox.ID(newID("mb"))
	}
	title := "mailboxes.edit"
	if isNew {
		title = "mailboxes.new"
	}
	p := a.newPage(w, r, "mailboxes", title)
	// Never echo a password back into the page.
	v := cloneValues(r.PostForm)
	v.Del("inbound.credentials.password")
	v.Del("outbound.credentials.password")
	v.Del("auth.sakey") // a service account key is never echoed either
	d := &mailboxFormData{New: isNew, ID: id, V: v, HasPwd: hasPassword(old), Providers: a.oauth.providerNames()}
	if isNew {
		d.ID = ""
	}
	d.Retype = r.PostForm.Get("inbound.credentials.password") != "" || r.PostForm.Get("outbound.credentials.password") != ""
	p.Data, p.Form = d, v

	m, errs := mailboxFromForm(r.PostForm, id, old)
	if !validAuth(r.PostForm.Get("auth")) {
		errs = append(errs, &mailbox.FieldError{Path: "auth", Code: mailbox.CodeInvalid, Message: "unknown login method"})
	}
	a.applyAuth(m, r.PostForm)
	errs = append(errs, a.checkServiceAccount(r.Context(), id, r.PostForm)...)
	if err := m.Validate(); err != nil {
		errs = append(errs, mailbox.FieldErrors(err)...)
	}
	errs = append(errs, helpdeskChecks(m)...)
	if len(errs) == 0 && r.PostForm.Get("action") != "test" {
		// The connection test's address policy, applied at save too.
		if fe := policyCheck(r.Context(), a.policy, a.resolver, m); fe != nil {
			errs = append(errs, fe)
		}
	}
	if len(errs) > 0 {
		p.addFieldErrors(errs)
		a.render(w, http.StatusUnprocessableEntity, "mailbox_form", p)
		return
	}

	if r.PostForm.Get("action") == "test" {
		d.Probe = a.probe(r, p, m)
		a.render(w, http.StatusOK, "mailbox_form", p)
		return
	}

	if err := a.cat.PutMailbox(r.Context(), m); err != nil {
		a.putError(p, err)
		a.render(w, http.StatusUnprocessableEntity, "mailbox_form", p)
		return
	}
	if err := a.saveAuth(r.Context(), m, r.PostForm); err != nil {
		a.log.Error("save login method", "mailbox", string(m.ID), "err", err)
	}
	a.engine.MailboxSaved(m)
	http.Redirect(w, r, "/mailboxes?done=saved", http.StatusSeeOther)
}

// putError shows a store's refusal: field errors beside their fields,
// rule errors beside the field they name, anything else at the top.
func (a *App) putError(p *page, err error) {
	if fes := mailbox.FieldErrors(err); len(fes) > 0 {
		p.addFieldErrors(fes)
		return
	}
	if res := ruleErrors(err); len(res) > 0 {
		for _, re := range res {
			field := re.Path
			if field == "system_mailbox" {
				field = "kind"
			}
			p.addErr(field, p.T("mailboxes.kind"), a.ruleMessage(p.Lang, re))
		}
		return
	}
	a.log.Error("save", "err", err)
	p.Error = p.T("err.store", err.Error())
}

func (a *App) probe(r *http.Request, p *page, m *mailbox.Mailbox) *probeView {
	rep, err := a.engine.Probe(r.Context(), m)
	v := &probeView{Warnings: rep.Warnings}
	for _, row := range rep.Rows {
		val := row[1]
		if row[0] == "probe.security" {
			if val == "" {
				val = "default"
			}
			val = p.T("form.security." + val)
		}
		v.Rows = append(v.Rows, [2]string{p.T(row[0]), val})
	}
	switch {
	case err == nil:
		v.OK = true
		v.Message = p.T("form.test.ok")
	case errors.Is(err, errProbeUnavailable):
		v.Message = p.T("form.test.unavailable")
	default:
		v.Message = p.T("form.test.failed")
		// The class says what went wrong and what to do, in the page's
		// language; the library's own (English) text is the detail.
		v.Class = transport.ClassOf(err).String()
		if _, ok := catalog[langEN]["class."+v.Class]; !ok {
			v.Class = "unknown"
		}
		v.ClassText = p.T("class." + v.Class)
		v.Hint = p.T("class." + v.Class + ".hint")
		v.Detail = err.Error()
	}
	return v
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

func (a *App) mailboxConfirmDelete(w http.ResponseWriter, r *http.Request) {
	m, ok := a.cat.Mailbox(mailbox.ID(r.PathValue("id")))
	if !ok {
		a.notFound(w, r)
		return
	}
	a.confirm(w, r, "mailboxes", confirmData{Name: short(m.Description), Action: r.URL.Path, Back: "/mailboxes"})
}

func (a *App) mailboxDelete(w http.ResponseWriter, r *http.Request) {
	if !confirmed(w, r) {
		return
	}
	id := mailbox.ID(r.PathValue("id"))
	if err := a.cat.DeleteMailbox(r.Context(), id); err != nil {
		p := a.newPage(w, r, "mailboxes", "mailboxes.title")
		p.Path = "/mailboxes"
		p.Error = a.anyErrorMessage(p, err)
		a.renderMailboxList(w, r, p, http.StatusConflict)
		return
	}
	a.forgetAuth(r.Context(), id)
	a.engine.MailboxRemoved(id)
	http.Redirect(w, r, "/mailboxes?done=deleted", http.StatusSeeOther)
}

func (a *App) mailboxSystem(w http.ResponseWriter, r *http.Request) {
	id := mailbox.ID(r.PathValue("id"))
	if err := a.cat.SetSystemMailbox(r.Context(), id); err != nil {
		p := a.newPage(w, r, "mailboxes", "mailboxes.title")
		p.Path = "/mailboxes"
		p.Error = a.anyErrorMessage(p, err)
		a.renderMailboxList(w, r, p, http.StatusConflict)
		return
	}
	http.Redirect(w, r, "/mailboxes?done=saved", http.StatusSeeOther)
}

// anyErrorMessage translates a rule error, or shows a store error as is.
func (a *App) anyErrorMessage(p *page, err error) string {
	if res := ruleErrors(err); len(res) > 0 {
		var msgs []string
		for _, re := range res {
			msgs = append(msgs, a.ruleMessage(p.Lang, re))
		}
		return strings.Join(msgs, " ")
	}
	return p.T("err.store", err.Error())
}
