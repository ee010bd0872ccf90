package main

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/correio-dev/correio/contract"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/outbound"
	"github.com/correio-dev/correio/routing"
	"github.com/correio-dev/correio/workflow"
	"github.com/correio-dev/correio/workflow/systemmsg"
)

// workflowData is the email step form and the result of its last test.
type workflowData struct {
	V         url.Values
	Outbound  []*mailbox.Mailbox
	Contracts []*contract.Contract
	Users     []workflow.User
	Groups    []group
	Presets   []systemmsg.Kind
	Result    *sendView
	// NotSaved: the step was refused by stepChecks, FirstErr the first
	// field marked.
	NotSaved bool
	FirstErr string
}

// Val returns a form value; Vals all values of a multi-select.
func (d *workflowData) Val(k string) string    { return d.V.Get(k) }
func (d *workflowData) Vals(k string) []string { return d.V[k] }

type sendView struct {
	OK    bool
	Error string // translated, when no field is concerned
	// Field is the input the error is shown beside.
	Field     string
	Mailbox   string
	Rule      string
	Reason    string // translated
	ReasonEN  string // routing.Decision.Reason(), as the library says it
	To        []string
	NoAddress []string
	Invalid   []string
	Subject   string
	IDs       []string
	MsgIDs    []string
	Recorded  bool
}

func (a *App) defaultStep(lang string) url.Values {
	v := url.Values{}
	v.Set("name", "Request opened")
	v.Set("choice", "contract")
	v.Set("delivery", "each")
	v["users"] = []string{"ana"}
	v.Set("request", "1001")
	v.Set("title", "Printer on floor 2 is jammed")
	if lang == langPT {
		v.Set("name", "Solicitação aberta")
		v.Set("title", "Impressora do 2º andar travada")
	}
	a.loadPreset(v, systemmsg.RequestOpened, lang)
	return v
}

func (a *App) loadPreset(v url.Values, k systemmsg.Kind, lang string) {
	src, err := a.msgs.Source(k, lang)
	if err != nil {
		return
	}
	v.Set("subject", src.Subject)
	v.Set("text", src.Text)
	v.Set("html", src.HTML)
	v.Set("name", tr(lang, "wf.preset."+string(k)))
}

func (a *App) workflowData(v url.Values) *workflowData {
	d := &workflowData{V: v, Users: a.dir.Users(), Groups: a.dir.Groups(), Presets: systemmsg.Kinds()}
	for _, m := range sortedMailboxes(a.cat.Mailboxes()) {
		if m.Kind == mailbox.Outbound {
			d.Outbound = append(d.Outbound, m)
		}
	}
	d.Contracts = a.cat.Contracts()
	return d
}

func (a *App) workflowPage(w http.ResponseWriter, r *http.Request) {
	p := a.newPage(w, r, "workflow", "wf.title")
	v := a.savedStep(r.Context())
	if v == nil {
		v = a.defaultStep(p.Lang)
	}
	p.Data = a.workflowData(cloneValues(v))
	a.render(w, http.StatusOK, "workflow", p)
}

func (a *App) workflowPost(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	p := a.newPage(w, r, "workflow", "wf.title")
	v := cloneValues(r.PostForm)
	action := v.Get("action")
	v.Del("action")
	d := a.workflowData(v)
	p.Data = d
	if action == "preset" {
		// Loaded into the form only: what was saved stays until Save, so
		// a preset never overwrites the saved templates by itself.
		a.loadPreset(v, systemmsg.Kind(v.Get("preset")), p.Lang)
		p.Flash = p.T("wf.preset.loaded")
		a.render(w, http.StatusOK, "workflow", p)
		return
	}
	c, f := stepFromForm(v)
	// Checked before it is kept: a step its own run would refuse is not
	// saved (stepChecks, workflowvalid.go).
	if errs := a.stepChecks(p.Lang, v, c); len(errs) > 0 {
		d.NotSaved = true
		for _, fm := range errs {
			switch {
			case fm.field == "":
				p.Error = fm.msg
			case !contains(p.Errs[fm.field], fm.msg):
				p.Errs[fm.field] = append(p.Errs[fm.field], fm.msg)
				if d.FirstErr == "" {
					d.FirstErr = fm.field
				}
			}
		}
		a.render(w, http.StatusUnprocessableEntity, "workflow", p)
		return
	}
	if err := a.saveStep(r.Context(), v); err != nil {
		a.log.Error("save email step", "err", err)
		p.Error = p.T("err.store", p.T("wf.step"))
	} else if action == "save" {
		p.Flash = p.T("common.saved")
	}
	if action != "send" {
		a.render(w, http.StatusOK, "workflow", p)
		return
	}

	if ct, ok := a.cat.Contract(f.Contract); ok {
		f.Vars["Contract"] = ct.Name
	}
	res, err := a.engine.Send(r.Context(), c, f)
	sv := &sendView{OK: err == nil, IDs: res.IDs, MsgIDs: res.MessageIDs, Recorded: res.Recorded, Subject: res.Subject}
	if res.Decision.Mailbox != nil {
		sv.Mailbox = res.Decision.Mailbox.Description
		sv.Rule = res.Decision.Rule.String()
		sv.Reason = a.reason(p.Lang, res.Decision)
		sv.ReasonEN = res.Decision.Reason()
	}
	for _, rc := range res.Expansion.To {
		s := rc.Address
		if rc.Name != "" {
			s = rc.Name + " <" + rc.Address + ">"
		}
		sv.To = append(sv.To, s)
	}
	for _, u := range res.Expansion.WithoutAddress {
		sv.NoAddress = append(sv.NoAddress, string(u))
	}
	sv.Invalid = res.Expansion.Invalid
	if err != nil {
		// Once, translated, beside the field it is about when there is
		// one (else in the result card); the library's text goes to the
		// log, not to the page.
		a.log.Warn("email step", "err", err)
		for _, fm := range a.stepErrors(p.Lang, c, err) {
			if fm.field == "" {
				sv.Error = fm.msg
				continue
			}
			if !contains(p.Errs[fm.field], fm.msg) {
				p.Errs[fm.field] = append(p.Errs[fm.field], fm.msg)
			}
			if sv.Field == "" {
				sv.Field = fm.field
			}
		}
	}
	d.Result = sv
	a.render(w, http.StatusOK, "workflow", p)
}

// savedStep returns the email step being edited: from memory, else from
// the settings table (nil when none was ever saved).
func (a *App) savedStep(ctx context.Context) url.Values {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.step == nil && a.settings != nil {
		v, err := a.settings.Load(ctx, stepKey)
		if err != nil {
			a.log.Error("load email step", "err", err)
		}
		a.step = v
	}
	if a.step == nil {
		return nil
	}
	return cloneValues(a.step)
}

// saveStep keeps the step in memory and in the settings table.
func (a *App) saveStep(ctx context.Context, v url.Values) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.step = cloneValues(v)
	if a.settings == nil {
		return nil
	}
	return a.settings.Save(ctx, stepKey, v)
}

// stepFromForm builds the EmailConnector and the test flow from the form.
func stepFromForm(v url.Values) (*workflow.EmailConnector, SendFlow) {
	c := &workflow.EmailConnector{
		Name:    v.Get("name"),
		Subject: v.Get("subject"),
		Text:    v.Get("text"),
		HTML:    v.Get("html"),
	}
	if ch, err := workflow.ParseMailboxChoice(v.Get("choice")); err == nil {
		c.Mailbox = ch
	}
	if c.Mailbox == workflow.Specific {
		c.MailboxID = mailbox.ID(v.Get("mailbox_id"))
	}
	for _, u := range v["users"] {
		c.Recipients.Users = append(c.Recipients.Users, workflow.UserID(u))
	}
	for _, g := range v["groups"] {
		c.Recipients.Groups = append(c.Recipients.Groups, workflow.GroupID(g))
	}
	for _, line := range strings.Split(v.Get("addresses"), "\n") {
		if s := strings.TrimSpace(line); s != "" {
			c.Recipients.Addresses = append(c.Recipients.Addresses, s)
		}
	}
	if v.Get("delivery") == "bcc" {
		c.Delivery = workflow.SingleBcc
	}
	req := strings.TrimSpace(v.Get("request"))
	f := SendFlow{
		Contract: contract.ID(v.Get("contract")),
		Thread:   req,
		Vars: workflow.Vars{
			"Request":    req,
			"Title":      strings.TrimSpace(v.Get("title")),
			"Requester":  "Ana Souza",
			"Sender":     "Helpdesk",
			"Approver":   "Bruno Lima",
			"Contract":   "",
			"Link":       "",
			"Resolution": "",
		},
	}
	return c, f
}

// reason explains a decision in the page's language; the library's own
// English sentence (Decision.Reason) is shown beside it.
func (a *App) reason(lang string, d routing.Decision) string {
	mb := d.Mailbox.Description
	switch d.Rule {
	case routing.RuleSpecific:
		return tr(lang, "rule.specific", mb)
	case routing.RuleContract:
		return tr(lang, "rule.contract", mb, a.contractLabel(d.Contract))
	case routing.RuleSystemNoContract:
		return tr(lang, "rule.system_no_contract", mb)
	case routing.RuleSystemContractHasNone:
		return tr(lang, "rule.system_contract_has_none", a.contractLabel(d.Contract), mb)
	case routing.RuleSystem:
		return tr(lang, "rule.system", mb)
	case routing.RuleFailover:
		return tr(lang, "rule.failover", mb)
	}
	return d.Reason()
}

type fieldMsg struct{ field, msg string }

// stepFields maps the connector's validation paths to the form's inputs.
var stepFields = map[string]string{
	"mailbox": "choice", "mailbox_id": "mailbox_id", "recipients": "users",
	"subject": "subject", "text": "text", "html": "text",
}

// stepErrors translates what an email step ended with, field by field:
// the connector's validation errors (workflow.EmailConnector.Validate)
// and the resolver's and the runner's errors.
func (a *App) stepErrors(lang string, c *workflow.EmailConnector, err error) []fieldMsg {
	fes := mailbox.FieldErrors(err)
	if len(fes) == 0 {
		field, msg := a.sendError(lang, err)
		return []fieldMsg{{field, msg}}
	}
	var out []fieldMsg
	for _, fe := range fes {
		if fe.Path == "templates" {
			// Which template: the subject alone compiles or not.
			f := "text"
			if _, cerr := workflow.Compile(c.Subject, "x", ""); cerr != nil {
				f = "subject"
			}
			out = append(out, fieldMsg{f, tr(lang, "resolve.template")})
			continue
		}
		out = append(out, fieldMsg{stepFields[fe.Path], fieldMessage(lang, fe)})
	}
	return out
}

// sendError translates the errors an email step can end with and names the
// form field each one is about ("" for none).
func (a *App) sendError(lang string, err error) (field, msg string) {
	var te *workflow.TemplateError
	var ie *outbound.InputError
	switch {
	case errors.As(err, &ie):
		// The rendered message, refused by the outbox's checks.
		return inputError(lang, ie)
	case errors.Is(err, routing.ErrNoSystemMailbox):
		return "choice", tr(lang, "resolve.no_system")
	case errors.Is(err, routing.ErrMailboxNotFound):
		return "mailbox_id", tr(lang, "resolve.not_found")
	case errors.Is(err, routing.ErrNotOutbound):
		return "mailbox_id", tr(lang, "resolve.not_outbound")
	case errors.Is(err, routing.ErrMailboxDisabled):
		return "choice", tr(lang, "resolve.disabled")
	case errors.Is(err, routing.ErrContractNotFound):
		return "contract", tr(lang, "resolve.contract_not_found")
	case errors.Is(err, routing.ErrBadChoice):
		return "choice", tr(lang, "resolve.bad_choice")
	case errors.Is(err, workflow.ErrNoRecipients):
		return "users", tr(lang, "resolve.no_recipients")
	case errors.Is(err, workflow.ErrHeaderInjection):
		return "subject", tr(lang, "resolve.header")
	case errors.As(err, &te):
		f := te.Field
		if f != "subject" {
			f = "text" // the HTML template is edited with the text
		}
		return f, tr(lang, "resolve.template")
	}
	return "", tr(lang, "resolve.other")
}

// inputError places a message the outbox refused (outbound.InputError,
// by the field of the rendered message) beside the form field it comes
// from.
func inputError(lang string, ie *outbound.InputError) (field, msg string) {
	switch f := ie.Field; {
	case f == "subject":
		return "subject", tr(lang, "resolve.header")
	case f == "text" || f == "html":
		if errors.Is(ie, outbound.ErrInvalid) {
			return "text", tr(lang, "resolve.empty_body")
		}
		return "text", tr(lang, "resolve.other")
	case strings.HasPrefix(f, "to") || strings.HasPrefix(f, "cc") || strings.HasPrefix(f, "bcc"):
		return "users", tr(lang, "resolve.bad_recipient")
	case f == "thread":
		return "request", tr(lang, "err.control_chars")
	}
	return "", tr(lang, "resolve.other")
}
