package threading_test

import (
	"context"
	"fmt"

	"github.com/correio-dev/correio/threading"
)

func ExampleTokens() {
	tokens := threading.TokenFormat{}.MustCompile() // "[#REQ-<id>]"
	subject, _ := tokens.Tag("Your request was opened", "1042")
	fmt.Println(subject)
	id, ok := tokens.Parse("RE: " + subject)
	fmt.Println(id, ok)
	// Output:
	// Your request was opened [#REQ-1042]
	// 1042 true
}

// Find applies the matching rule the inbound engine uses for every
// message; without an index of sent messages only the token matches.
func ExampleFind() {
	m, err := threading.Find(context.Background(), nil, nil, nil, nil, "RE: Printer broken [#REQ-1042]")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(m.By, m.Ref.Thread)
	// Output: token 1042
}
