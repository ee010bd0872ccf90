package connect

import (
	"net/url"
	"strings"

	"golang.org/x/oauth2"
)

// Provider describes an authorization server: its endpoints, how it names
// its id_token issuer, and the parameters it needs to grant a refresh
// token. Microsoft and Google return the presets; a test server or another
// provider is a Provider literal.
type Provider struct {
	// Name is stored with the grant ("microsoft", "google").
	Name string
	// Endpoint holds AuthURL, TokenURL and DeviceAuthURL.
	Endpoint oauth2.Endpoint
	// AdminConsentURL is Microsoft's admin-consent endpoint (empty when
	// the provider has none).
	AdminConsentURL string
	// Issuer is the id_token's iss. "{tenantid}" in it is replaced by the
	// token's tid claim (Microsoft's multi-tenant endpoints).
	Issuer string
	// JWKSURL is where the id_token's signing keys are published; when
	// empty the id_token's signature is not checked (OpenID Connect Core
	// 3.1.3.7 allows relying on the TLS of the token endpoint), but its
	// nonce, audience, issuer and expiry still are.
	JWKSURL string
	// AuthParams are added to every authorization request (Google's
	// access_type=offline).
	AuthParams map[string]string
	// RefreshScope sends the scopes with refresh requests: the Microsoft
	// identity platform needs them to know the resource the new access
	// token is for (golang/oauth2#540); Google does not take them.
	RefreshScope bool
}

// MicrosoftAuthority is the Microsoft identity platform's global cloud;
// national clouds have their own (login.microsoftonline.us, ...).
const MicrosoftAuthority = "https://login.microsoftonline.com"

// Microsoft returns the preset of the Microsoft identity platform's v2.0
// endpoints for tenant: a tenant ID or domain for a single-tenant
// application, "organizations" or "common" for a multi-tenant one (Exchange
// Online needs work or school accounts: use "organizations" rather than
// "common").
func Microsoft(tenant string) Provider { return MicrosoftAt(MicrosoftAuthority, tenant) }

// MicrosoftAt is Microsoft at another authority (a national cloud, or
// mailtest.OAuthServer's URL in tests).
func MicrosoftAt(authority, tenant string) Provider {
	if tenant == "" {
		tenant = "organizations"
	}
	base := strings.TrimSuffix(authority, "/") + "/" + url.PathEscape(tenant)
	// id_tokens name the tenant by its ID: a tenant given by domain, or a
	// multi-tenant endpoint, takes the token's tid.
	iss := strings.TrimSuffix(authority, "/") + "/{tenantid}/v2.0"
	if isGUID(tenant) {
		iss = base + "/v2.0"
	}
	return Provider{
		Name: "microsoft",
		Endpoint: oauth2.Endpoint{
			AuthURL:       base + "/oauth2/v2.0/authorize",
			TokenURL:      base + "/oauth2/v2.0/token",
			DeviceAuthURL: base + "/oauth2/v2.0/devicecode",
			AuthStyle:     oauth2.AuthStyleInParams,
		},
		AdminConsentURL: base + "/v2.0/adminconsent",
		Issuer:          iss,
		JWKSURL:         base + "/discovery/v2.0/keys",
		RefreshScope:    true,
	}
}

// Google returns the preset of Google's OAuth 2.0 endpoints. It asks for
// access_type=offline and prompt=consent so that every connect returns a
// refresh token (Google gives one only at the first consent otherwise).
// Google's device flow does not allow the Gmail scopes: connect Gmail with
// the authorization code flow.
func Google() Provider {
	return Provider{
		Name: "google",
		Endpoint: oauth2.Endpoint{
			AuthURL:       "https://accounts.google.com/o/oauth2/v2/auth",
			TokenURL:      "https://oauth2.googleapis.com/token",
			DeviceAuthURL: "https://oauth2.googleapis.com/device/code",
			AuthStyle:     oauth2.AuthStyleInParams,
		},
		Issuer:     "https://accounts.google.com",
		JWKSURL:    "https://www.googleapis.com/oauth2/v3/certs",
		AuthParams: map[string]string{"access_type": "offline", "prompt": "consent"},
	}
}

// Scopes of the identity layer: sign-in (openid, with a nonce checked in the
// id_token), the account's address, and a refresh token (Microsoft's
// offline_access; Google uses access_type=offline instead).
const (
	ScopeOpenID        = "openid"
	ScopeEmail         = "email"
	ScopeProfile       = "profile"
	ScopeOfflineAccess = "offline_access"
)

// Microsoft 365 scopes by transport. A Microsoft access token is for one
// resource: IMAP and SMTP (outlook.office.com) and Graph
// (graph.microsoft.com) need separate tokens, which one refresh token can
// obtain.
const (
	// MicrosoftIMAP reads a mailbox over IMAP (delegated).
	MicrosoftIMAP = "https://outlook.office.com/IMAP.AccessAsUser.All"
	// MicrosoftSMTP sends over SMTP AUTH with XOAUTH2 (delegated).
	MicrosoftSMTP = "https://outlook.office.com/SMTP.Send"
	// MicrosoftPOP reads a mailbox over POP3 (delegated).
	MicrosoftPOP = "https://outlook.office.com/POP.AccessAsUser.All"
	// MicrosoftGraphMailReadWrite reads, marks and moves mail with Graph.
	MicrosoftGraphMailReadWrite = "https://graph.microsoft.com/Mail.ReadWrite"
	// MicrosoftGraphMailSend sends with Graph's sendMail.
	MicrosoftGraphMailSend = "https://graph.microsoft.com/Mail.Send"
	// MicrosoftGraphDefault is the scope of app-only (client credentials)
	// tokens: the application permissions an administrator consented to.
	MicrosoftGraphDefault = "https://graph.microsoft.com/.default"
)

// Google scopes by transport.
const (
	// GoogleMail is full access, the only scope Gmail's IMAP and SMTP
	// accept with XOAUTH2.
	GoogleMail = "https://mail.google.com/"
	// GoogleGmailModify reads and labels mail through the Gmail API.
	GoogleGmailModify = "https://www.googleapis.com/auth/gmail.modify"
	// GoogleGmailSend sends through the Gmail API.
	GoogleGmailSend = "https://www.googleapis.com/auth/gmail.send"
)

// MicrosoftIMAPSMTPScopes are the scopes of a Microsoft 365 mailbox read
// over IMAP and sent from over SMTP, with sign-in and a refresh token.
func MicrosoftIMAPSMTPScopes() []string {
	return []string{ScopeOpenID, ScopeEmail, ScopeOfflineAccess, MicrosoftIMAP, MicrosoftSMTP}
}

// MicrosoftGraphScopes are the delegated scopes of a Microsoft 365
// mailbox read and sent from with Graph, with sign-in and a refresh token.
func MicrosoftGraphScopes() []string {
	return []string{ScopeOpenID, ScopeEmail, ScopeOfflineAccess, MicrosoftGraphMailReadWrite, MicrosoftGraphMailSend}
}

// GoogleIMAPSMTPScopes are the scopes of a Gmail mailbox over IMAP and SMTP.
func GoogleIMAPSMTPScopes() []string { return []string{ScopeOpenID, ScopeEmail, GoogleMail} }

// GoogleAPIScopes are the scopes of a Gmail mailbox over the Gmail API.
func GoogleAPIScopes() []string {
	return []string{ScopeOpenID, ScopeEmail, GoogleGmailModify, GoogleGmailSend}
}

// isGUID reports whether s is a tenant ID (8-4-4-4-12 hex digits).
func isGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return false
			}
		case !strings.ContainsRune("0123456789abcdefABCDEF", c):
			return false
		}
	}
	return true
}
