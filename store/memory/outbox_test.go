package memory_test

import (
	"context"
	"testing"

	"github.com/correio-dev/correio/store/memory"
)

func TestSuppressions(t *testing.T) {
	ctx := context.Background()
	s := memory.NewSuppressions()
	_ = s.Suppress(ctx, "Ana@Example.org", "550 5.1.1 no such user")
	if r, ok, _ := s.Suppressed(ctx, "ana@example.ORG"); !ok || r != "550 5.1.1 no such user" {
		t.Fatalf("%q %v", r, ok)
	}
	_ = s.Unsuppress(ctx, "ANA@example.org")
	if _, ok, _ := s.Suppressed(ctx, "ana@example.org"); ok {
		t.Fatal("still suppressed")
	}
}
