package emitter

import (
	"sync/atomic"

	"github.com/novaevents/nova/internal/ring"
	"github.com/novaevents/nova/shared"
	"github.com/novaevents/nova/workerpool"
)

// Lanes of the async buffer, most urgent first.
const (
	laneCritical = iota
	laneHigh
	laneNormal
	laneLow
	numLanes
)

// laneOrders is the order in which a drainer looks at the high, normal and
// low lanes, by tick modulo 13: 8 turns high first, 4 normal first, 1 low
// first. The critical lane always comes first. A full lane therefore gets at
// least its share (8:4:1) of the events drained, and an event at the head
// of the low lane waits at most 12 pops before it is taken.
var laneOrders = [13][3]int{}

func init() {
	for t := range laneOrders {
		switch {
		case t < 8:
			laneOrders[t] = [3]int{laneHigh, laneNormal, laneLow}
		case t < 12:
			laneOrders[t] = [3]int{laneNormal, laneHigh, laneLow}
		default:
			laneOrders[t] = [3]int{laneLow, laneHigh, laneNormal}
		}
	}
}

// buffer is the async buffer: one bounded ring, or, with a Priority
// function, one per priority lane so that urgent events overtake a backlog
// of unimportant ones.
type buffer struct {
	lanes [numLanes]*ring.Ring[item]
	prio  func(shared.Event) workerpool.Priority
	tick  atomic.Uint32
}

func newBuffer(size int, prio func(shared.Event) workerpool.Priority) *buffer {
	b := &buffer{prio: prio}
	if prio == nil {
		b.lanes[laneNormal] = ring.New[item](size)
		return b
	}
	for l := range b.lanes {
		b.lanes[l] = ring.New[item](size)
	}
	return b
}

// laneOf returns the lane of ev. A panic in the Priority function is
// recovered: laneOf then returns laneNormal and the panic as a
// *shared.PanicError.
func (b *buffer) laneOf(ev shared.Event) (int, error) {
	if b.prio == nil {
		return laneNormal, nil
	}
	return b.prioLane(ev)
}

func (b *buffer) prioLane(ev shared.Event) (lane int, err error) {
	defer func() {
		if r := recover(); r != nil {
			lane, err = laneNormal, shared.NewPanicError(r)
		}
	}()
	switch b.prio(ev) {
	case workerpool.PriorityCritical:
		return laneCritical, nil
	case workerpool.PriorityHigh:
		return laneHigh, nil
	case workerpool.PriorityLow:
		return laneLow, nil
	}
	return laneNormal, nil
}

// lanePriority is the pool lane for a drainer woken by an event of lane.
func lanePriority(lane int) workerpool.Priority {
	switch lane {
	case laneCritical:
		return workerpool.PriorityCritical
	case laneHigh:
		return workerpool.PriorityHigh
	case laneLow:
		return workerpool.PriorityLow
	}
	return workerpool.PriorityNormal
}

func (b *buffer) push(lane int, it item) bool { return b.lanes[lane].Push(it) }

func (b *buffer) pop() (item, bool) {
	if b.prio == nil {
		return b.lanes[laneNormal].Pop()
	}
	if it, ok := b.lanes[laneCritical].Pop(); ok {
		return it, true
	}
	for _, l := range laneOrders[b.tick.Add(1)%13] {
		if it, ok := b.lanes[l].Pop(); ok {
			return it, true
		}
	}
	return item{}, false
}

// len is the number of buffered events across lanes.
func (b *buffer) len() int {
	n := 0
	for _, r := range b.lanes {
		if r != nil {
			n += r.Len()
		}
	}
	return n
}

// full reports whether lane has no room.
func (b *buffer) full(lane int) bool { return b.lanes[lane].Len() >= b.lanes[lane].Cap() }
