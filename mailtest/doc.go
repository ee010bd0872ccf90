// Package mailtest provides in-process IMAP and SMTP servers with scripted
// faults, like net/http/httptest: hosts test their own embedding of correio
// against them, and the examples start them to run without any set-up.
//
// NewHostileIMAP and NewHostileSMTP are scripted hostile servers (an
// endless literal, greeting or reply, a message far larger than listed, a
// flood of responses), for tests that a host's embedding stays within
// correio's bounds on what a server sends.
//
// NewGraphServer is a Microsoft Graph v1.0 subset over HTTPS (mail
// folders, delta queries, $value, post-actions, MIME sendMail, the token
// endpoint, and /subscriptions with the validation handshake, change
// notifications and lifecycle events posted to the host's URL), following
// Microsoft's reference as far as correio uses it.
//
// The servers listen on loopback only.
package mailtest
