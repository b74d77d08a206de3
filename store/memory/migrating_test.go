package memory_test

import (
	"context"
	"errors"
	"testing"

	"github.com/novaevents/nova/store"
	"github.com/novaevents/nova/store/memory"
)

func TestDefaultConfigAndMissingStreams(t *testing.T) {
	st := memory.New(memory.DefaultConfig())
	defer st.Close()
	if st.Config() != (memory.Config{}) {
		t.Errorf("DefaultConfig = %+v, want the zero Config", st.Config())
	}
	// Reading a stream that does not exist is no error in Nova (there is
	// nothing to read yet); asking for its info says it is missing.
	recs, err := st.Read(context.Background(), "missing", store.FromStart, 0)
	if err != nil || len(recs) != 0 {
		t.Errorf("Read(missing) = %v, %v; want nothing and no error", recs, err)
	}
	if _, err := st.GetStreamInfo(context.Background(), "missing"); !errors.Is(err, store.ErrStreamNotFound) {
		t.Errorf("GetStreamInfo(missing) = %v, want ErrStreamNotFound", err)
	}
}
