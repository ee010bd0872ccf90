// Package crashtest holds the crash rounds: the proof of guarantees 1-3 of
// DESIGN.md on the durable stores. Its test re-executes its own binary as a
// child process (an inbound poller, or an outbound sender, over SQLite or
// Postgres), kills it with SIGKILL at random moments, restarts it, and at
// the end counts what the in-process IMAP/SMTP servers (living in the
// parent, so they survive the kills) and the host's durable record saw:
// lost messages, messages handed or sent twice within the documented
// in-flight window, and anything else twice.
//
// TestCrashGraph does the same for Microsoft Graph: the in-process Graph
// server lives in the parent, and the child is killed during a delta sync
// or during the move post-action.
//
// CI runs a short version. The full one:
//
//	CORREIO_CRASH_ROUNDS=20 CORREIO_CRASH_MESSAGES=2000 go test -v -run TestCrash ./internal/crashtest/
//
// prints the table for RELIABILITY.md.
package crashtest
