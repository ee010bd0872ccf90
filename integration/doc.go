// Package integration holds correio's integration tier: tests and benchmarks
// that run the engines (inbound, outbound) and transports against real
// Dovecot and Postfix servers started on loopback ports by
// internal/mailstack, through their public APIs only. The package has no
// code of its own.
//
// What it proves:
//
//   - the seed scenario end to end: a workflow step with each mailbox choice
//     (system, contract, specific) sends through Postfix; the mail arrives in
//     Dovecot with its From, Message-ID, loop marker, Auto-Submitted and
//     thread token; the customer's reply is read by the Poller, handed to the
//     host under the right contract, matched to its request, and gets the
//     mailbox's post-action on the server; once over the memory stores and
//     once over the SQLite store (catalog, outbox, inbound state);
//   - TLS: IMAP over implicit TLS and STARTTLS, SMTP submission with STARTTLS
//     and AUTH, a wrong CA failing with the TLS class (Probe too), plaintext
//     refused without the mailbox's opt-in;
//   - POP3: mail Postfix delivered read from Dovecot's POP3 over STLS and
//     POP3S with the keep and delete post-actions, Check, a wrong CA (TLS
//     class) and a wrong password (Auth class);
//   - pushed mail: Postfix delivers to cmd/correio-pipe (pipe(8)), which
//     posts to the signed webhook: handed once, deferred on exit 75 while
//     the host's handler fails and delivered after a flush, bounced on
//     exit 67 for an unknown recipient;
//   - OAuth2: XOAUTH2 against Dovecot and Postfix with bearer tokens checked
//     by a loopback token server, token expiry with one refresh, a revoked
//     refresh token failing with the Auth class;
//   - faults between client and server (mailtest.Proxy): latency, a reset in
//     the middle of a FETCH and of DATA, a blackhole, and real restarts of
//     Dovecot and Postfix: nothing lost or duplicated, and the healthy
//     mailboxes keep working while the faulty one is reported failing.
//
// # Running it
//
// The tier runs in CI (.ci/run) as part of `go test -race ./...`. Locally,
// with root on a Debian machine, one command installs the servers and runs
// it:
//
//	scripts/install-mailservers.sh && go test -race -count=1 ./integration/
//
// Without Dovecot and Postfix installed the tests fail, loudly, so the tier
// cannot be skipped by accident; set CORREIO_SKIP_MAILSTACK=1 to skip it
// knowingly.
//
// The real-server benchmarks are not part of CI:
//
//	go test -run '^$' -bench . -benchtime 3x ./integration/
//
// Their figures are in BENCHMARKS.md ("Real servers").
package integration
