package workerpool

import "strconv"

// Priority selects the lane a task is queued in. The zero value is
// PriorityNormal, the lane Submit and TrySubmit use.
type Priority int

// The lanes, from least to most urgent.
const (
	// PriorityLow is for background work (log lines, activity pings). It
	// receives the smallest share of dequeues but is never starved.
	PriorityLow Priority = -1
	// PriorityNormal is the default lane.
	PriorityNormal Priority = 0
	// PriorityHigh is for work that should overtake normal traffic.
	PriorityHigh Priority = 1
	// PriorityCritical is a strict-priority lane: it is always served
	// before the others. Keep it for rare, urgent work; a flood of critical
	// tasks delays every other lane.
	PriorityCritical Priority = 2
)

// numLanes is the number of priority lanes.
const numLanes = 4

// String returns "low", "normal", "high" or "critical".
func (p Priority) String() string {
	switch p {
	case PriorityLow:
		return "low"
	case PriorityNormal:
		return "normal"
	case PriorityHigh:
		return "high"
	case PriorityCritical:
		return "critical"
	}
	return "Priority(" + strconv.Itoa(int(p)) + ")"
}

// Valid reports whether p names one of the lanes.
func (p Priority) Valid() bool { return p >= PriorityLow && p <= PriorityCritical }

// lane maps a priority to its lane index: 0 is critical, 3 is low.
func (p Priority) lane() int { return int(PriorityCritical - p) }

// laneNames are the lane labels reported to metrics, by lane index.
var laneNames = [numLanes]string{"critical", "high", "normal", "low"}

// lanePriority is the inverse of Priority.lane.
func lanePriority(lane int) Priority { return PriorityCritical - Priority(lane) }
