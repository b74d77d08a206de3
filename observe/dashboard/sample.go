package dashboard

import (
	"sort"
	"time"

	"github.com/novaevents/nova/workerpool"
)

// Sample is what the stream sends once per interval. Rates are per second
// over the last interval; totals are the sources' counters.
type Sample struct {
	Time int64 `json:"t"` // Unix milliseconds

	Rates  Counts `json:"rates"`
	Totals Counts `json:"totals"`

	// AvgProcessingMS is the mean time a worker-pool task ran during the
	// last interval (0 without a pool with timing, or without tasks).
	AvgProcessingMS float64 `json:"avg_processing_ms"`
	// Depth is the number of events waiting: the emitter's queue, the
	// bus's partitions and the pool's lanes.
	Depth Depth `json:"depth"`

	Topics    []TopicSample    `json:"topics,omitempty"`
	Listeners []ListenerSample `json:"listeners,omitempty"`
	// CircuitChanges are the most recent breaker state changes seen by the
	// sampler, newest last.
	CircuitChanges []CircuitChange `json:"circuit_changes,omitempty"`
	Pool           *PoolSample     `json:"pool,omitempty"`
	AMQP           *AMQPSample     `json:"amqp,omitempty"`
	Store          *StoreSample    `json:"store,omitempty"`
	// DeadLetters is the number of dead letters in the listener manager's
	// store (-1 when it cannot say).
	DeadLetters int    `json:"dead_letters"`
	Health      string `json:"health,omitempty"`

	Viewers        int    `json:"viewers"`
	SamplesDropped uint64 `json:"samples_dropped"`
}

// Counts are the event flow figures, as totals or per-second rates.
type Counts struct {
	Emitted      float64 `json:"emitted"`
	Published    float64 `json:"published"`
	Processed    float64 `json:"processed"`
	Failed       float64 `json:"failed"`
	Retried      float64 `json:"retried"`
	DeadLettered float64 `json:"dead_lettered"`
	Dropped      float64 `json:"dropped"`
}

func (c Counts) rate(prev Counts, secs float64) Counts {
	d := func(a, b float64) float64 {
		if a < b || secs <= 0 {
			return 0
		}
		return (a - b) / secs
	}
	return Counts{
		Emitted:      d(c.Emitted, prev.Emitted),
		Published:    d(c.Published, prev.Published),
		Processed:    d(c.Processed, prev.Processed),
		Failed:       d(c.Failed, prev.Failed),
		Retried:      d(c.Retried, prev.Retried),
		DeadLettered: d(c.DeadLettered, prev.DeadLettered),
		Dropped:      d(c.Dropped, prev.Dropped),
	}
}

// Depth is where events wait.
type Depth struct {
	Emitter int64 `json:"emitter"`
	Bus     int64 `json:"bus"`
	Pool    int64 `json:"pool"`
}

// TopicSample is one bus topic.
type TopicSample struct {
	Name       string `json:"name"`
	Mode       string `json:"mode"`
	Partitions []int  `json:"partitions"`
	// Lag is the deepest partition: the backlog of the slowest subscriber
	// there (the bus keeps an event until every subscriber settled it).
	Lag       int    `json:"lag"`
	Consumers int    `json:"consumers"`
	Published uint64 `json:"published"`
	Processed uint64 `json:"processed"`
	Failed    uint64 `json:"failed"`
	DeadLet   uint64 `json:"dead_lettered"`
}

// ListenerSample is one registered listener.
type ListenerSample struct {
	ID           string `json:"id"`
	Status       string `json:"status"`
	Circuit      string `json:"circuit"`
	Attempts     uint64 `json:"attempts"`
	Successes    uint64 `json:"successes"`
	Failures     uint64 `json:"failures"`
	Retries      uint64 `json:"retries"`
	DeadLettered uint64 `json:"dead_lettered"`
	InFlight     int64  `json:"in_flight"`
	CircuitOpens uint64 `json:"circuit_opens"`
	LastError    string `json:"last_error,omitempty"`
	// Attempts per second over the last interval.
	Rate float64 `json:"rate"`
	// FailureRatio is failures / attempts over the last interval.
	FailureRatio float64 `json:"failure_ratio"`
	// Latency percentiles of the attempts in the last interval, in
	// milliseconds (bucket upper bounds, powers of two of a microsecond);
	// 0 when unknown: set only when the manager reports to
	// Handler.Metrics and there were attempts.
	P50MS float64 `json:"p50_ms,omitempty"`
	P95MS float64 `json:"p95_ms,omitempty"`
	P99MS float64 `json:"p99_ms,omitempty"`
}

// CircuitChange is a breaker state change the sampler saw.
type CircuitChange struct {
	Time     int64  `json:"t"`
	Listener string `json:"listener"`
	From     string `json:"from"`
	To       string `json:"to"`
}

// PoolSample is the worker pool.
type PoolSample struct {
	Workers     int     `json:"workers"`
	Idle        int     `json:"idle"`
	Max         int     `json:"max"`
	Running     int     `json:"running"`
	Queued      int     `json:"queued"`
	QueueSize   int     `json:"queue_size"`
	Utilization float64 `json:"utilization"`
	// WorkerBusy is the share of the last interval the workers spent
	// running tasks, averaged over the pool's MaxWorkers (needs timing).
	WorkerBusy float64    `json:"worker_busy"`
	Lanes      []LaneInfo `json:"lanes"`
	Completed  uint64     `json:"completed"`
	Rejected   uint64     `json:"rejected"`
	Evicted    uint64     `json:"evicted"`
	Panicked   uint64     `json:"panicked"`
}

// LaneInfo is one priority lane of the pool.
type LaneInfo struct {
	Name     string `json:"name"`
	Queued   int    `json:"queued"`
	Rejected uint64 `json:"rejected"`
	Evicted  uint64 `json:"evicted"`
}

// AMQPSample is the RabbitMQ client and publisher.
type AMQPSample struct {
	State          string  `json:"state"`
	Connections    int     `json:"connections"`
	MaxConnections int     `json:"max_connections"`
	Reconnects     uint64  `json:"reconnects"`
	InFlight       int     `json:"in_flight"`
	Confirmed      uint64  `json:"confirmed"`
	ConfirmP50MS   float64 `json:"confirm_p50_ms"`
	ConfirmP99MS   float64 `json:"confirm_p99_ms"`
	HasPublisher   bool    `json:"has_publisher"`
}

// StoreSample is the event store.
type StoreSample struct {
	Streams  int64 `json:"streams"`
	Events   int64 `json:"events"`
	Appended int64 `json:"appended"`
	Trimmed  int64 `json:"trimmed"`
}

// sampler reads the sources. It is used by the hub's goroutine only.
type sampler struct {
	o       *Options
	rec     *Latency
	latPrev map[string]*[latencyBuckets]uint64

	prevAt     time.Time
	prevTotals Counts
	prevBusy   time.Duration
	prevDone   uint64
	prevLis    map[string]ListenerSample
	changes    []CircuitChange
}

const maxCircuitChanges = 20

func newSampler(o *Options, rec *Latency) *sampler {
	return &sampler{o: o, rec: rec, prevLis: map[string]ListenerSample{}, latPrev: map[string]*[latencyBuckets]uint64{}}
}

// reset forgets the previous sample, so that the first sample after a
// pause has no rates rather than the average over the pause.
func (s *sampler) reset() { s.prevAt = time.Time{} }

func (s *sampler) sample(now time.Time) Sample {
	o := s.o
	out := Sample{Time: now.UnixMilli(), DeadLetters: -1}
	var t Counts
	secs := 0.0
	if !s.prevAt.IsZero() {
		secs = now.Sub(s.prevAt).Seconds()
	}

	if em := o.Emitter; em != nil {
		st := em.Stats()
		t.Emitted += float64(st.EventsEmitted)
		t.Processed += float64(st.EventsProcessed - min(st.EventsProcessed, st.FailedEvents))
		t.Failed += float64(st.ListenerErrors)
		t.Dropped += float64(st.DroppedEvents)
		out.Depth.Emitter = st.QueuedEvents
	}
	var busRetried, busDead float64
	if b := o.Bus; b != nil {
		st := b.Stats()
		t.Published += float64(st.Published)
		t.Processed += float64(st.Processed)
		t.Failed += float64(st.Failed)
		t.Dropped += float64(st.TotalDropped())
		busRetried, busDead = float64(st.Retried), float64(st.DeadLettered)
		names := make([]string, 0, len(st.TopicStats))
		for n := range st.TopicStats {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			ts := st.TopicStats[n]
			lag := 0
			for _, d := range ts.QueueDepth {
				out.Depth.Bus += int64(d)
				lag = max(lag, d)
			}
			out.Topics = append(out.Topics, TopicSample{
				Name: n, Mode: ts.DeliveryMode.String(), Partitions: append([]int(nil), ts.QueueDepth...),
				Lag: lag, Consumers: ts.Consumers, Published: ts.Published, Processed: ts.Processed,
				Failed: ts.Failed, DeadLet: ts.DeadLettered,
			})
		}
	}
	if m := o.Listeners; m != nil {
		st := m.Stats()
		health := m.Health()
		out.Health = health.Status.String()
		byID := make(map[string]int, len(health.Listeners))
		for i, lh := range health.Listeners {
			byID[lh.ID] = i
		}
		retried := float64(st.Unregistered.Retries)
		dead := float64(st.Unregistered.DeadLettered)
		seen := make(map[string]ListenerSample, len(st.Listeners))
		for _, ls := range st.Listeners {
			retried += float64(ls.Retries)
			dead += float64(ls.DeadLettered)
			cur := ListenerSample{
				ID: ls.ID, Circuit: ls.Circuit.String(), Attempts: ls.Attempts, Successes: ls.Successes,
				Failures: ls.Failures, Retries: ls.Retries, DeadLettered: ls.DeadLettered,
				InFlight: ls.InFlight, CircuitOpens: ls.CircuitOpens, Status: "healthy",
			}
			if i, ok := byID[ls.ID]; ok {
				lh := health.Listeners[i]
				cur.Status = lh.Status.String()
				cur.LastError = lh.LastError
			}
			if prev, ok := s.prevLis[ls.ID]; ok {
				if secs > 0 && cur.Attempts >= prev.Attempts {
					da := cur.Attempts - prev.Attempts
					cur.Rate = float64(da) / secs
					if da > 0 && cur.Failures >= prev.Failures {
						cur.FailureRatio = float64(cur.Failures-prev.Failures) / float64(da)
					}
				}
				if prev.Circuit != cur.Circuit {
					s.changes = append(s.changes, CircuitChange{Time: out.Time, Listener: ls.ID, From: prev.Circuit, To: cur.Circuit})
					if len(s.changes) > maxCircuitChanges {
						s.changes = append(s.changes[:0], s.changes[len(s.changes)-maxCircuitChanges:]...)
					}
				}
			}
			prev := s.latPrev[ls.ID]
			if prev == nil && len(s.latPrev) < maxLatencyListeners {
				prev = new([latencyBuckets]uint64)
				s.latPrev[ls.ID] = prev
			}
			if prev != nil {
				cur.P50MS, cur.P95MS, cur.P99MS, _ = s.rec.window(ls.ID, prev)
			}
			seen[ls.ID] = cur
			out.Listeners = append(out.Listeners, cur)
		}
		s.prevLis = seen
		t.Retried, t.DeadLettered = retried, dead
		out.DeadLetters = st.DeadLettersInStore
	} else {
		t.Retried, t.DeadLettered = busRetried, busDead
	}
	out.CircuitChanges = append([]CircuitChange(nil), s.changes...)

	if p := o.Pool; p != nil {
		st := p.Stats()
		ps := &PoolSample{
			Workers: st.Workers, Idle: st.IdleWorkers, Max: st.MaxWorkers, Running: st.Running,
			Queued: st.Queued, QueueSize: st.QueueSize, Utilization: st.Utilization,
			Completed: st.Completed, Rejected: st.Rejected, Evicted: st.Evicted, Panicked: st.Panicked,
		}
		for _, pr := range []workerpool.Priority{workerpool.PriorityCritical, workerpool.PriorityHigh, workerpool.PriorityNormal, workerpool.PriorityLow} {
			l := st.Lane(pr)
			ps.Lanes = append(ps.Lanes, LaneInfo{Name: pr.String(), Queued: l.Queued, Rejected: l.Rejected, Evicted: l.Evicted})
		}
		if secs > 0 && st.BusyTime >= s.prevBusy && st.Completed >= s.prevDone {
			busy := st.BusyTime - s.prevBusy
			if n := st.Completed - s.prevDone; n > 0 {
				out.AvgProcessingMS = float64(busy) / float64(n) / 1e6
			}
			if st.MaxWorkers > 0 {
				ps.WorkerBusy = min(1, busy.Seconds()/secs/float64(st.MaxWorkers))
			}
		}
		s.prevBusy, s.prevDone = st.BusyTime, st.Completed
		out.Depth.Pool = int64(st.Queued)
		out.Pool = ps
	}
	if c := o.AMQP; c != nil || o.Publisher != nil {
		as := &AMQPSample{State: "none"}
		if c != nil {
			st := c.Stats()
			as.State = st.State.String()
			as.Connections, as.MaxConnections, as.Reconnects = st.Connections, st.MaxConnections, st.Reconnects
		}
		if p := o.Publisher; p != nil {
			st := p.Stats()
			as.HasPublisher = true
			as.InFlight, as.Confirmed = st.InFlight, st.Confirmed
			if st.ConfirmLatency.Count > 0 {
				as.ConfirmP50MS = float64(st.ConfirmLatency.Quantile(0.5)) / 1e6
				as.ConfirmP99MS = float64(st.ConfirmLatency.Quantile(0.99)) / 1e6
			}
		}
		out.AMQP = as
	}
	if st := o.Store; st != nil {
		ss := st.Stats()
		out.Store = &StoreSample{Streams: ss.TotalStreams, Events: ss.TotalEvents, Appended: ss.EventsAppended, Trimmed: ss.EventsTrimmed}
	}

	out.Totals = t
	if secs > 0 {
		out.Rates = t.rate(s.prevTotals, secs)
	}
	s.prevAt, s.prevTotals = now, t
	return out
}
