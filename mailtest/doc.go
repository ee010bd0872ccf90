// Package mailtest provides in-process IMAP and SMTP servers with scripted
// faults, like net/http/httptest: hosts test their own embedding of correio
// against them, and the examples start them to run without any set-up.
//
// NewHostileIMAP and NewHostileSMTP are scripted hostile servers (an
// endless literal, greeting or reply, a message far larger than listed, a
// flood of responses), for tests that a host's embedding stays within
// correio's bounds on what a server sends.
//
// GmailServer is an in-process Gmail API v1 subset (history, messages,
// labels, send, watch, the service-account token endpoint) that pushes
// signed Cloud Pub/Sub notifications (PubSubSigner) to a host's endpoint.
//
// NewOAuthServer is a local OAuth 2.0 authorization server laid out like
// the Microsoft identity platform (code with PKCE, device code, client
// credentials, refresh rotation with reuse detection, id_tokens, admin
// consent, its error bodies), for the connect flows and token sources.
//
// NewGraphServer is a Microsoft Graph v1.0 subset over HTTPS (mail
// folders, delta queries, $value, post-actions, MIME sendMail, the token
// endpoint, and /subscriptions with the validation handshake, change
// notifications and lifecycle events posted to the host's URL), following
// Microsoft's reference as far as correio uses it.
//
// The servers listen on loopback only.
package mailtest
