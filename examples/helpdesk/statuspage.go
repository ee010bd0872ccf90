package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/correio-dev/correio/engine"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/store"
)

// The operator's view: the Status page (every mailbox's state, what to do
// when it needs a person, and the actions check now, pause and resume),
// /healthz (the same as JSON, 503 while a mailbox needs a person, for a
// load balancer or an uptime monitor) and /metrics (Prometheus).

// statusRow is one mailbox on the Status page.
type statusRow struct {
	H engine.Health
	// Paused by an administrator (Resume instead of Pause).
	Paused bool
}

type statusData struct {
	Rows      []statusRow
	Attention int
	Pager     pager
}

func (a *App) statusPage(w http.ResponseWriter, r *http.Request) {
	a.renderStatus(w, r, http.StatusOK, "")
}

func (a *App) renderStatus(w http.ResponseWriter, r *http.Request, status int, errMsg string) {
	p := a.newPage(w, r, "status", "status.title")
	p.Path = "/status"
	p.Error = errMsg
	hs, err := a.engine.HealthAll(r.Context())
	if err != nil {
		p.Error = p.T("err.store", err.Error())
	}
	d := &statusData{}
	for _, h := range hs {
		if h.NeedsPerson() {
			d.Attention++
		}
		d.Rows = append(d.Rows, statusRow{H: h, Paused: h.State == engine.StatePaused && h.LastError == engine.ErrPausedByAdmin.Error()})
	}
	lo, hi, pg := a.paginate(r, p, "page", len(d.Rows))
	d.Rows, d.Pager = d.Rows[lo:hi], pg
	p.Data = d
	a.render(w, status, "status", p)
}

// Hint is the translated advice for a state that needs a person.
func (p *page) Hint(s engine.State) string {
	if s.Hint() == "" {
		return ""
	}
	return p.T("hint." + string(s))
}

func (a *App) statusID(r *http.Request) mailbox.ID { return mailbox.ID(r.PathValue("id")) }

func (a *App) statusCheck(w http.ResponseWriter, r *http.Request) {
	a.statusAct(w, r, "checked", a.engine.CheckNow(r.Context(), a.statusID(r)))
}

func (a *App) statusConfirmPause(w http.ResponseWriter, r *http.Request) {
	id := a.statusID(r)
	if _, ok := a.cat.Mailbox(id); !ok {
		a.notFound(w, r)
		return
	}
	p := a.newPage(w, r, "status", "status.pause")
	a.confirm(w, r, "status", confirmData{Name: a.mailboxLabel(id), Verb: p.T("status.pause"), Action: r.URL.Path, Back: "/status", Title: "status.pause"})
}

func (a *App) statusPause(w http.ResponseWriter, r *http.Request) {
	if !confirmed(w, r) {
		return
	}
	id := a.statusID(r)
	err := a.engine.Pause(r.Context(), id)
	if err == nil {
		err = a.rememberPause(r.Context(), id, true)
	}
	a.statusAct(w, r, "paused", err)
}

func (a *App) statusResume(w http.ResponseWriter, r *http.Request) {
	id := a.statusID(r)
	err := a.engine.Resume(r.Context(), id)
	if err == nil {
		err = a.rememberPause(r.Context(), id, false)
	}
	a.statusAct(w, r, "resumed", err)
}

// pausedKey names the settings row of the paused mailboxes: the engines
// keep a pause across Reload, the helpdesk keeps it across restarts
// (engineOptions.Paused, applied before the engines start).
const pausedKey = "ops.paused"

// rememberPause adds (or removes) id in the paused mailboxes' row.
func (a *App) rememberPause(ctx context.Context, id mailbox.ID, paused bool) error {
	if a.settings == nil {
		return nil
	}
	v, err := a.settings.Load(ctx, pausedKey)
	if err != nil {
		return err
	}
	if v == nil {
		v = url.Values{}
	}
	ids := slices.DeleteFunc(v["id"], func(s string) bool { return s == string(id) })
	if paused {
		ids = append(ids, string(id))
	}
	v["id"] = ids
	return a.settings.Save(ctx, pausedKey, v)
}

// loadPaused returns the mailboxes paused before a restart.
func loadPaused(ctx context.Context, s settings) ([]mailbox.ID, error) {
	if s == nil {
		return nil, nil
	}
	v, err := s.Load(ctx, pausedKey)
	if err != nil {
		return nil, err
	}
	var out []mailbox.ID
	for _, id := range v["id"] {
		out = append(out, mailbox.ID(id))
	}
	return out, nil
}

func (a *App) statusAct(w http.ResponseWriter, r *http.Request, done string, err error) {
	if err == nil {
		http.Redirect(w, r, "/status?done="+done, http.StatusSeeOther)
		return
	}
	key, status := "admin.err.other", http.StatusConflict
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, engine.ErrUnknownMailbox):
		key, status = "status.err.unknown", http.StatusNotFound
	case errors.Is(err, engine.ErrInactive):
		key = "status.err.inactive"
	case errors.Is(err, errActionUnavailable):
		key = "admin.err.unavailable"
	default:
		a.log.Error("status action", "action", done, "err", err)
	}
	r.URL.RawQuery = ""
	a.renderStatus(w, r, status, tr(pickLanguage(w, r), key))
}

// healthJSON is one mailbox in /healthz: engine.Health with stable JSON
// names; no secrets (LastError is redacted by the engines).
type healthJSON struct {
	Mailbox             mailbox.ID   `json:"mailbox"`
	Kind                string       `json:"kind"`
	State               engine.State `json:"state"`
	NeedsPerson         bool         `json:"needs_person"`
	Hint                string       `json:"hint,omitempty"`
	Since               *time.Time   `json:"since,omitempty"`
	LastSuccess         *time.Time   `json:"last_success,omitempty"`
	LastError           string       `json:"last_error,omitempty"`
	ConsecutiveFailures int          `json:"consecutive_failures,omitempty"`
	Mode                engine.Mode  `json:"mode,omitempty"`
	LastCheck           *time.Time   `json:"last_check,omitempty"`
	Handled             int64        `json:"handled,omitempty"`
	Quarantined         int64        `json:"quarantined,omitempty"`
	QueueDepth          int          `json:"queue_depth,omitempty"`
	OldestQueuedSeconds float64      `json:"oldest_queued_seconds,omitempty"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// healthz serves HealthAll as JSON: 200 while every mailbox runs by
// itself, 503 while one needs a person (auth failed, re-authorisation
// required, down, over budget) or the health cannot be read.
func (a *App) healthz(w http.ResponseWriter, r *http.Request) {
	hs, err := a.engine.HealthAll(r.Context())
	out := struct {
		Status    string       `json:"status"`
		Error     string       `json:"error,omitempty"`
		Mailboxes []healthJSON `json:"mailboxes"`
	}{Status: "ok", Mailboxes: []healthJSON{}}
	code := http.StatusOK
	if err != nil {
		out.Status, out.Error, code = "error", "the engines' health could not be read", http.StatusServiceUnavailable
		a.log.Error("healthz", "err", err)
	}
	for _, h := range hs {
		if h.NeedsPerson() {
			out.Status, code = "attention", http.StatusServiceUnavailable
		}
		out.Mailboxes = append(out.Mailboxes, healthJSON{Mailbox: h.Mailbox, Kind: h.Kind.String(), State: h.State, NeedsPerson: h.NeedsPerson(),
			Hint: h.Hint, Since: timePtr(h.Since), LastSuccess: timePtr(h.LastSuccess), LastError: h.LastError,
			ConsecutiveFailures: h.ConsecutiveFailures, Mode: h.Mode, LastCheck: timePtr(h.LastCheck), Handled: h.Handled,
			Quarantined: h.Quarantined, QueueDepth: h.QueueDepth, OldestQueuedSeconds: h.OldestQueued.Seconds()})
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(out)
}

// metricsPage serves the Prometheus exposition (404 without engines).
func (a *App) metricsPage(w http.ResponseWriter, r *http.Request) {
	h := a.engine.MetricsHandler()
	if h == nil {
		http.NotFound(w, r)
		return
	}
	h.ServeHTTP(w, r)
}
