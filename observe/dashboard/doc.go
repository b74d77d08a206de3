// Package dashboard is Nova's live web page: an http.Handler that shows
// what the emitter, the bus, the listener manager, the worker pool, an
// event store and the RabbitMQ client report, as it happens.
//
//	mux.Handle("/nova/", dashboard.New(dashboard.Options{
//		Emitter: em, Bus: b, Listeners: lm, Pool: pool, Store: st,
//	}))
//
// Every source is optional. The page shows events per second (emitted,
// published, processed, failed, retried, dead-lettered) and queue depths
// over the last minutes as charts; per topic and partition the depth and
// the slowest subscriber's lag; per listener its health, breaker state
// (with the recent changes), attempts and failures; the pool's
// utilisation, busy share and lanes; the RabbitMQ connection state,
// confirms in flight and confirm latency; and the dead letters, searchable.
//
// # Cost
//
// The handler samples its sources' Stats on one goroutine at a fixed
// Interval (1s by default), encodes each sample once and sends the same
// bytes to every viewer over server-sent events, so the cost does not grow
// with the number of viewers beyond writing to their sockets. The sampler
// starts when the first viewer opens the stream and stops when the last one
// leaves: while nobody watches, nothing runs and the event path pays
// nothing (the dashboard only reads counters the components keep anyway).
// A viewer that falls more than DefaultViewerBuffer samples behind misses
// samples; they are counted and shown. Breaker changes are seen by
// sampling, so a breaker that opens and closes within one interval is not
// listed.
//
// # Actions
//
// The page is read-only unless Options.AllowActions is set. Then it offers
// buttons to redrive or discard one dead letter, or all that match a
// search. Each action is a POST with a JSON body and the page's token in
// the X-Nova-Token header: another site's page can neither read the token
// nor send that request without a CORS preflight, which the handler never
// grants, and requests whose Origin or Sec-Fetch-Site name another site are
// refused. Actions are idempotent (a dead letter already redriven or
// discarded is reported as skipped) and each is logged to Options.Logger.
// Redriving publishes with Options.Republish (by default the Emitter's
// Emit).
//
// # Assets
//
// The page, its script and the uPlot chart library are embedded: the page
// needs no network. The chart library comes from npm; web/build.sh rebuilds
// the embedded copy from web/package-lock.json, and the built files are
// committed so that building Nova needs no Node.
package dashboard
