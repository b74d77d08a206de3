package amqp

import "fmt"

// Compression says whether the Publisher gzips a message's body.
type Compression uint8

const (
	// CompressAuto follows PublisherConfig.CompressAbove. It is the zero
	// value.
	CompressAuto Compression = iota
	// CompressAlways gzips the body whatever its size (at the publisher's
	// CompressionLevel), unless the message already has a
	// ContentEncoding.
	CompressAlways
	// CompressNever sends the body as it is.
	CompressNever
)

func (c Compression) String() string {
	switch c {
	case CompressAuto:
		return "auto"
	case CompressAlways:
		return "always"
	case CompressNever:
		return "never"
	}
	return fmt.Sprintf("Compression(%d)", uint8(c))
}

// MessageOption sets a field of a message built by NewMessage.
type MessageOption func(*Message)

// NewMessage returns a message with body and the options applied in order.
// It keeps body, not a copy.
func NewMessage(body []byte, opts ...MessageOption) Message {
	m := Message{Body: body}
	for _, o := range opts {
		if o != nil {
			o(&m)
		}
	}
	return m
}

// WithID sets the message-id property.
func WithID(id string) MessageOption { return func(m *Message) { m.MessageID = id } }

// WithContentType sets the content-type property.
func WithContentType(contentType string) MessageOption {
	return func(m *Message) { m.ContentType = contentType }
}

// WithCompression gzips the body (true: CompressAlways) or never does
// (false: CompressNever), whatever PublisherConfig.CompressAbove says.
func WithCompression(on bool) MessageOption {
	return func(m *Message) {
		m.Compression = CompressNever
		if on {
			m.Compression = CompressAlways
		}
	}
}

// WithPriority sets the priority (0 to 9 on RabbitMQ; a queue delivers by
// priority only when declared with x-max-priority).
func WithPriority(priority uint8) MessageOption { return func(m *Message) { m.Priority = priority } }

// WithRoutingKey sets the routing key.
func WithRoutingKey(key string) MessageOption { return func(m *Message) { m.RoutingKey = key } }

// WithHeader sets one header, creating the table if needed.
func WithHeader(key string, value any) MessageOption {
	return func(m *Message) {
		if m.Headers == nil {
			m.Headers = Table{}
		}
		m.Headers[key] = value
	}
}
