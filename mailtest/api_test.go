package mailtest_test

import (
	"encoding/json"
	"net/http"
	"testing"
)

// apiGet GETs url through c with the bearer token (none when "") and
// decodes the JSON answer into v.
func apiGet(t *testing.T, c *http.Client, url, token string, v any) (int, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("%s: %v", url, err)
	}
	return resp.StatusCode, resp.Header
}
