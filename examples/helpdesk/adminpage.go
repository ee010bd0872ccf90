package main

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/correio-dev/correio/store"
)

// The Messages page's actions: retry now and cancel a queued message,
// release and delete a quarantined one. Destructive ones (cancel, delete)
// go through the confirmation page.

func (a *App) outboxRetry(w http.ResponseWriter, r *http.Request) {
	a.act(w, r, "retried", a.engine.RetryNow(r.Context(), r.PathValue("id")))
}

func (a *App) outboxConfirmCancel(w http.ResponseWriter, r *http.Request) {
	p := a.newPage(w, r, "messages", "messages.title")
	a.confirm(w, r, "messages", confirmData{Name: p.T("admin.the_message"), Verb: p.T("admin.cancel"),
		Action: r.URL.Path, Back: "/messages", Title: "admin.cancel"})
}

func (a *App) outboxCancel(w http.ResponseWriter, r *http.Request) {
	if !confirmed(w, r) {
		return
	}
	a.act(w, r, "cancelled", a.engine.Cancel(r.Context(), r.PathValue("id")))
}

func quarantineID(r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	return id, err == nil && id > 0
}

func (a *App) quarantineRelease(w http.ResponseWriter, r *http.Request) {
	id, ok := quarantineID(r)
	if !ok {
		a.notFound(w, r)
		return
	}
	a.act(w, r, "released", a.engine.Release(r.Context(), id))
}

func (a *App) quarantineConfirmDelete(w http.ResponseWriter, r *http.Request) {
	if _, ok := quarantineID(r); !ok {
		a.notFound(w, r)
		return
	}
	p := a.newPage(w, r, "messages", "messages.title")
	a.confirm(w, r, "messages", confirmData{Name: p.T("admin.the_quarantined"), Action: r.URL.Path, Back: "/messages#quarantine"})
}

func (a *App) quarantineDelete(w http.ResponseWriter, r *http.Request) {
	if !confirmed(w, r) {
		return
	}
	id, ok := quarantineID(r)
	if !ok {
		a.notFound(w, r)
		return
	}
	a.act(w, r, "deleted", a.engine.DeleteQuarantined(r.Context(), id))
}

// act ends an action: back to the Messages page with a notice, or the
// page with the reason translated.
func (a *App) act(w http.ResponseWriter, r *http.Request, done string, err error) {
	if err == nil {
		http.Redirect(w, r, "/messages?done="+done, http.StatusSeeOther)
		return
	}
	key := "admin.err.other"
	status := http.StatusConflict
	switch {
	case errors.Is(err, store.ErrNotFound):
		key, status = "admin.err.not_found", http.StatusNotFound
	case errors.Is(err, store.ErrNotQueued):
		key = "admin.err.not_queued"
	case errors.Is(err, store.ErrClaimed), errors.Is(err, store.ErrClaimLost):
		key = "admin.err.busy"
	case errors.Is(err, errUnreadable):
		key = "admin.err.unreadable"
	case errors.Is(err, errActionUnavailable):
		key = "admin.err.unavailable"
	default:
		a.log.Error("admin action", "action", done, "err", err)
	}
	r.URL.RawQuery = ""
	a.renderMessages(w, r, status, tr(pickLanguage(w, r), key))
}
