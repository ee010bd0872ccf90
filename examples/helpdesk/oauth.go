package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/correio-dev/correio/connect"
	"github.com/correio-dev/correio/engine"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/store/secrets"
	"github.com/correio-dev/correio/transport"
)

// The helpdesk connects mailboxes to Microsoft 365 and Google with the
// connect package: a "Connect" button starts the authorization code flow
// (PKCE, a one-time state bound to a cookie, the OpenID nonce), the
// callback stores the grant in the store's Tokens (sealed with the
// password keyring) and switches the mailbox to XOAUTH2. A shared mailbox
// can instead use app-only access: a tenant administrator grants admin
// consent once and the mailbox's tokens come from the client credentials
// grant. The applications (client ID and secret) are the deployment's:
// see oauthFromEnv.

// Login methods of a mailbox (the form's "auth" field).
const (
	authPassword = "password"
	authOAuth2   = "oauth2"
	authAppOnly  = "app"
)

// oauthSetup holds the configured providers and the grant store.
type oauthSetup struct {
	// flows by provider name ("microsoft", "google"); only configured ones.
	flows map[string]*connect.Flow
	// tokens keeps the grants (the SQL store's Tokens); set once the
	// store is open.
	tokens store.Tokens
	// settings keep each app-only mailbox's tenant ("auth.app.<id>").
	settings settings

	// log receives the flows' lines (connects, refusals, rotations).
	log *slog.Logger
	// keys seal the service-account keys (the password keyring).
	keys *secrets.Keyring
	// httpClient makes the service accounts' token requests (nil: the
	// default client).
	httpClient *http.Client

	mu      sync.Mutex
	sources map[mailbox.ID]*mailboxTokens
	devices map[mailbox.ID]*deviceConnect // device.go
}

func newOAuthSetup() *oauthSetup {
	return &oauthSetup{flows: map[string]*connect.Flow{}, sources: map[mailbox.ID]*mailboxTokens{},
		devices: map[mailbox.ID]*deviceConnect{}, log: slog.New(slog.DiscardHandler)}
}

// providerNames are the configured providers, in a fixed order.
func (o *oauthSetup) providerNames() []string {
	if o == nil {
		return nil
	}
	var out []string
	for _, n := range []string{"microsoft", "google"} {
		if o.flows[n] != nil {
			out = append(out, n)
		}
	}
	return out
}

// oauthFromEnv configures the providers whose application is given in the
// environment (secrets never on the command line):
//
//	HELPDESK_MS_CLIENT_ID, HELPDESK_MS_CLIENT_SECRET, HELPDESK_MS_TENANT (default "organizations")
//	HELPDESK_GOOGLE_CLIENT_ID, HELPDESK_GOOGLE_CLIENT_SECRET
//
// base is the helpdesk's public URL; the redirect URIs to register are
// base+"/oauth/microsoft/callback", base+"/oauth/microsoft/adminconsent"
// and base+"/oauth/google/callback".
func (o *oauthSetup) fromEnv(base string) {
	if id := os.Getenv("HELPDESK_MS_CLIENT_ID"); id != "" {
		tenant := os.Getenv("HELPDESK_MS_TENANT")
		o.add(base, connect.Microsoft(tenant), id, os.Getenv("HELPDESK_MS_CLIENT_SECRET"), connect.MicrosoftIMAPSMTPScopes())
	}
	if id := os.Getenv("HELPDESK_GOOGLE_CLIENT_ID"); id != "" {
		o.add(base, connect.Google(), id, os.Getenv("HELPDESK_GOOGLE_CLIENT_SECRET"), connect.GoogleIMAPSMTPScopes())
	}
}

// add configures one provider.
func (o *oauthSetup) add(base string, p connect.Provider, clientID, secret string, scopes []string) {
	base = strings.TrimSuffix(base, "/")
	o.flows[p.Name] = &connect.Flow{
		Provider: p, ClientID: clientID, ClientSecret: mailbox.NewSecret(secret), Scopes: scopes,
		RedirectURL:             base + "/oauth/" + p.Name + "/callback",
		AdminConsentRedirectURL: base + "/oauth/" + p.Name + "/adminconsent",
		Logger:                  o.log,
	}
}

// tokenSources is the store's hook: every OAuth2 mailbox gets a
// mailboxTokens, which picks the provider of its grant (or its app-only
// setting) when a token is asked for.
func (o *oauthSetup) tokenSources(m *mailbox.Mailbox, _ mailbox.Secret) mailbox.TokenSource {
	return o.sourceFor(m)
}

// sourceFor returns the token source of m, noting which transport it
// uses: the scopes of its tokens follow it (Graph, the Gmail API, or
// IMAP/POP/SMTP).
func (o *oauthSetup) sourceFor(m *mailbox.Mailbox) *mailboxTokens {
	s := o.source(m.ID)
	s.mu.Lock()
	s.kind = m.Transport()
	s.user = m.Address
	if cr := credsOf(m); cr != nil && cr.Username != "" {
		s.user = cr.Username
	}
	s.mu.Unlock()
	return s
}

// scopesFor are the delegated scopes a mailbox on transport kind asks of
// provider (learn.microsoft.com/exchange/client-developer/legacy-protocols/
// how-to-authenticate-an-imap-pop-smtp-application-by-using-oauth,
// learn.microsoft.com/graph/permissions-reference,
// developers.google.com/gmail/api/auth/scopes): Graph needs Mail.ReadWrite
// and Mail.Send, the Gmail API gmail.modify and gmail.send, IMAP and SMTP
// IMAP.AccessAsUser.All and SMTP.Send at Microsoft or
// https://mail.google.com/ at Google. Every set has openid and email (the
// connected account) and, at Microsoft, offline_access (the refresh
// token; Google's comes from access_type=offline).
func scopesFor(provider string, kind mailbox.TransportKind) []string {
	switch {
	case provider == "microsoft" && kind == mailbox.TransportGraph:
		return connect.MicrosoftGraphScopes()
	case provider == "microsoft":
		return connect.MicrosoftIMAPSMTPScopes()
	case provider == "google" && kind == mailbox.TransportGmail:
		return connect.GoogleAPIScopes()
	case provider == "google":
		return connect.GoogleIMAPSMTPScopes()
	}
	return nil
}

func (o *oauthSetup) source(id mailbox.ID) *mailboxTokens {
	o.mu.Lock()
	defer o.mu.Unlock()
	s := o.sources[id]
	if s == nil {
		s = &mailboxTokens{o: o, id: id}
		o.sources[id] = s
	}
	return s
}

// mailboxTokens is a mailbox's token source: app-only when the mailbox
// has an app-only tenant, else the connected grant's provider.
type mailboxTokens struct {
	o  *oauthSetup
	id mailbox.ID

	mu    sync.Mutex
	inner mailbox.TokenSource
	key   string                // what inner was built for
	kind  mailbox.TransportKind // the mailbox's transport
	user  string                // the mailbox's account (service accounts act as it)
	// refused: the last token request ended in ErrReauthRequired.
	refused bool
}

var errNotConnected = &transport.Error{Class: transport.Auth, Op: "oauth2", Err: errors.Join(transport.ErrReauthRequired, transport.ErrNoToken),
	Hint: "the mailbox is not connected; press Connect on the mailbox list"}

func (s *mailboxTokens) Token(ctx context.Context) (mailbox.Secret, error) {
	inner, err := s.pick(ctx)
	if err != nil {
		return mailbox.Secret{}, err
	}
	tok, err := inner.Token(ctx)
	// Remember a refused grant for the banner, whatever the engine's
	// health says about it.
	s.mu.Lock()
	s.refused = errors.Is(err, transport.ErrReauthRequired)
	s.mu.Unlock()
	return tok, err
}

// needsReauth reports that the provider refused the mailbox's grant at the
// last token request (revoked, expired, consent withdrawn).
func (s *mailboxTokens) needsReauth() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refused
}

func (s *mailboxTokens) InvalidateToken() {
	s.mu.Lock()
	inner := s.inner
	s.mu.Unlock()
	if r, ok := inner.(mailbox.TokenRefresher); ok {
		r.InvalidateToken()
	}
}

// String never shows a token.
func (s *mailboxTokens) String() string { return "helpdesk.mailboxTokens(" + transport.Redacted + ")" }

func (s *mailboxTokens) pick(ctx context.Context) (mailbox.TokenSource, error) {
	o := s.o
	var (
		key   string
		build func() mailbox.TokenSource
	)
	if tenant := o.appTenant(ctx, s.id); tenant != "" {
		f := o.flows["microsoft"]
		if f == nil {
			return nil, errNotConnected
		}
		s.mu.Lock()
		scope := appOnlyScope
		if s.kind == mailbox.TransportGraph {
			scope = connect.MicrosoftGraphDefault
		}
		s.mu.Unlock()
		key = "app:" + tenant + " " + scope
		build = func() mailbox.TokenSource { return f.AppOnly(tenant, scope) }
	} else if sa, err := o.serviceAccount(ctx, s.id); err != nil {
		o.log.Error("service account key unusable", "mailbox", string(s.id), "err", err)
		return nil, &transport.Error{Class: transport.Auth, Op: "oauth2", Err: transport.ErrNoToken,
			Hint: "the saved service account key cannot be opened; paste it again"}
	} else if sa != nil {
		s.mu.Lock()
		user := s.user
		s.mu.Unlock()
		key = "sa:" + sa.Email + " " + user
		build = func() mailbox.TokenSource { return o.serviceTokens(sa, user) }
	} else {
		if o.tokens == nil {
			return nil, errNotConnected
		}
		g, err := o.tokens.GetToken(ctx, s.id)
		if errors.Is(err, store.ErrNotFound) {
			return nil, errNotConnected
		}
		if err != nil {
			return nil, &transport.Error{Class: transport.Temporary, Op: "oauth2", Err: errors.New("reading the grant failed")}
		}
		f := o.flows[g.Provider]
		if f == nil {
			return nil, &transport.Error{Class: transport.Auth, Op: "oauth2", Err: transport.ErrNoToken,
				Hint: "the mailbox was connected with " + g.Provider + ", which this helpdesk is not configured for"}
		}
		s.mu.Lock()
		kind := s.kind
		s.mu.Unlock()
		// Refreshes ask for the transport's scopes: a Microsoft access
		// token is for one resource (Graph, or outlook.office.com).
		scopes := scopesFor(g.Provider, kind)
		key = "user:" + g.Provider + " " + strings.Join(scopes, " ")
		build = func() mailbox.TokenSource { return f.TokenSource(o.tokens, s.id, scopes...) }
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inner == nil || s.key != key {
		s.inner, s.key = build(), key
	}
	return s.inner, nil
}

// appOnlyScope is the scope of app-only tokens for IMAP, POP and SMTP in
// Exchange Online; a mailbox on the Graph transport gets
// connect.MicrosoftGraphDefault instead.
const appOnlyScope = "https://outlook.office365.com/.default"

func appKey(id mailbox.ID) string { return "auth.app." + string(id) }

// appTenant is the app-only tenant of a mailbox ("" when it is not
// app-only).
func (o *oauthSetup) appTenant(ctx context.Context, id mailbox.ID) string {
	if o == nil || o.settings == nil {
		return ""
	}
	v, err := o.settings.Load(ctx, appKey(id))
	if err != nil || v == nil {
		return ""
	}
	return v.Get("tenant")
}

// authMethod is the login method of a saved mailbox.
func (a *App) authMethod(ctx context.Context, m *mailbox.Mailbox) string {
	cr := credsOf(m)
	if cr == nil || cr.OAuth2 == nil {
		return authPassword
	}
	if a.oauth.appTenant(ctx, m.ID) != "" || a.pendingApp(ctx, m.ID) {
		return authAppOnly
	}
	if a.oauth.serviceEmail(ctx, m.ID) != "" {
		return authService
	}
	return authOAuth2
}

// pendingApp reports an app-only mailbox whose admin consent is not done
// yet (its setting exists with an empty tenant).
func (a *App) pendingApp(ctx context.Context, id mailbox.ID) bool {
	if a.oauth == nil || a.oauth.settings == nil {
		return false
	}
	v, _ := a.oauth.settings.Load(ctx, appKey(id))
	return v != nil && v.Has("tenant")
}

func credsOf(m *mailbox.Mailbox) *mailbox.Credentials {
	switch {
	case m == nil:
		return nil
	case m.Inbound != nil:
		return &m.Inbound.Credentials
	case m.Outbound != nil:
		return &m.Outbound.Credentials
	}
	return nil
}

// applyAuth sets the mailbox's credentials for the login method chosen on
// the form: OAuth2 and app-only use XOAUTH2 with the mailbox's token
// source and no password.
func (a *App) applyAuth(m *mailbox.Mailbox, v url.Values) {
	cr := credsOf(m)
	if cr == nil || a.oauth == nil {
		return
	}
	switch v.Get("auth") {
	case authOAuth2, authAppOnly, authService:
		cr.Mechanism, cr.Password, cr.OAuth2 = mailbox.AuthXOAUTH2, mailbox.Secret{}, a.oauth.sourceFor(m)
		if cr.Username == "" {
			cr.Username = m.Address
		}
	}
}

// saveAuth keeps the app-only tenant of a saved mailbox, or forgets it.
func (a *App) saveAuth(ctx context.Context, m *mailbox.Mailbox, v url.Values) error {
	if a.oauth == nil || a.oauth.settings == nil {
		return nil
	}
	if v.Get("auth") != authService {
		if old, _ := a.oauth.settings.Load(ctx, saKey(m.ID)); old != nil {
			if err := a.oauth.settings.Save(ctx, saKey(m.ID), nil); err != nil {
				return err
			}
		}
	}
	switch v.Get("auth") {
	case authAppOnly:
		return a.oauth.settings.Save(ctx, appKey(m.ID), url.Values{"tenant": {strings.TrimSpace(v.Get("auth.tenant"))}})
	case authService:
		if err := a.saveServiceAccount(ctx, m.ID, v); err != nil {
			return err
		}
	}
	old, _ := a.oauth.settings.Load(ctx, appKey(m.ID))
	if old != nil {
		return a.oauth.settings.Save(ctx, appKey(m.ID), nil)
	}
	return nil
}

// authValues fills the form's login method fields of a saved mailbox.
func (a *App) authValues(ctx context.Context, m *mailbox.Mailbox, v url.Values) {
	v.Set("auth", a.authMethod(ctx, m))
	if a.oauth != nil {
		v.Set("auth.tenant", a.oauth.appTenant(ctx, m.ID))
		v.Set("auth.saemail", a.oauth.serviceEmail(ctx, m.ID))
	}
}

// reauthView is a mailbox of the re-authorise banner.
type reauthView struct {
	ID          mailbox.ID
	Description string
	// Why is "reauth_required" (the engines said so) or "not_connected".
	Why string
	App bool
}

// reauthList lists the OAuth2 mailboxes that need a person: the engines
// report reauth_required, or no grant with a refresh token is stored.
func (a *App) reauthList(ctx context.Context, all []*mailbox.Mailbox, health map[mailbox.ID]HealthView) []reauthView {
	if a.oauth == nil {
		return nil
	}
	var out []reauthView
	for _, m := range all {
		cr := credsOf(m)
		if cr == nil || cr.OAuth2 == nil {
			continue
		}
		method := a.authMethod(ctx, m)
		v := reauthView{ID: m.ID, Description: m.Description, App: method == authAppOnly}
		switch {
		case health[m.ID].State == string(engine.StateReauthRequired) || a.oauth.source(m.ID).needsReauth():
			v.Why = "reauth_required"
		case method == authAppOnly && a.oauth.appTenant(ctx, m.ID) == "":
			v.Why = "not_consented"
		case method == authOAuth2 && !a.connected(ctx, m.ID):
			v.Why = "not_connected"
		default:
			continue
		}
		out = append(out, v)
	}
	return out
}

func (a *App) connected(ctx context.Context, id mailbox.ID) bool {
	if a.oauth.tokens == nil {
		return false
	}
	g, err := a.oauth.tokens.GetToken(ctx, id)
	return err == nil && !g.RefreshToken.IsZero()
}

func (a *App) oauthRoutes() {
	m := a.mux
	m.HandleFunc("POST /mailboxes/{id}/connect/{provider}", a.connectStart)
	m.HandleFunc("POST /mailboxes/{id}/adminconsent", a.adminConsentStart)
	m.HandleFunc("GET /oauth/{provider}/callback", a.connectCallback)
	m.HandleFunc("GET /oauth/{provider}/adminconsent", a.adminConsentCallback)
	a.deviceRoutes()
}

func (a *App) flow(name string) *connect.Flow {
	if a.oauth == nil {
		return nil
	}
	return a.oauth.flows[name]
}

func (a *App) connectStart(w http.ResponseWriter, r *http.Request) {
	m, ok := a.cat.Mailbox(mailbox.ID(r.PathValue("id")))
	f := a.flow(r.PathValue("provider"))
	if !ok || f == nil {
		a.notFound(w, r)
		return
	}
	hint := m.Address
	if cr := credsOf(m); cr != nil && cr.Username != "" {
		hint = cr.Username
	}
	o := connect.StartOptions{Mailbox: m.ID, LoginHint: hint, Prompt: "select_account", Scopes: scopesFor(f.Provider.Name, m.Transport())}
	if err := f.Redirect(w, r, o); err != nil {
		a.connectFailed(w, r, err)
	}
}

func (a *App) adminConsentStart(w http.ResponseWriter, r *http.Request) {
	m, ok := a.cat.Mailbox(mailbox.ID(r.PathValue("id")))
	f := a.flow("microsoft")
	if !ok || f == nil {
		a.notFound(w, r)
		return
	}
	// Admin consent grants the application's permissions tenant-wide; its
	// state is bound to the same browser cookie as a user connect.
	st, err := f.StartAdminConsent(r.Context(), connect.StartOptions{Mailbox: m.ID, Binding: f.Bind(w, r)})
	if err != nil {
		a.connectFailed(w, r, err)
		return
	}
	http.Redirect(w, r, st.URL, http.StatusFound)
}

func (a *App) connectCallback(w http.ResponseWriter, r *http.Request) {
	f := a.flow(r.PathValue("provider"))
	if f == nil {
		a.notFound(w, r)
		return
	}
	g, err := f.Callback(r)
	if err != nil {
		a.connectFailed(w, r, err)
		return
	}
	if err := a.saveGrant(r.Context(), g); errors.Is(err, store.ErrNotFound) {
		a.notFound(w, r)
		return
	} else if err != nil {
		a.connectFailed(w, r, err)
		return
	}
	http.Redirect(w, r, "/mailboxes?done=connected", http.StatusSeeOther)
}

// saveGrant stores a connect's grant and switches its mailbox to XOAUTH2
// as the connected account (the callback and the device flow).
func (a *App) saveGrant(ctx context.Context, g *connect.Grant) error {
	m, ok := a.cat.Mailbox(g.Mailbox)
	if !ok {
		return store.ErrNotFound
	}
	if err := a.oauth.tokens.PutToken(ctx, g.Mailbox, g.Token); err != nil {
		a.log.Error("save OAuth2 grant", "mailbox", string(g.Mailbox), "err", err)
		return err
	}
	c := cloneMailbox(m)
	if cr := credsOf(c); cr != nil {
		cr.Mechanism, cr.Password, cr.OAuth2 = mailbox.AuthXOAUTH2, mailbox.Secret{}, a.oauth.sourceFor(c)
		if g.Token.Account != "" {
			cr.Username = g.Token.Account
		}
	}
	if a.oauth.settings != nil {
		_ = a.oauth.settings.Save(ctx, appKey(c.ID), nil) // a user grant replaces app-only
	}
	if err := a.cat.PutMailbox(ctx, c); err != nil {
		return err
	}
	src := a.oauth.source(c.ID)
	src.InvalidateToken()
	src.mu.Lock()
	src.refused = false // a new grant: the banner waits for its first refusal
	src.mu.Unlock()
	a.engine.MailboxSaved(c)
	return nil
}

func (a *App) adminConsentCallback(w http.ResponseWriter, r *http.Request) {
	f := a.flow(r.PathValue("provider"))
	if f == nil {
		a.notFound(w, r)
		return
	}
	ac, err := f.FinishAdminConsent(r.Context(), r.URL.Query(), connect.BindingOf(r))
	if err != nil {
		a.connectFailed(w, r, err)
		return
	}
	if a.oauth.settings == nil {
		a.connectFailed(w, r, errors.New("no settings store for the app-only tenant"))
		return
	}
	if err := a.oauth.settings.Save(r.Context(), appKey(ac.Mailbox), url.Values{"tenant": {ac.Tenant}}); err != nil {
		a.connectFailed(w, r, err)
		return
	}
	if m, ok := a.cat.Mailbox(ac.Mailbox); ok {
		a.engine.MailboxSaved(m)
	}
	http.Redirect(w, r, "/mailboxes?done=consented", http.StatusSeeOther)
}

// connectFailed shows why a connect failed on the mailbox list, in the
// page's language; the detail never holds a token.
func (a *App) connectFailed(w http.ResponseWriter, r *http.Request, err error) {
	p := a.newPage(w, r, "mailboxes", "mailboxes.title")
	p.Path = "/mailboxes"
	key := "mailboxes.connect.err.other"
	switch {
	case errors.Is(err, connect.ErrState):
		key = "mailboxes.connect.err.state"
	case errors.Is(err, connect.ErrDenied):
		key = "mailboxes.connect.err.denied"
	case errors.Is(err, connect.ErrNonce), errors.Is(err, connect.ErrIDToken):
		key = "mailboxes.connect.err.idtoken"
	case errors.Is(err, connect.ErrNoRefreshToken):
		key = "mailboxes.connect.err.norefresh"
	}
	p.Error = p.T(key) + " (" + err.Error() + ")"
	a.log.Warn("oauth2 connect failed", "err", err)
	a.renderMailboxList(w, r, p, http.StatusBadRequest)
}

// cloneMailbox copies a catalog mailbox before changing it (catalog values
// are shared).
func cloneMailbox(m *mailbox.Mailbox) *mailbox.Mailbox {
	c := *m
	if m.Inbound != nil {
		in := *m.Inbound
		c.Inbound = &in
	}
	if m.Outbound != nil {
		out := *m.Outbound
		c.Outbound = &out
	}
	return &c
}

// forgetAuth deletes a removed mailbox's grant and app-only setting.
func (a *App) forgetAuth(ctx context.Context, id mailbox.ID) {
	if a.oauth == nil {
		return
	}
	if a.oauth.tokens != nil {
		if err := a.oauth.tokens.DeleteToken(ctx, id); err != nil {
			a.log.Error("delete OAuth2 grant", "mailbox", string(id), "err", err)
		}
	}
	if a.oauth.settings != nil {
		_ = a.oauth.settings.Save(ctx, appKey(id), nil)
		_ = a.oauth.settings.Save(ctx, saKey(id), nil)
	}
	a.oauth.mu.Lock()
	delete(a.oauth.sources, id)
	a.oauth.mu.Unlock()
}

// authChoices are the form's login methods, password first.
var authChoices = []string{authPassword, authOAuth2, authAppOnly, authService}

func validAuth(s string) bool { return s == "" || slices.Contains(authChoices, s) }
