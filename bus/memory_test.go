package bus_test

import (
	"testing"

	"github.com/novaevents/nova/bus"
	"github.com/novaevents/nova/bus/brokertest"
)

func TestMemoryBroker(t *testing.T) {
	brokertest.Run(t, func(*testing.T) bus.Broker { return bus.NewMemoryBroker() })
}
