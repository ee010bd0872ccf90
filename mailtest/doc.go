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
// The servers listen on loopback only.
package mailtest
