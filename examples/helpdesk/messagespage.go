package main

import (
	"net/http"
	"net/url"
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
	// The pages of the sent and received mail: on the overview, the first
	// page with links to the contract's own view (?contract=).
	SentPager, ReceivedPager pager
}

type messagesData struct {
	Groups      []*contractMessages
	Quarantined []QuarantinedItem
	FromEngines bool
	// Pager pages the contracts' sections, QPager the quarantine.
	Pager, QPager pager
	// One is set on a contract's own view (?contract=ID; ?contract= for
	// the mail without a contract): its section alone.
	One bool
	// SentOmitted: older sent mail not listed (MessageLog.SentOmitted,
	// beyond the latest MaxSent).
	SentOmitted, MaxSent int
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
	d := &messagesData{Quarantined: log.Quarantined, FromEngines: log.FromEngines, SentOmitted: log.SentOmitted, MaxSent: maxSentListed}
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
	q := r.URL.Query()
	if q.Has("contract") {
		// One contract's view: its section, its quarantine.
		id := contract.ID(q.Get("contract"))
		g := groups[id]
		if g == nil {
			a.notFound(w, r)
			return
		}
		d.One, d.Groups = true, []*contractMessages{g}
		var qs []QuarantinedItem
		for _, it := range d.Quarantined {
			if it.Contract == id {
				qs = append(qs, it)
			}
		}
		d.Quarantined = qs
	} else {
		lo, hi, pg := a.paginate(r, p, "page", len(d.Groups))
		d.Groups, d.Pager = d.Groups[lo:hi], pg
	}
	for _, g := range d.Groups {
		// The overview's links lead to the contract's view.
		gq := url.Values{"contract": {string(g.ID)}}
		if d.One {
			gq = q
		}
		lo, hi, pg := a.pageOf(r.URL.Path, gq, p, "spage", len(g.Sent))
		g.Sent, g.SentPager = g.Sent[lo:hi], pg
		g.SentPager.Label = p.T("messages.sent.pages")
		lo, hi, pg = a.pageOf(r.URL.Path, gq, p, "rpage", len(g.Received))
		g.Received, g.ReceivedPager = g.Received[lo:hi], pg
		g.ReceivedPager.Label = p.T("messages.received.pages")
	}
	lo, hi, pg := a.paginate(r, p, "qpage", len(d.Quarantined))
	d.Quarantined, d.QPager = d.Quarantined[lo:hi], pg
	p.Data = d
	a.render(w, status, "messages", p)
}
