package amqp

import "context"

// BrokerTopics returns the topics b opened partitions of.
func BrokerTopics(b *Broker) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for t := range b.partitions {
		out = append(out, t)
	}
	return out
}

// HeldPartitions returns the partition indexes this process's member of
// group holds on topic.
func HeldPartitions(b *Broker, topic, group string) []int { return b.Held(topic, group) }

// WaitConsuming waits until every consumer of every partition b opened has
// a channel consuming.
func WaitConsuming(ctx context.Context, b *Broker) error {
	b.mu.Lock()
	parts := append([]*partition(nil), b.parts...)
	b.mu.Unlock()
	for _, p := range parts {
		if err := p.waitConsuming(ctx); err != nil {
			return err
		}
	}
	return nil
}
