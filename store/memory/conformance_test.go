package memory_test

import (
	"testing"

	"github.com/correio-dev/correio/store/memory"
	"github.com/correio-dev/correio/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Harness{Catalog: &storetest.CatalogHarness{
		New:      func(*testing.T) storetest.Catalog { return memory.NewCatalog() },
		NotFound: memory.ErrNotFound,
		OAuth2:   true,
	}})
}
