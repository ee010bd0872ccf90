package connect

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/correio-dev/correio/mailbox"
)

// AdminConsent is the outcome of Microsoft's admin-consent flow: a tenant
// administrator granted the application's permissions (for app-only access
// to shared mailboxes: application permissions Mail.ReadWrite and
// Mail.Send) for the whole tenant.
type AdminConsent struct {
	Mailbox mailbox.ID
	// Tenant is the tenant ID the administrator consented in: use it as the
	// tenant of the client credentials token requests.
	Tenant string
	Scopes []string
}

// StartAdminConsent returns the admin-consent URL
// (learn.microsoft.com/entra/identity-platform/v2-admin-consent):
//
//	{authority}/{tenant}/v2.0/adminconsent?client_id=&scope=&redirect_uri=&state=
//
// with the flow's scopes (for app-only access MicrosoftGraphDefault, the
// permissions configured on the registration) and a one-time state bound
// to the browser like Start's.
func (f *Flow) StartAdminConsent(ctx context.Context, o StartOptions) (Started, error) {
	if f.Provider.AdminConsentURL == "" {
		return Started{}, fmt.Errorf("connect: provider %q has no admin-consent endpoint", f.Provider.Name)
	}
	if o.Binding == "" {
		return Started{}, ErrNoBinding
	}
	if o.Mailbox == "" {
		return Started{}, errors.New("connect: StartOptions.Mailbox is required")
	}
	scopes := f.Scopes
	if len(scopes) == 0 {
		scopes = []string{MicrosoftGraphDefault}
	}
	state := random(32)
	p := PendingConnect{Kind: KindAdminConsent, Mailbox: o.Mailbox, Binding: sha256.Sum256([]byte(o.Binding)),
		Scopes: slices.Clone(scopes), Created: f.now()}
	if err := f.pending().PutPending(ctx, state, p); err != nil {
		return Started{}, err
	}
	v := url.Values{"client_id": {f.ClientID}, "scope": {strings.Join(scopes, " ")}, "redirect_uri": {f.adminRedirect()}, "state": {state}}
	return Started{URL: f.Provider.AdminConsentURL + "?" + v.Encode(), State: state}, nil
}

func (f *Flow) adminRedirect() string {
	if f.AdminConsentRedirectURL != "" {
		return f.AdminConsentRedirectURL
	}
	return f.RedirectURL
}

// FinishAdminConsent reads the admin-consent callback: on success
// admin_consent=True with tenant (and scope), else error and
// error_description (access_denied when the administrator declined:
// ErrDenied). The state is checked as Finish does.
func (f *Flow) FinishAdminConsent(ctx context.Context, q url.Values, binding string) (*AdminConsent, error) {
	p, err := f.take(ctx, q.Get("state"), binding, KindAdminConsent)
	if err != nil {
		f.logger().WarnContext(ctx, "oauth2 admin consent refused", "reason", "state", "err", err)
		return nil, err
	}
	log := f.logger().With("mailbox", string(p.Mailbox), "provider", f.Provider.Name)
	if e := q.Get("error"); e != "" {
		err := redirectError(e)
		log.WarnContext(ctx, "oauth2 admin consent declined", "err", err)
		return nil, err
	}
	if !strings.EqualFold(q.Get("admin_consent"), "true") || q.Get("tenant") == "" {
		return nil, &ProviderError{Code: "invalid_request"}
	}
	scopes := p.Scopes
	if s := q.Get("scope"); s != "" {
		scopes = strings.Fields(s)
	}
	log.InfoContext(ctx, "oauth2 admin consent granted", "tenant", q.Get("tenant"))
	return &AdminConsent{Mailbox: p.Mailbox, Tenant: q.Get("tenant"), Scopes: scopes}, nil
}
