// Package mailtest provides in-process IMAP and SMTP servers with scripted
// faults, like net/http/httptest: hosts test their own embedding of correio
// against them, and the examples start them to run without any set-up.
//
// The servers listen on loopback only.
package mailtest
