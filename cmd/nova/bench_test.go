package main

import (
	"slices"
	"testing"
)

// The bus has a row for 1 and 4 partitions in both AtMostOnce and
// AtLeastOnce, each with its baseline. Nothing is run here: the lead
// measures on a quiet machine.
func TestBenchHasABusRowPerPartitionCountAndMode(t *testing.T) {
	rows := benchRows()
	for _, want := range []string{
		"Bus (AtMostOnce, 1 partition, until handled)",
		"Bus (AtLeastOnce, 1 partition, until handled)",
		"Bus (AtMostOnce, 4 partitions, until handled)",
		"Bus (AtLeastOnce, 4 partitions, until handled)",
	} {
		i := slices.IndexFunc(rows, func(r benchRow) bool { return r.name == want })
		if i < 0 {
			t.Errorf("no row %q", want)
			continue
		}
		if rows[i].fn == nil || rows[i].baseline == nil {
			t.Errorf("row %q lacks its benchmark or its baseline", want)
		}
	}
}
