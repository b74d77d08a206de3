// Package rabbit holds what the observe packages' tests need to use the
// loopback RabbitMQ broker: the URL, the skip-or-fail rule, the shared
// broker lock, unique names and cleanup.
package rabbit

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/novaevents/nova/internal/brokerlock"
	"github.com/novaevents/nova/transport/amqp"
)

const startHint = "start RabbitMQ with: rabbitmq-server -detached"

// URL is NOVA_AMQP_URL, or amqp.DefaultURL.
func URL() string {
	if u := os.Getenv("NOVA_AMQP_URL"); u != "" {
		return u
	}
	return amqp.DefaultURL
}

// Require holds the broker lock shared until t ends, so that no fault test
// disturbs the broker meanwhile (waiting for one that runs), then checks
// that the broker answers: it skips t when it does not, or fails it under
// NOVA_REQUIRE_SERVICES=1. Under NOVA_REQUIRE_SERVICES=1 a broker that is
// restarting gets a few seconds.
func Require(t testing.TB) {
	t.Helper()
	brokerlock.Shared(t)
	required := os.Getenv("NOVA_REQUIRE_SERVICES") == "1"
	tries := 1
	if required {
		tries = 4
	}
	var err error
	for try := range tries {
		if try > 0 {
			time.Sleep(time.Duration(try) * time.Second) // a restart in progress
		}
		var c *amqp091.Connection
		if c, err = amqp091.DialConfig(URL(), amqp091.Config{Dial: amqp091.DefaultDial(3 * time.Second)}); err == nil {
			_ = c.Close()
			return
		}
	}
	if required {
		t.Fatalf("RabbitMQ unreachable at %s: %v (%s)", URL(), err, startHint)
	}
	t.Skipf("RabbitMQ unreachable at %s: %v; %s", URL(), err, startHint)
}

var unsafe = regexp.MustCompile(`[^a-zA-Z0-9]+`)

// Name is a broker-wide unique prefix for t's exchanges and queues.
func Name(t testing.TB) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := strings.ToLower(unsafe.ReplaceAllString(t.Name(), "-"))
	if len(name) > 50 {
		name = name[:50]
	}
	return "nova-test-" + name + "-" + hex.EncodeToString(b)
}

// Cleanup deletes queues and exchanges when t ends, through a connection
// of its own.
func Cleanup(t testing.TB, queues, exchanges []string) {
	t.Helper()
	t.Cleanup(func() {
		conn, err := amqp091.Dial(URL())
		if err != nil {
			t.Logf("cleanup: %v", err)
			return
		}
		defer conn.Close()
		for _, q := range queues {
			if ch, err := conn.Channel(); err == nil {
				_, _ = ch.QueueDelete(q, false, false, false)
				_ = ch.Close()
			}
		}
		for _, e := range exchanges {
			if ch, err := conn.Channel(); err == nil {
				_ = ch.ExchangeDelete(e, false, false)
				_ = ch.Close()
			}
		}
	})
}
