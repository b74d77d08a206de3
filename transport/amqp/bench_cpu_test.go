package amqp_test

import (
	"testing"
	"time"
)

// cpuMeter measures the CPU time this process (user and system) spends
// between its creation and report: with the broker in another process, it
// is what the client costs, for seed 003's "CPU under peak load".
type cpuMeter struct{ start time.Duration }

func newCPUMeter() cpuMeter { return cpuMeter{start: processCPU()} }

// report adds the CPU microseconds spent per message.
func (m cpuMeter) report(b *testing.B) {
	b.ReportMetric(float64((processCPU()-m.start).Microseconds())/float64(b.N), "cpu-µs/msg")
}
