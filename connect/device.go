package connect

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"golang.org/x/oauth2"

	"github.com/correio-dev/correio/mailbox"
)

// DeviceConnect is a started device authorization (RFC 8628): show
// UserCode and VerificationURI to the person, then call Flow.PollDevice.
type DeviceConnect struct {
	Mailbox                 mailbox.ID
	UserCode                string
	VerificationURI         string
	VerificationURIComplete string
	Expiry                  time.Time
	// Interval is the polling interval the provider asked for.
	Interval time.Duration
	// Scopes asked for.
	Scopes []string

	resp *oauth2.DeviceAuthResponse
}

// StartDevice begins a device-code connect for hosts without a browser
// callback (a CLI, a server set up over SSH), asking for scopes (default
// the flow's).
func (f *Flow) StartDevice(ctx context.Context, mb mailbox.ID, scopes ...string) (*DeviceConnect, error) {
	if mb == "" {
		return nil, errors.New("connect: a mailbox is required")
	}
	if f.Provider.Endpoint.DeviceAuthURL == "" {
		return nil, fmt.Errorf("connect: provider %q has no device authorization endpoint", f.Provider.Name)
	}
	if len(scopes) == 0 {
		scopes = f.Scopes
	}
	cfg := f.config("")
	cfg.Scopes = slices.Clone(scopes)
	resp, err := cfg.DeviceAuth(f.ctx(ctx))
	if err != nil {
		return nil, Classify(err)
	}
	return &DeviceConnect{Mailbox: mb, UserCode: resp.UserCode, VerificationURI: resp.VerificationURI,
		VerificationURIComplete: resp.VerificationURIComplete, Expiry: resp.Expiry,
		Interval: time.Duration(resp.Interval) * time.Second, Scopes: slices.Clone(scopes), resp: resp}, nil
}

// PollDevice polls the token endpoint until the person approves, declines
// or the code expires, at the provider's interval (raised by 5 seconds on
// every slow_down, RFC 8628 3.5). It returns ErrDenied, ErrExpired, or the
// context's error.
func (f *Flow) PollDevice(ctx context.Context, d *DeviceConnect) (*Grant, error) {
	if d == nil || d.resp == nil {
		return nil, errors.New("connect: PollDevice needs the DeviceConnect StartDevice returned")
	}
	log := f.logger().With("mailbox", string(d.Mailbox), "provider", f.Provider.Name)
	tok, err := f.config("").DeviceAccessToken(f.ctx(ctx), d.resp)
	if err != nil {
		var re *oauth2.RetrieveError
		switch {
		case errors.As(err, &re) && re.ErrorCode == "expired_token":
			err = ErrExpired
		case errors.As(err, &re) && (re.ErrorCode == "access_denied" || re.ErrorCode == "authorization_declined"):
			err = fmt.Errorf("%w: %w", ErrDenied, &ProviderError{Code: re.ErrorCode, AADSTS: aadstsOf(re.Body)})
		case ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded):
			err = ErrExpired // the code's own expiry, set by x/oauth2
		case ctx.Err() != nil:
			err = ctx.Err()
		default:
			err = Classify(err)
		}
		log.WarnContext(ctx, "oauth2 device connect failed", "err", err)
		return nil, err
	}
	scopes := d.Scopes
	if len(scopes) == 0 {
		scopes = f.Scopes
	}
	g, err := f.grant(ctx, d.Mailbox, tok, scopes, "")
	if err != nil {
		log.WarnContext(ctx, "oauth2 device connect refused", "err", err)
		return nil, err
	}
	log.InfoContext(ctx, "oauth2 mailbox connected", "account", g.Token.Account, "flow", "device")
	return g, nil
}
