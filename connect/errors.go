package connect

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/correio-dev/correio/transport"
)

// Errors of the connect flows. Compare with errors.Is.
var (
	// ErrState: the callback's state is unknown, already used, expired,
	// or bound to another browser (a forged or replayed callback).
	ErrState = errors.New("connect: unknown, used or expired state")
	// ErrNonce: the id_token's nonce is not the one of the connect.
	ErrNonce = errors.New("connect: id_token nonce mismatch")
	// ErrIDToken: the id_token is missing, malformed, badly signed, for
	// another client or issuer, or expired.
	ErrIDToken = errors.New("connect: invalid id_token")
	// ErrDenied: the person or administrator declined (access_denied,
	// authorization_declined, consent refused).
	ErrDenied = errors.New("connect: authorization declined")
	// ErrExpired: the device code expired before anyone approved it
	// (expired_token, RFC 8628 3.5).
	ErrExpired = errors.New("connect: device code expired")
	// ErrNoRefreshToken: the provider granted no refresh token (missing
	// offline_access, or Google's access_type=offline and prompt=consent).
	ErrNoRefreshToken = errors.New("connect: the provider returned no refresh token")
	// ErrClientRejected: the token endpoint refused the application itself
	// (invalid_client, unauthorized_client: a wrong or expired client
	// secret, an unknown client ID). Re-authorising the mailbox does not
	// help: the application's registration or secret must be fixed.
	ErrClientRejected = errors.New("connect: the application's credentials were refused")
)

// ProviderError is the error body of a refusal by the authorization or
// token endpoint (RFC 6749 4.1.2.1 and 5.2), with the Microsoft identity
// platform's AADSTS numbers when it sent them. It never holds a token; the
// free-text description is kept out of Error() because providers may echo
// request values into it.
type ProviderError struct {
	// Code is the RFC 6749 error code ("invalid_grant", ...).
	Code string
	// AADSTS are the identity platform's error_codes (50173, 700082, ...).
	AADSTS []int
	// Status is the HTTP status (0 for a redirect's error).
	Status int
}

func (e *ProviderError) Error() string {
	var b strings.Builder
	b.WriteString("oauth2 " + e.Code)
	for _, c := range e.AADSTS {
		b.WriteString(" AADSTS" + strconv.Itoa(c))
	}
	if e.Status != 0 {
		b.WriteString(" (HTTP " + strconv.Itoa(e.Status) + ")")
	}
	return b.String()
}

// AADSTS codes meaning the grant is gone and a person must sign in again
// (learn.microsoft.com/entra/identity-platform/reference-error-codes):
//
//	50173   FreshTokenNeeded: the grant was revoked (password changed or reset, sessions revoked)
//	70008   ExpiredOrRevokedGrant: the refresh token expired or was revoked
//	700082  ExpiredOrRevokedGrantInactiveToken: expired after 90 days of inactivity
//	700084  the refresh token of a single-page app reached its fixed lifetime
//	50133   SsoArtifactInvalidOrExpired: password expired or recently changed
//	50055   InvalidPasswordExpiredPassword
//	50057   UserDisabled
//	50053   IdsLocked: the account is locked
//	50076, 50079  UserStrongAuthClientAuthNRequired / enrollment: MFA now required
//	50078   UserStrongAuthExpired: MFA must be done again
//	65001   DelegationDoesNotExist: consent missing or withdrawn
//	54005   the authorization code was already redeemed
var reauthAADSTS = []int{50173, 70008, 700082, 700084, 50133, 50055, 50057, 50053, 50076, 50079, 50078, 65001, 54005}

// reauthCodes are RFC 6749 and OpenID Connect codes with the same meaning.
var reauthCodes = []string{"invalid_grant", "interaction_required", "consent_required", "login_required"}

// Classify turns an error of a token request into the transport classes
// the engines act on:
//
//   - a refusal meaning the grant is gone (invalid_grant, revoked consent,
//     the AADSTS codes above): a *transport.Error of class Auth wrapping
//     transport.ErrReauthRequired and transport.ErrNoToken, so the mailbox
//     goes to engine.StateReauthRequired at once with no blind retries;
//   - the application refused (invalid_client, unauthorized_client): Auth
//     wrapping ErrClientRejected;
//   - other 4xx refusals: Auth wrapping the *ProviderError;
//   - 429, 5xx, an answer without an OAuth error code (a proxy's page), or
//     no answer at all (the network): Temporary, with RetryAfter from a
//     Retry-After header.
//
// The result never holds a token or the provider's free text. A nil err
// gives nil.
func Classify(err error) error {
	if err == nil {
		return nil
	}
	var te *transport.Error
	if errors.As(err, &te) {
		return err
	}
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		return &transport.Error{Class: transport.Temporary, Op: "oauth2", Err: errors.New("token endpoint unreachable"),
			Hint: "the token endpoint could not be reached; retrying"}
	}
	status := 0
	var retry time.Duration
	if re.Response != nil {
		status = re.Response.StatusCode
		retry = retryAfter(re.Response.Header.Get("Retry-After"))
	}
	pe := &ProviderError{Code: re.ErrorCode, AADSTS: aadstsOf(re.Body), Status: status}
	if status == http.StatusTooManyRequests || status >= 500 || pe.Code == "" || pe.Code == "temporarily_unavailable" || pe.Code == "server_error" {
		return &transport.Error{Class: transport.Temporary, Op: "oauth2", Err: pe, RetryAfter: retry,
			Hint: "the token endpoint is unavailable; retrying"}
	}
	if isReauth(pe) {
		return &transport.Error{Class: transport.Auth, Op: "oauth2", Err: errors.Join(transport.ErrReauthRequired, transport.ErrNoToken, pe),
			Hint: "the OAuth2 grant was revoked or expired; connect the mailbox again"}
	}
	if pe.Code == "invalid_client" || pe.Code == "unauthorized_client" {
		return &transport.Error{Class: transport.Auth, Op: "oauth2", Err: errors.Join(ErrClientRejected, pe),
			Hint: "the token endpoint refused the application; check its client ID and secret (it may have expired)"}
	}
	return &transport.Error{Class: transport.Auth, Op: "oauth2", Err: pe, Hint: "the token endpoint refused the request"}
}

func isReauth(pe *ProviderError) bool {
	if slices.Contains(reauthCodes, pe.Code) {
		return true
	}
	for _, c := range pe.AADSTS {
		if slices.Contains(reauthAADSTS, c) {
			return true
		}
	}
	return false
}

// aadstsOf reads error_codes from a JSON error body.
func aadstsOf(body []byte) []int {
	var v struct {
		Codes []int `json:"error_codes"`
	}
	if json.Unmarshal(body, &v) != nil {
		return nil
	}
	return v.Codes
}

func retryAfter(h string) time.Duration {
	if h == "" {
		return 0
	}
	if n, err := strconv.Atoi(strings.TrimSpace(h)); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}

// redirectError is the error of a callback (RFC 6749 4.1.2.1).
func redirectError(code string) error {
	pe := &ProviderError{Code: code}
	if code == "access_denied" {
		return fmt.Errorf("%w: %w", ErrDenied, pe)
	}
	return pe
}
