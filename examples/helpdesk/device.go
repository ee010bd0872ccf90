package main

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/correio-dev/correio/connect"
	"github.com/correio-dev/correio/mailbox"
)

// The device-code connect (RFC 8628) is for a helpdesk whose public URL the
// provider cannot redirect to (a server on an internal network, set up
// over SSH): the page shows a short code and the provider's verification
// address; the administrator opens it on any device, signs in as the
// mailbox's account and types the code, while the helpdesk polls the
// token endpoint in the background and stores the grant when it comes.
// Only Microsoft offers it here: Google's device flow does not allow the
// Gmail scopes.

// Device connect states shown on the page.
const (
	devicePending   = "pending"
	deviceConnected = "connected"
	deviceFailed    = "failed"
)

// deviceConnect is one mailbox's device connect in progress or finished.
type deviceConnect struct {
	cancel context.CancelFunc
	done   chan struct{}

	mu       sync.Mutex
	dc       *connect.DeviceConnect
	state    string
	errKey   string // catalog key of the failure
	provider string
}

// deviceView is the device page's data.
type deviceView struct {
	ID          mailbox.ID
	Description string
	Provider    string
	UserCode    string
	URI         string
	Expiry      time.Time
	State       string
	ErrKey      string
}

func (a *App) deviceRoutes() {
	a.mux.HandleFunc("POST /mailboxes/{id}/device/{provider}", a.deviceStart)
	a.mux.HandleFunc("GET /mailboxes/{id}/device", a.devicePage)
}

func (a *App) deviceStart(w http.ResponseWriter, r *http.Request) {
	m, ok := a.cat.Mailbox(mailbox.ID(r.PathValue("id")))
	name := r.PathValue("provider")
	f := a.flow(name)
	if !ok || f == nil || name != "microsoft" {
		a.notFound(w, r)
		return
	}
	dc, err := f.StartDevice(r.Context(), m.ID, scopesFor(name, m.Transport())...)
	if err != nil {
		a.connectFailed(w, r, err)
		return
	}
	// Poll until the code expires; a new start for the mailbox replaces
	// this one.
	ctx, cancel := context.WithDeadline(context.Background(), dc.Expiry)
	d := &deviceConnect{cancel: cancel, done: make(chan struct{}), dc: dc, state: devicePending, provider: name}
	a.oauth.mu.Lock()
	old := a.oauth.devices[m.ID]
	a.oauth.devices[m.ID] = d
	a.oauth.mu.Unlock()
	if old != nil {
		old.cancel()
	}
	go a.devicePoll(ctx, f, d)
	http.Redirect(w, r, "/mailboxes/"+string(m.ID)+"/device", http.StatusSeeOther)
}

// devicePoll waits for the person's approval and stores the grant.
func (a *App) devicePoll(ctx context.Context, f *connect.Flow, d *deviceConnect) {
	defer close(d.done)
	defer d.cancel()
	g, err := f.PollDevice(ctx, d.dc)
	if err == nil {
		err = a.saveGrant(ctx, g)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case err == nil:
		d.state = deviceConnected
		return
	case errors.Is(err, connect.ErrDenied):
		d.errKey = "mailboxes.connect.err.denied"
	case errors.Is(err, connect.ErrExpired), errors.Is(err, context.DeadlineExceeded):
		d.errKey = "mailboxes.device.expired"
	case errors.Is(err, context.Canceled):
		d.errKey = "mailboxes.device.replaced"
	case errors.Is(err, connect.ErrNoRefreshToken):
		d.errKey = "mailboxes.connect.err.norefresh"
	default:
		d.errKey = "mailboxes.connect.err.other"
	}
	d.state = deviceFailed
	a.log.Warn("oauth2 device connect failed", "mailbox", string(d.dc.Mailbox), "err", err)
}

func (a *App) devicePage(w http.ResponseWriter, r *http.Request) {
	m, ok := a.cat.Mailbox(mailbox.ID(r.PathValue("id")))
	var d *deviceConnect
	if ok && a.oauth != nil {
		a.oauth.mu.Lock()
		d = a.oauth.devices[m.ID]
		a.oauth.mu.Unlock()
	}
	if d == nil {
		a.notFound(w, r)
		return
	}
	d.mu.Lock()
	v := &deviceView{ID: m.ID, Description: m.Description, Provider: d.provider, UserCode: d.dc.UserCode, URI: d.dc.VerificationURI,
		Expiry: d.dc.Expiry, State: d.state, ErrKey: d.errKey}
	d.mu.Unlock()
	p := a.newPage(w, r, "mailboxes", "mailboxes.device.title")
	p.Data = v
	a.render(w, http.StatusOK, "device", p)
}

// stopDevices ends the background polls (tests, shutdown).
func (o *oauthSetup) stopDevices() {
	if o == nil {
		return
	}
	o.mu.Lock()
	ds := make([]*deviceConnect, 0, len(o.devices))
	for _, d := range o.devices {
		ds = append(ds, d)
	}
	o.mu.Unlock()
	for _, d := range ds {
		d.cancel()
		<-d.done
	}
}
