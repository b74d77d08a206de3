package delay

import (
	"sync"
	"time"
)

// Queue runs functions after a delay on ONE owned goroutine (a min-heap and
// one timer). It is safe for concurrent use. Functions due at the same time
// run in the order they were scheduled.
type Queue struct {
	mu     sync.Mutex
	items  items
	seq    uint64
	closed bool

	wake chan struct{} // cap 1: the head changed or Close was called
	done chan struct{} // closed when the goroutine has returned
}

type item struct {
	due time.Time
	seq uint64
	fn  func()
}

// New returns a Queue whose goroutine is running. Close stops it.
func New() *Queue {
	q := &Queue{
		wake: make(chan struct{}, 1),
		done: make(chan struct{}),
	}
	go q.run()
	return q
}

// Schedule arranges for fn to run on the queue's goroutine once d has
// passed (at once if d <= 0). It returns false, without keeping fn, if the
// queue is closed or fn is nil.
func (q *Queue) Schedule(d time.Duration, fn func()) bool {
	if fn == nil {
		return false
	}
	due := time.Now().Add(d)
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return false
	}
	q.seq++
	q.items.push(item{due: due, seq: q.seq, fn: fn})
	head := q.items[0].seq == q.seq
	q.mu.Unlock()
	if head {
		q.signal()
	}
	return true
}

// Len returns the number of functions scheduled and not yet started.
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items)
}

// Close stops the goroutine, after the function it may be running returns.
// The functions not yet run are returned in due order, so the owner can run
// them now or count them; later calls return nil.
func (q *Queue) Close() []func() {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		<-q.done
		return nil
	}
	q.closed = true
	q.mu.Unlock()
	q.signal()
	<-q.done

	q.mu.Lock()
	defer q.mu.Unlock()
	fns := make([]func(), 0, len(q.items))
	for len(q.items) > 0 {
		fns = append(fns, q.items.pop().fn)
	}
	return fns
}

func (q *Queue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *Queue) run() {
	defer close(q.done)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		q.mu.Lock()
		if q.closed {
			q.mu.Unlock()
			return
		}
		var fn func()
		var wait time.Duration
		armed := false
		if len(q.items) > 0 {
			wait = time.Until(q.items[0].due)
			if wait <= 0 {
				fn = q.items.pop().fn
			} else {
				armed = true
			}
		}
		q.mu.Unlock()

		if fn != nil {
			fn()
			continue
		}
		if armed {
			timer.Reset(wait)
		}
		select {
		case <-q.wake:
		case <-timer.C:
		}
		timer.Stop()
	}
}

// items is a binary min-heap on (due, seq), typed so that pushing and
// popping do not box items in interfaces.
type items []item

func (h items) less(i, j int) bool {
	if h[i].due.Equal(h[j].due) {
		return h[i].seq < h[j].seq
	}
	return h[i].due.Before(h[j].due)
}

func (h *items) push(it item) {
	*h = append(*h, it)
	s := *h
	for i := len(s) - 1; i > 0; {
		parent := (i - 1) / 2
		if !s.less(i, parent) {
			break
		}
		s[i], s[parent] = s[parent], s[i]
		i = parent
	}
}

func (h *items) pop() item {
	s := *h
	top := s[0]
	last := len(s) - 1
	s[0] = s[last]
	s[last] = item{}
	s = s[:last]
	for i := 0; ; {
		smallest, l, r := i, 2*i+1, 2*i+2
		if l < len(s) && s.less(l, smallest) {
			smallest = l
		}
		if r < len(s) && s.less(r, smallest) {
			smallest = r
		}
		if smallest == i {
			break
		}
		s[i], s[smallest] = s[smallest], s[i]
		i = smallest
	}
	*h = s
	return top
}
