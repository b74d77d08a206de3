package amqp

import (
	"encoding/hex"
	"fmt"
	"maps"
	"strconv"
	"time"
	"unicode/utf8"

	amqp091 "github.com/rabbitmq/amqp091-go"
)

// Message is what a Publisher sends. Only Body is usually set; everything
// else maps to the AMQP property of the same name. Messages are persistent
// unless Transient is set.
//
// The Publisher copies Headers (not the values inside them) when the call
// returns, and never keeps Body beyond the publish: do not modify Body until
// the receipt resolves.
type Message struct {
	RoutingKey      string
	Body            []byte
	ContentType     string
	ContentEncoding string
	Headers         Table
	MessageID       string
	CorrelationID   string
	ReplyTo         string
	Type            string
	AppID           string
	Timestamp       time.Time
	// Expiration discards the message if it waits longer than this in a
	// queue. 0 means never.
	Expiration time.Duration
	Priority   uint8
	// Transient messages are not written to disk by the broker.
	Transient bool
	// Mandatory asks the broker to return the message if no queue would
	// receive it (see PublisherConfig.Mandatory).
	Mandatory bool
	// Compression overrides PublisherConfig.CompressAbove for this
	// message. Default CompressAuto.
	Compression Compression
}

func (m *Message) publishing(headers Table) amqp091.Publishing {
	p := amqp091.Publishing{
		Headers:         headers,
		ContentType:     m.ContentType,
		ContentEncoding: m.ContentEncoding,
		DeliveryMode:    amqp091.Persistent,
		Priority:        m.Priority,
		CorrelationId:   m.CorrelationID,
		ReplyTo:         m.ReplyTo,
		MessageId:       m.MessageID,
		Timestamp:       m.Timestamp,
		Type:            m.Type,
		AppId:           m.AppID,
		Body:            m.Body,
	}
	if m.Transient {
		p.DeliveryMode = amqp091.Transient
	}
	if m.Expiration > 0 {
		p.Expiration = strconv.FormatInt(max(m.Expiration.Milliseconds(), 1), 10)
	}
	return p
}

// Delivery is a message received by a Consumer. Body is already inflated
// when the message was gzip-compressed; ContentEncoding still says how it
// travelled. Headers hold values of every AMQP type as amqp091 decodes them
// (string, int8…int64, float32/64, bool, Decimal, []byte, time.Time, Table,
// []any, nil): nothing is converted, so nothing can fail to decode. Use
// HeaderString for a printable form and Deaths for x-death.
//
// The handler may keep and change its Delivery, Headers map included: the
// consumer retries and dead-letters the message as it arrived. It must not
// write into the bytes of Body or into values nested in Headers (tables,
// arrays), which the message shares with its retry or dead letter and
// which may be read while a handler abandoned after HandlerTimeout runs.
type Delivery struct {
	Queue           string
	Exchange        string
	RoutingKey      string
	Body            []byte
	ContentType     string
	ContentEncoding string
	Headers         Table
	MessageID       string
	CorrelationID   string
	ReplyTo         string
	Type            string
	AppID           string
	Timestamp       time.Time
	Priority        uint8
	// Redelivered is set by the broker when the message was delivered before
	// without being acknowledged (for instance when a connection dropped).
	Redelivered bool
	// Attempt is 1 for the first delivery and grows by one with each retry
	// made through the consumer's retry queues.
	Attempt int

	attempt int // Attempt as received, for settling
	raw     *amqp091.Delivery
}

func newDelivery(queue string, d *amqp091.Delivery) *Delivery {
	attempt := retriesOf(d.Headers) + 1
	return &Delivery{
		Queue:           queue,
		Exchange:        d.Exchange,
		RoutingKey:      d.RoutingKey,
		Body:            d.Body,
		ContentType:     d.ContentType,
		ContentEncoding: d.ContentEncoding,
		Headers:         maps.Clone(d.Headers), // the handler's own: settling reads the original
		MessageID:       d.MessageId,
		CorrelationID:   d.CorrelationId,
		ReplyTo:         d.ReplyTo,
		Type:            d.Type,
		AppID:           d.AppId,
		Timestamp:       d.Timestamp,
		Priority:        d.Priority,
		Redelivered:     d.Redelivered,
		Attempt:         attempt,
		attempt:         attempt,
		raw:             d,
	}
}

// HeaderString returns a header as text, whatever its AMQP type (see
// FormatValue), and whether it was present.
func (d *Delivery) HeaderString(key string) (string, bool) {
	v, ok := d.Headers[key]
	if !ok {
		return "", false
	}
	return FormatValue(v), true
}

// Death is one entry of the x-death header RabbitMQ adds each time it
// dead-letters a message (rejected, expired, over a length or delivery
// limit).
type Death struct {
	Queue       string
	Reason      string // "rejected", "expired", "maxlen", "delivery_limit"
	Exchange    string
	RoutingKeys []string
	Count       int64
	Time        time.Time
}

// Deaths decodes the x-death header. Entries or fields of unexpected types
// are skipped, never an error.
func (d *Delivery) Deaths() []Death {
	list, ok := d.Headers["x-death"].([]any)
	if !ok {
		return nil
	}
	out := make([]Death, 0, len(list))
	for _, item := range list {
		t, ok := item.(Table)
		if !ok {
			continue
		}
		var death Death
		death.Queue, _ = t["queue"].(string)
		death.Reason, _ = t["reason"].(string)
		death.Exchange, _ = t["exchange"].(string)
		death.Count, _ = toInt64(t["count"])
		death.Time, _ = t["time"].(time.Time)
		if keys, ok := t["routing-keys"].([]any); ok {
			for _, k := range keys {
				if s, ok := k.(string); ok {
					death.RoutingKeys = append(death.RoutingKeys, s)
				}
			}
		}
		out = append(out, death)
	}
	return out
}

// FormatValue renders any AMQP field value as text: integers in decimal,
// timestamps in RFC 3339, byte slices as text when they are valid UTF-8 and
// in hexadecimal otherwise, tables and arrays with fmt's %v.
func FormatValue(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case []byte:
		if utf8.Valid(x) {
			return string(x)
		}
		return hex.EncodeToString(x)
	case bool:
		return strconv.FormatBool(x)
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	case amqp091.Decimal:
		s := strconv.FormatInt(int64(x.Value), 10)
		if x.Scale == 0 {
			return s
		}
		neg := x.Value < 0
		if neg {
			s = s[1:]
		}
		for len(s) <= int(x.Scale) {
			s = "0" + s
		}
		s = s[:len(s)-int(x.Scale)] + "." + s[len(s)-int(x.Scale):]
		if neg {
			s = "-" + s
		}
		return s
	case float32:
		return strconv.FormatFloat(float64(x), 'g', -1, 32)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	}
	if n, ok := toInt64(v); ok {
		return strconv.FormatInt(n, 10)
	}
	return fmt.Sprintf("%v", v)
}

// toInt64 converts any AMQP integer type.
func toInt64(v any) (int64, bool) {
	switch x := v.(type) {
	case int:
		return int64(x), true
	case int8:
		return int64(x), true
	case int16:
		return int64(x), true
	case int32:
		return int64(x), true
	case int64:
		return x, true
	case uint8:
		return int64(x), true
	case uint16:
		return int64(x), true
	case uint32:
		return int64(x), true
	case uint64:
		return int64(x), true
	case string:
		n, err := strconv.ParseInt(x, 10, 64)
		return n, err == nil
	}
	return 0, false
}

// retriesOf reads the retry count the consumer wrote; anything unreadable
// counts as no retry.
func retriesOf(h Table) int {
	n, ok := toInt64(h[HeaderRetries])
	if !ok || n < 0 {
		return 0
	}
	return int(min(n, 1<<30))
}
