// Package postgres is Nova's durable event store, on PostgreSQL through
// github.com/jackc/pgx/v5. It implements store.EventStore and store.Trimmer
// and passes store/storetest against a real database. It also holds the
// durable idempotency store of the bus's ExactlyOnce topics, and the
// Transactional wrapper that makes a handler's effects happen once (see
// below).
//
// New takes a *pgxpool.Pool that stays the caller's; Open takes a DSN and
// owns its pool. Either creates, if missing, a schema (Config.Schema,
// default "nova") with three tables: nova_events (one row per event,
// UNIQUE (stream_id, version)), nova_streams (each stream's version and
// oldest kept version) and nova_position (the global position counter).
//
// An append is one transaction: it takes the position counter's row lock,
// checks the expected version, inserts the whole batch, and notifies on
// commit. Holding the lock until commit makes positions gap-free and
// visible in order, which is what lets a reader of "everything after
// position p" never miss an event committed late. The price is that appends
// are serialised: batch them (Append(ctx, id, events...)) for throughput.
//
// Payloads are encoded with Config.Codec (JSON by default) and tagged with
// their Config.Registry name, so Data comes back as the Go type that was
// appended; a payload that cannot be decoded is reported as a
// *store.DecodeError naming the event, with its bytes. Metadata is stored
// as jsonb; timestamps as timestamptz, that is, to the microsecond.
//
// Errors are the store package's. A failure of the database itself (it
// cannot be reached, a connection drops, a statement fails) matches
// store.ErrBackend and still matches its cause, such as a *pgconn.PgError; a
// payload that cannot be encoded matches store.ErrEncode; a cancelled
// context gives the context's error.
//
// Subscriptions catch up by position and then follow LISTEN/NOTIFY: the
// notification is only a hint to read again, so a lost one costs at most
// Config.PollInterval of latency, never an event.
//
// Goroutines: none until the first Subscribe, which opens one dedicated
// connection for LISTEN (outside the pool) and one goroutine reading it,
// reconnecting with backoff if it drops. Close refuses new calls, ends
// subscriptions with store.ErrClosed, waits for calls in progress, stops that
// goroutine, and closes the pool if Open created it.
//
// # Exactly-once effects: IdempotencyStore and Transactional
//
// IdempotencyStore is a bus.IdempotencyStore shared by every process on
// the same database, in the table nova_idempotency: one row per (scope,
// event ID), either a claim (holder, expiry ClaimTTL ahead) or a
// completion (kept for Retention). Each store value is a holder: it holds a
// session advisory lock on its random ID on a connection of its own (its
// lease), which PostgreSQL frees when that session ends, so a claim whose
// holder was killed can be taken over at once rather than after its TTL.
// A claim held by another live holder makes Claim wait (HeldClaimWait) and
// then fail with ErrClaimHeld, so that the bus retries that copy later
// instead of dropping what may be the only copy left.
//
// Transactional wraps a listener: each call runs in one transaction that
// first locks (or creates) the event's record in the wrapper's scope, skips
// the listener if the event is recorded as handled, and otherwise calls it
// with the transaction in its ctx (TxFrom), records the event as handled
// and commits. What is guaranteed, per scope and within Retention:
//
//   - With Transactional, the writes a handler makes through TxFrom's
//     transaction happen exactly once per event ID, whatever the
//     deliveries (duplicates published, redeliveries after a crash,
//     retries, two processes handling copies at once, a claim that expired
//     while its handler ran) and whatever crashes: a process killed before
//     the commit leaves no effect and no record (the next copy is handled);
//     killed after it, the record makes every later copy skip the handler.
//     This holds on AtLeastOnce topics too; ExactlyOnce with this store
//     only saves most of the duplicate handler calls.
//
//   - Without it (ExactlyOnce with this store, a handler writing
//     elsewhere), the handler runs at least once and, except around
//     crashes, once: a copy of a completed event is suppressed, and a copy
//     that arrives while another live holder has the event waits
//     (HeldClaimWait), is retried by the bus, and is suppressed once the
//     event completes. But a process that dies after the handler's effect
//     and before Complete leaves a claim that the next copy takes over,
//     and the handler runs again. Effects outside PostgreSQL (HTTP calls,
//     messages) are at least once in both cases.
//
//   - Either way nothing is lost: a copy whose claim stays held past
//     HeldClaimWait and the bus's retries is dead-lettered, not dropped.
//
//   - Not guaranteed: events handled again after their record expired
//     (Retention) or was purged, or under another scope, run again. A
//     lease whose connection drops (a network failure) makes the holder's
//     claims look abandoned until it reconnects, which can cost a second
//     handler call, never a second effect under Transactional.
//
//     ids, err := postgres.NewIdempotencyStore(ctx, pool, postgres.IdempotencyConfig{})
//     if err != nil { return err }
//     defer ids.Close()
//     b.CreateTopic("payments", bus.TopicConfig{DeliveryMode: bus.ExactlyOnce, IdempotencyStore: ids})
//     l, err := ids.Transactional("payments/ledger", shared.NewListener("ledger", func(ctx context.Context, e shared.Event) error {
//     tx, _ := postgres.TxFrom(ctx)
//     _, err := tx.Exec(ctx, `UPDATE accounts SET balance = balance + $1 WHERE id = $2`, amount(e), account(e))
//     return err
//     }))
//     _, err = b.SubscribeGroup("payments", "ledger", l)
//
// Goroutines of an IdempotencyStore: one watching its lease connection
// (reconnecting it with backoff) and one purging expired records every
// PurgeInterval; Close stops both and frees the lease.
//
// # The event store
//
//	st, err := postgres.Open(ctx, "postgres://postgres@127.0.0.1:5432/app", postgres.Config{Registry: reg})
//	if err != nil { return err }
//	defer st.Close()
//	err = st.Append(ctx, "order-1", created, paid) // one transaction
//	recs, err := st.Read(ctx, "order-1", store.FromStart, 100)
package postgres
