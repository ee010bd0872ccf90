package mailtest

import "strings"

// parseXOAUTH2 splits the XOAUTH2 client response
// "user=U\x01auth=Bearer T\x01\x01" into its user and token.
func parseXOAUTH2(resp []byte) (user, token string) {
	for _, kv := range strings.Split(string(resp), "\x01") {
		if v, ok := strings.CutPrefix(kv, "user="); ok {
			user = v
		}
		if v, ok := strings.CutPrefix(kv, "auth=Bearer "); ok {
			token = v
		}
	}
	return user, token
}
