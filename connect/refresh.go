package connect

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// refresh redeems a refresh token (RFC 6749 6). It is written here rather
// than through oauth2.Config.TokenSource because the Microsoft identity
// platform needs the scope parameter on refresh to pick the resource of
// the new access token, which x/oauth2 does not send (golang/oauth2#540).
// Failures are *oauth2.RetrieveError like x/oauth2's, for Classify.
func (f *Flow) refresh(ctx context.Context, rt string, scopes []string) (*oauth2.Token, error) {
	v := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {f.ClientID}}
	if s := f.ClientSecret.Reveal(); s != "" {
		v.Set("client_secret", s)
	}
	if f.Provider.RefreshScope && len(scopes) > 0 {
		v.Set("scope", strings.Join(scopes, " "))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.Provider.Endpoint.TokenURL, strings.NewReader(v.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := f.client().Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	var t struct {
		AccessToken  string          `json:"access_token"`
		TokenType    string          `json:"token_type"`
		RefreshToken string          `json:"refresh_token"`
		ExpiresIn    json.RawMessage `json:"expires_in"`
		Scope        string          `json:"scope"`
		Error        string          `json:"error"`
		Description  string          `json:"error_description"`
		URI          string          `json:"error_uri"`
	}
	jerr := json.Unmarshal(body, &t)
	if resp.StatusCode < 200 || resp.StatusCode > 299 || jerr != nil || t.Error != "" || t.AccessToken == "" {
		return nil, &oauth2.RetrieveError{Response: resp, Body: body, ErrorCode: t.Error, ErrorDescription: t.Description, ErrorURI: t.URI}
	}
	tok := &oauth2.Token{AccessToken: t.AccessToken, TokenType: t.TokenType, RefreshToken: t.RefreshToken}
	// expires_in is a number; some servers send it as a string.
	if n, err := strconv.ParseInt(strings.Trim(string(t.ExpiresIn), `"`), 10, 64); err == nil && n > 0 {
		tok.Expiry = f.now().Add(time.Duration(n) * time.Second)
		tok.ExpiresIn = n
	}
	return tok.WithExtra(map[string]any{"scope": t.Scope}), nil
}
