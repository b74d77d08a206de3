package postgres_test

import (
	"testing"

	"github.com/novaevents/nova/store"
	"github.com/novaevents/nova/store/postgres"
	"github.com/novaevents/nova/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.EventStore {
		return newStore(t, postgres.Config{})
	})
}
