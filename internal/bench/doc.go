// Package bench holds Nova's end-to-end benchmark bodies, each next to the
// baseline it is judged against, so that `go test -bench` (through thin
// wrappers beside each package) and `nova bench` (through
// testing.Benchmark) measure exactly the same code.
package bench
