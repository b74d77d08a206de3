package prom_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/novaevents/nova/emitter"
	"github.com/novaevents/nova/observe/prom"
	"github.com/novaevents/nova/shared"
)

func Example() {
	reg := prometheus.NewRegistry()
	m, err := prom.New(prom.Options{Registerer: reg})
	if err != nil {
		panic(err)
	}
	em := emitter.New(emitter.Config{Metrics: m})
	defer em.Shutdown(context.Background())
	_ = m.Watch("emitter", em)
	em.Subscribe("order.created", shared.NewBaseListener("audit", func(shared.Event) error { return nil }))
	_ = em.Emit(context.Background(), shared.NewBaseEvent("o-1", "order.created", nil))

	err = testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP nova_events_emitted_total Events offered to Emit, EmitAsync or Publish, by type and result (ok: accepted).
# TYPE nova_events_emitted_total counter
nova_events_emitted_total{component="emitter",result="error",type="order.created"} 0
nova_events_emitted_total{component="emitter",result="ok",type="order.created"} 1
`), "nova_events_emitted_total")
	fmt.Println(err)
	// Output: <nil>
}
