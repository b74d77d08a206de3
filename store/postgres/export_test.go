package postgres

import "time"

// AdvanceClock moves s's view of the database clock forward by d, so that
// tests expire claims and completions without waiting.
func AdvanceClock(s *IdempotencyStore, d time.Duration) { s.offset.Add(d.Microseconds()) }
