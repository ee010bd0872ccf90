package connect_test

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/correio-dev/correio/connect"
	"github.com/correio-dev/correio/transport"
)

func TestClassify(t *testing.T) {
	re := func(status int, code, body string, h http.Header) error {
		return &oauth2.RetrieveError{Response: &http.Response{StatusCode: status, Header: h}, ErrorCode: code, Body: []byte(body)}
	}
	for _, tc := range []struct {
		name   string
		err    error
		class  transport.Class
		reauth bool
		client bool
	}{
		{"invalid_grant", re(400, "invalid_grant", `{"error":"invalid_grant","error_codes":[70008]}`, nil), transport.Auth, true, false},
		{"MFA now required", re(400, "interaction_required", `{"error":"interaction_required","error_codes":[50076]}`, nil), transport.Auth, true, false},
		{"consent withdrawn", re(400, "invalid_request", `{"error":"invalid_request","error_codes":[65001]}`, nil), transport.Auth, true, false},
		{"user disabled", re(400, "invalid_request", `{"error":"invalid_request","error_codes":[50057]}`, nil), transport.Auth, true, false},
		{"client secret expired", re(401, "invalid_client", `{"error":"invalid_client","error_codes":[7000222]}`, nil), transport.Auth, false, true},
		{"bad scope", re(400, "invalid_scope", `{"error":"invalid_scope","error_codes":[70011]}`, nil), transport.Auth, false, false},
		{"throttled", re(429, "", `{}`, http.Header{"Retry-After": {"30"}}), transport.Temporary, false, false},
		{"server error", re(503, "temporarily_unavailable", `{"error":"temporarily_unavailable"}`, nil), transport.Temporary, false, false},
		{"html error page", re(502, "", `<html>bad gateway</html>`, nil), transport.Temporary, false, false},
		{"network", errors.New("dial tcp: connection refused"), transport.Temporary, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := connect.Classify(tc.err)
			if transport.ClassOf(err) != tc.class {
				t.Fatalf("class %v, want %v (%v)", transport.ClassOf(err), tc.class, err)
			}
			if errors.Is(err, transport.ErrReauthRequired) != tc.reauth {
				t.Fatalf("ErrReauthRequired = %v, want %v (%v)", !tc.reauth, tc.reauth, err)
			}
			if errors.Is(err, connect.ErrClientRejected) != tc.client {
				t.Fatalf("ErrClientRejected = %v, want %v (%v)", !tc.client, tc.client, err)
			}
		})
	}
	var te *transport.Error
	if err := connect.Classify(re(429, "", `{}`, http.Header{"Retry-After": {"30"}})); !errors.As(err, &te) || te.RetryAfter != 30*time.Second {
		t.Fatalf("Retry-After not carried: %v", err)
	}
	if connect.Classify(nil) != nil {
		t.Fatal("Classify(nil) is not nil")
	}
}
