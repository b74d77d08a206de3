package bus_test

import (
	"time"

	"github.com/novaevents/nova/emitter"
	"github.com/novaevents/nova/listener"
)

// withEmitterPolicy gives cfg a policy for unregistered listeners.
func withEmitterPolicy(cfg *emitter.Config, p listener.RetryPolicy, dl listener.DeadLetterConfig, timeout time.Duration) bool {
	cfg.Policy = &listener.Policy{RetryPolicy: p, DeadLetter: dl, Timeout: timeout}
	return true
}
