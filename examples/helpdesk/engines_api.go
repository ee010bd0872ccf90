package main

import (
	"crypto/x509"
	"log/slog"
	"time"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/transport"
	"github.com/correio-dev/correio/transport/gmail"
	"github.com/correio-dev/correio/transport/graph"
	"github.com/correio-dev/correio/transport/imap"
	"github.com/correio-dev/correio/transport/smtp"
)

// apiOptions configure the engines' HTTP API transports. Their tokens are
// the mailboxes' own token sources (oauth.go): a connected grant through
// connect.Flow.TokenSource over the store's Tokens, app-only, or a
// service account; the transports need no credentials of their own.
type apiOptions struct {
	// GraphBaseURL and GmailBaseURL replace the services' endpoints
	// (tests: mailtest's servers); empty in production.
	GraphBaseURL, GmailBaseURL string
	// RootCAs replaces the system roots for the APIs (tests).
	RootCAs *x509.CertPool
}

// transports are the engines' inbound sources and outbound senders by
// the mailbox's transport kind: IMAP and SMTP, Microsoft Graph and the
// Gmail API.
func transports(o engineOptions, netw transport.Net, imapCfg *imap.Config, smtpTr *smtp.Transport, log *slog.Logger) (transport.Sources, transport.Senders) {
	roots := o.APIs.RootCAs
	if roots == nil {
		roots = o.RootCAs
	}
	gr := &graph.Config{Net: netw, BaseURL: o.APIs.GraphBaseURL, RootCAs: roots, Timeout: 30 * time.Second}
	gm := &gmail.Config{Net: netw, BaseURL: o.APIs.GmailBaseURL, RootCAs: roots, Timeout: 30 * time.Second, CreateLabels: true, Logger: log}
	grSrc, grSnd := graph.NewTransports(gr)
	return transport.Sources{
			mailbox.TransportIMAP:  imap.NewSource(imapCfg),
			mailbox.TransportGraph: grSrc,
			mailbox.TransportGmail: gmail.NewSource(gm),
		}, transport.Senders{
			mailbox.TransportSMTP:  smtpTr,
			mailbox.TransportGraph: grSnd,
			mailbox.TransportGmail: gmail.NewSender(gm),
		}
}
