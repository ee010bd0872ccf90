// Package connect connects mailboxes to Microsoft 365 and Google accounts
// with OAuth 2.0, as library pieces a host mounts in its own web UI or CLI:
//
//   - the authorization code flow with PKCE S256 (RFC 7636), a one-time
//     state that expires and is bound to the browser that started the
//     connect (RFC 6749 10.12, RFC 9700 4.7), and the OpenID nonce checked
//     in a verified id_token when openid is asked for: Flow.Start and
//     Flow.Finish, or Flow.Redirect and Flow.Callback over net/http;
//   - the device authorization grant (RFC 8628) for hosts without a
//     browser callback: Flow.StartDevice and Flow.PollDevice;
//   - Microsoft's admin-consent link for app-only access to shared
//     mailboxes: Flow.StartAdminConsent and Flow.FinishAdminConsent, then
//     Flow.AppOnly (client credentials);
//   - provider presets (Microsoft, Google) and the scopes each transport
//     needs (MicrosoftIMAPSMTPScopes, MicrosoftGraphScopes, GoogleMail, ...);
//   - TokenSource, the mailbox.TokenSource of a connected mailbox: it
//     refreshes, writes a rotated refresh token to the store.Tokens before
//     using it, and classifies refusals (Classify): a dead grant wraps
//     transport.ErrReauthRequired, so the engines put the mailbox in
//     engine.StateReauthRequired at once instead of retrying.
//
// Grants are kept in a store.Tokens (store/memory, or sealed with the
// password keyring in store/sqlite and store/postgres). No token, client
// secret, code or verifier ever reaches a log line, an error or fmt output.
//
// Verified against mailtest.OAuthServer, which follows RFC 6749, 7636,
// 8628, OpenID Connect Core and the Microsoft identity platform's error
// bodies; the real providers cannot be reached from correio's CI. See
// docs/providers.md for app registration.
package connect
