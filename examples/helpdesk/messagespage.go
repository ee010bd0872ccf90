package main

import (
	"net/http"
	"sort"
	"strings"

	"github.com/correio-dev/correio/contract"
)

// contractMessages is one contract's section of the Messages page.
type contractMessages struct {
	ID       contract.ID
	Name     string
	Sent     []SentItem
	Received []ReceivedItem
}

type messagesData struct {
	Groups      []*contractMessages
	Quarantined []QuarantinedItem
	FromEngines bool
	// Pager pages the contracts' sections, QPager the quarantine.
	Pager, QPager pager
}

func (a *App) messagesPage(w http.ResponseWriter, r *http.Request) {
	a.renderMessages(w, r, http.StatusOK, "")
}

// renderMessages renders the Messages page, with an action's error.
func (a *App) renderMessages(w http.ResponseWriter, r *http.Request, status int, errMsg string) {
	p := a.newPage(w, r, "messages", "messages.title")
	p.Path = "/messages"
	p.Error = errMsg
	log, err := a.engine.Messages(r.Context())
	if err != nil {
		p.Error = p.T("err.store", err.Error())
	}
	d := &messagesData{Quarantined: log.Quarantined, FromEngines: log.FromEngines}
	groups := map[contract.ID]*contractMessages{}
	get := func(id contract.ID) *contractMessages {
		g := groups[id]
		if g == nil {
			g = &contractMessages{ID: id, Name: p.T("messages.nocontract")}
			if id != "" {
				g.Name = a.contractLabel(id)
			}
			groups[id] = g
		}
		return g
	}
	// Every contract gets a section, so "nothing yet" is visible too.
	for _, c := range a.cat.Contracts() {
		get(c.ID)
	}
	for _, s := range log.Sent {
		g := get(s.Contract)
		g.Sent = append(g.Sent, s)
	}
	for _, rc := range log.Received {
		g := get(rc.Contract)
		g.Received = append(g.Received, rc)
	}
	for _, g := range groups {
		sort.SliceStable(g.Sent, func(i, j int) bool { return g.Sent[i].At.After(g.Sent[j].At) })
		sort.SliceStable(g.Received, func(i, j int) bool { return g.Received[i].At.After(g.Received[j].At) })
		d.Groups = append(d.Groups, g)
	}
	// Contracts by name; mail without a contract last.
	sort.Slice(d.Groups, func(i, j int) bool {
		gi, gj := d.Groups[i], d.Groups[j]
		if (gi.ID == "") != (gj.ID == "") {
			return gj.ID == ""
		}
		return strings.ToLower(gi.Name) < strings.ToLower(gj.Name)
	})
	sort.SliceStable(d.Quarantined, func(i, j int) bool { return d.Quarantined[i].At.After(d.Quarantined[j].At) })
	lo, hi, pg := a.paginate(r, p, "page", len(d.Groups))
	d.Groups, d.Pager = d.Groups[lo:hi], pg
	lo, hi, pg = a.paginate(r, p, "qpage", len(d.Quarantined))
	d.Quarantined, d.QPager = d.Quarantined[lo:hi], pg
	p.Data = d
	a.render(w, status, "messages", p)
}
