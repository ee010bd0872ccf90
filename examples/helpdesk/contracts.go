package main

import (
	"net/http"
	"sort"
	"strings"

	"github.com/correio-dev/correio/contract"
	"github.com/correio-dev/correio/mailbox"
)

type contractView struct {
	C        *contract.Contract
	Outbound string
	Inbound  []string
}

type contractListData struct {
	Contracts []contractView
	Pager     pager
}

func (a *App) contractList(w http.ResponseWriter, r *http.Request) {
	p := a.newPage(w, r, "contracts", "contracts.title")
	a.renderContractList(w, r, p, http.StatusOK)
}

func (a *App) renderContractList(w http.ResponseWriter, r *http.Request, p *page, status int) {
	var d contractListData
	cs := a.cat.Contracts()
	sort.SliceStable(cs, func(i, j int) bool { return strings.ToLower(cs[i].Name) < strings.ToLower(cs[j].Name) })
	lo, hi, pg := a.paginate(r, p, "page", len(cs))
	d.Pager = pg
	for _, c := range cs[lo:hi] {
		v := contractView{C: c}
		if c.OutboundMailbox != "" {
			v.Outbound = a.mailboxLabel(c.OutboundMailbox)
		}
		for _, id := range c.InboundMailboxes {
			v.Inbound = append(v.Inbound, a.mailboxLabel(id))
		}
		d.Contracts = append(d.Contracts, v)
	}
	p.Data = d
	a.render(w, status, "contracts", p)
}

// contractFormData is the contract form: the values as typed and the
// mailboxes that may be chosen.
type contractFormData struct {
	New      bool
	ID       contract.ID
	Name     string
	Outbound string
	Inbound  []string
	// OutboundChoices are the registered outbound mailboxes only.
	OutboundChoices []*mailbox.Mailbox
	// InboundChoices are the inbound mailboxes no other contract owns.
	InboundChoices []*mailbox.Mailbox
}

func (a *App) contractChoices(d *contractFormData) {
	for _, m := range sortedMailboxes(a.cat.Mailboxes()) {
		switch m.Kind {
		case mailbox.Outbound:
			d.OutboundChoices = append(d.OutboundChoices, m)
		case mailbox.Inbound:
			owner, owned := a.cat.InboundOwner(m.ID)
			if !owned || (d.ID != "" && owner == d.ID) {
				d.InboundChoices = append(d.InboundChoices, m)
			}
		}
	}
}

func (a *App) contractNew(w http.ResponseWriter, r *http.Request) {
	p := a.newPage(w, r, "contracts", "contracts.new")
	d := &contractFormData{New: true}
	a.contractChoices(d)
	p.Data = d
	a.render(w, http.StatusOK, "contract_form", p)
}

func (a *App) contractEdit(w http.ResponseWriter, r *http.Request) {
	c, ok := a.cat.Contract(contract.ID(r.PathValue("id")))
	if !ok {
		a.notFound(w, r)
		return
	}
	p := a.newPage(w, r, "contracts", "contracts.edit")
	d := &contractFormData{ID: c.ID, Name: c.Name, Outbound: string(c.OutboundMailbox)}
	for _, id := range c.InboundMailboxes {
		d.Inbound = append(d.Inbound, string(id))
	}
	a.contractChoices(d)
	p.Data = d
	a.render(w, http.StatusOK, "contract_form", p)
}

var contractLabels = map[string]string{
	"name":              "contracts.name",
	"outbound_mailbox":  "contracts.outbound",
	"inbound_mailboxes": "contracts.inbound",
}

func (a *App) contractSave(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	id := contract.ID(r.PathValue("id"))
	isNew := id == ""
	if !isNew {
		if _, ok := a.cat.Contract(id); !ok {
			a.notFound(w, r)
			return
		}
	}
	title := "contracts.edit"
	if isNew {
		title = "contracts.new"
	}
	p := a.newPage(w, r, "contracts", title)
	d := &contractFormData{
		New:      isNew,
		ID:       id,
		Name:     strings.TrimSpace(r.PostForm.Get("name")),
		Outbound: r.PostForm.Get("outbound_mailbox"),
		Inbound:  r.PostForm["inbound_mailboxes"],
	}
	a.contractChoices(d)
	p.Data = d
	if isNew {
		id = contract.ID(newID("ct"))
	}
	c := &contract.Contract{ID: id, Name: d.Name, OutboundMailbox: mailbox.ID(d.Outbound)}
	for _, in := range d.Inbound {
		c.InboundMailboxes = append(c.InboundMailboxes, mailbox.ID(in))
	}
	// The helpdesk's own limits on the name: one line, bounded length
	// (it is shown in lists and may reach a mail template).
	switch {
	case hasControl(r.PostForm.Get("name")):
		p.addErr("name", p.T("contracts.name"), tr(p.Lang, "err.control_chars"))
	case tooLong(d.Name, maxContractName):
		p.addErr("name", p.T("contracts.name"), tr(p.Lang, "err.too_long", maxContractName))
	}
	if len(p.Summary) > 0 {
		a.render(w, http.StatusUnprocessableEntity, "contract_form", p)
		return
	}
	err := a.cat.PutContract(r.Context(), c)
	if err == nil {
		http.Redirect(w, r, "/contracts?done=saved", http.StatusSeeOther)
		return
	}
	res := ruleErrors(err)
	if len(res) == 0 {
		p.Error = p.T("err.store", err.Error())
	}
	for _, re := range res {
		label := contractLabels[re.Path]
		field := re.Path
		if label == "" {
			field = ""
		} else {
			label = p.T(label)
		}
		msg := a.ruleMessage(p.Lang, re)
		if re.Mailbox != "" && re.Path == "inbound_mailboxes" {
			msg = a.mailboxLabel(re.Mailbox) + ": " + msg
		}
		p.addErr(field, label, msg)
	}
	a.render(w, http.StatusUnprocessableEntity, "contract_form", p)
}

func (a *App) contractConfirmDelete(w http.ResponseWriter, r *http.Request) {
	c, ok := a.cat.Contract(contract.ID(r.PathValue("id")))
	if !ok {
		a.notFound(w, r)
		return
	}
	a.confirm(w, r, "contracts", confirmData{Name: short(c.Name), Action: r.URL.Path, Back: "/contracts"})
}

func (a *App) contractDelete(w http.ResponseWriter, r *http.Request) {
	if !confirmed(w, r) {
		return
	}
	if err := a.cat.DeleteContract(r.Context(), contract.ID(r.PathValue("id"))); err != nil {
		p := a.newPage(w, r, "contracts", "contracts.title")
		p.Path = "/contracts"
		p.Error = a.anyErrorMessage(p, err)
		a.renderContractList(w, r, p, http.StatusConflict)
		return
	}
	http.Redirect(w, r, "/contracts?done=deleted", http.StatusSeeOther)
}
