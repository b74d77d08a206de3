// Package postgres is Nova's durable event store, on PostgreSQL through
// github.com/jackc/pgx/v5. It implements store.EventStore and store.Trimmer
// and passes store/storetest against a real database.
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
//	st, err := postgres.Open(ctx, "postgres://postgres@127.0.0.1:5432/app", postgres.Config{Registry: reg})
//	if err != nil { return err }
//	defer st.Close()
//	err = st.Append(ctx, "order-1", created, paid) // one transaction
//	recs, err := st.Read(ctx, "order-1", store.FromStart, 100)
package postgres
