package memory_test

// Each test here is one failure measured in kolosys/nova's memory store
// (DESIGN.md, "Known failures"), shown to be impossible in this one.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/novaevents/nova/shared"
	"github.com/novaevents/nova/store"
	"github.com/novaevents/nova/store/memory"
)

func event(id string) shared.Event { return shared.NewBaseEvent(id, "test.event", id) }

// kolosys/nova: subscriptions drop and duplicate events.
func TestSubscribersGetEveryEventExactlyOnceInOrder(t *testing.T) {
	const writers, each, total = 4, 250, 1000
	st := memory.New(memory.Config{})
	defer st.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	early, err := st.Subscribe(ctx, "orders", store.FromStart)
	if err != nil {
		t.Fatal(err)
	}
	slow, err := st.Subscribe(ctx, "orders", store.FromStart)
	if err != nil {
		t.Fatal(err)
	}
	var (
		appended   atomic.Int64
		halfway    = make(chan struct{})
		writersWG  sync.WaitGroup
		readersWG  sync.WaitGroup
		appendsEnd = make(chan struct{})
		results    = make(map[string][]store.Record)
		resultsMu  sync.Mutex
	)
	read := func(name string, sub store.Subscription, pause func(got int)) {
		defer readersWG.Done()
		defer sub.Close()
		var got []store.Record
		for len(got) < total {
			r, err := sub.Next(ctx)
			if err != nil {
				t.Errorf("%s subscriber after %d events: %v", name, len(got), err)
				break
			}
			got = append(got, r)
			if pause != nil {
				pause(len(got))
			}
		}
		resultsMu.Lock()
		results[name] = got
		resultsMu.Unlock()
	}
	readersWG.Add(2)
	go read("early", early, nil)
	// The slow subscriber takes one event and then stops reading until every
	// append has returned: appends must not wait for it.
	go read("slow", slow, func(got int) {
		if got == 1 {
			<-appendsEnd
		}
	})

	for w := range writers {
		writersWG.Go(func() {
			for i := range each {
				if err := st.Append(ctx, "orders", event(fmt.Sprintf("w%d-%d", w, i))); err != nil {
					t.Errorf("Append: %v", err)
					return
				}
				if appended.Add(1) == total/2 {
					close(halfway)
				}
			}
		})
	}
	<-halfway
	late, err := st.Subscribe(ctx, "orders", store.FromStart) // starts with half the events already stored
	if err != nil {
		t.Fatal(err)
	}
	lateAll, err := st.Subscribe(ctx, store.AllStreams, store.FromStart)
	if err != nil {
		t.Fatal(err)
	}
	readersWG.Add(2)
	go read("late", late, nil)
	go read("late all-streams", lateAll, nil)
	writersWG.Wait()
	close(appendsEnd)
	readersWG.Wait()

	stored, err := st.Read(ctx, "orders", store.FromStart, 0)
	if err != nil || len(stored) != total {
		t.Fatalf("Read = %d records, %v; want %d", len(stored), err, total)
	}
	for name, got := range results {
		if len(got) != total {
			t.Errorf("%s subscriber got %d events, want %d", name, len(got), total)
			continue
		}
		seen := make(map[string]bool, total)
		for i, r := range got {
			if r.ID() != stored[i].ID() || r.Version != int64(i+1) || r.Position != int64(i+1) {
				t.Errorf("%s subscriber: event %d is %s v%d p%d, want %s v%d p%d",
					name, i, r.ID(), r.Version, r.Position, stored[i].ID(), i+1, i+1)
				break
			}
			if seen[r.ID()] {
				t.Errorf("%s subscriber got %s twice", name, r.ID())
			}
			seen[r.ID()] = true
		}
	}
}

// kolosys/nova: when MaxStreams is reached, an append to a new stream is
// silently written into some other existing stream.
func TestMaxStreamsRefusesAndNeverWritesIntoAnotherStream(t *testing.T) {
	ctx := context.Background()
	st := memory.New(memory.Config{MaxStreams: 3})
	defer st.Close()
	for _, id := range []string{"a", "b", "c"} {
		if err := st.Append(ctx, id, event(id+"-1"), event(id+"-2")); err != nil {
			t.Fatal(err)
		}
	}
	before, _ := st.ReadAll(ctx, store.FromStart, 0)
	for i := range 100 {
		err := st.Append(ctx, fmt.Sprintf("new-%d", i), event(fmt.Sprintf("n-%d", i)))
		var le *store.LimitError
		if !errors.As(err, &le) || !errors.Is(err, memory.ErrTooManyStreams) || le.Limit != "MaxStreams" || le.Max != 3 {
			t.Fatalf("append %d to a fourth stream = %v, want a *store.LimitError for MaxStreams", i, err)
		}
	}
	after, _ := st.ReadAll(ctx, store.FromStart, 0)
	if len(after) != len(before) {
		t.Fatalf("the refused appends changed the store from %d to %d events", len(before), len(after))
	}
	for i := range after {
		if after[i].ID() != before[i].ID() || after[i].StreamID != before[i].StreamID || after[i].Version != before[i].Version {
			t.Errorf("record %d changed", i)
		}
	}
	stats := st.Stats()
	if stats.TotalStreams != 3 || stats.TotalEvents != 6 || stats.AppendsRejected != 100 {
		t.Errorf("Stats = %+v; want 3 streams, 6 events, 100 rejected appends", stats)
	}
	if _, err := st.GetStreamInfo(ctx, "new-0"); !errors.Is(err, store.ErrStreamNotFound) {
		t.Errorf("GetStreamInfo(new-0) = %v, want ErrStreamNotFound", err)
	}
}

// A per-stream limit is enforced the same way: the batch is refused whole.
func TestMaxEventsPerStreamRefusesTheWholeBatch(t *testing.T) {
	ctx := context.Background()
	st := memory.New(memory.Config{MaxEventsPerStream: 3})
	defer st.Close()
	if err := st.Append(ctx, "s", event("1"), event("2")); err != nil {
		t.Fatal(err)
	}
	err := st.Append(ctx, "s", event("3"), event("4"))
	if !errors.Is(err, memory.ErrStreamFull) {
		t.Fatalf("Append past the limit = %v, want ErrStreamFull", err)
	}
	if recs, _ := st.Read(ctx, "s", store.FromStart, 0); len(recs) != 2 {
		t.Errorf("stream holds %d events, want 2", len(recs))
	}
}

// kolosys/nova: retention resets stream positions. Here trimming by count
// keeps every version and position, and the numbering goes on.
func TestCountRetentionKeepsPositions(t *testing.T) {
	ctx := context.Background()
	st := memory.New(memory.Config{RetentionCount: 3})
	defer st.Close()
	for i := 1; i <= 10; i++ {
		if err := st.Append(ctx, "s", event(fmt.Sprintf("s-%d", i))); err != nil {
			t.Fatal(err)
		}
		if err := st.Append(ctx, "t", event(fmt.Sprintf("t-%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	recs, err := st.Read(ctx, "s", store.FromStart, 0)
	if err != nil {
		t.Fatal(err)
	}
	// s-i was appended at position 2i-1.
	var got []string
	for _, r := range recs {
		got = append(got, fmt.Sprintf("%s v%d p%d", r.ID(), r.Version, r.Position))
	}
	if want := []string{"s-8 v8 p15", "s-9 v9 p17", "s-10 v10 p19"}; !slices.Equal(got, want) {
		t.Errorf("kept %v, want %v", got, want)
	}
	if _, err := st.Read(ctx, "s", 1, 0); !errors.Is(err, store.ErrTrimmed) {
		t.Errorf("Read(s, 1) = %v, want ErrTrimmed", err)
	}
	if err := st.AppendExpected(ctx, "s", 10, event("s-11")); err != nil {
		t.Fatalf("AppendExpected(10): %v", err)
	}
	if recs, _ := st.Read(ctx, "s", 11, 0); len(recs) != 1 || recs[0].Position != 21 {
		t.Errorf("the next event is %v, want version 11 at position 21", recs)
	}
	if stats := st.Stats(); stats.TotalEvents != 6 || stats.EventsTrimmed != 15 {
		t.Errorf("Stats = %+v; want 6 events kept, 15 trimmed", stats)
	}
}

// The same for retention by age, with the store's own sweeper on a fake
// clock.
func TestDurationRetentionKeepsPositions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		st := memory.New(memory.Config{RetentionDuration: time.Minute})
		defer st.Close()
		appendN := func(from, to int) {
			for i := from; i <= to; i++ {
				if err := st.Append(ctx, "s", event(fmt.Sprintf("s-%d", i))); err != nil {
					t.Fatal(err)
				}
			}
		}
		lagging, err := st.Subscribe(ctx, "s", store.FromStart)
		if err != nil {
			t.Fatal(err)
		}
		defer lagging.Close()

		appendN(1, 5) // at 0s
		time.Sleep(30 * time.Second)
		appendN(6, 10) // at 30s
		time.Sleep(32 * time.Second)
		synctest.Wait() // the sweeper has run: events 1-5 expired at 60s

		recs, err := st.Read(ctx, "s", store.FromStart, 0)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range recs {
			if r.Version != int64(6+i) || r.Position != int64(6+i) {
				t.Errorf("record %d is version %d at position %d, want %d at %d", i, r.Version, r.Position, 6+i, 6+i)
			}
		}
		if len(recs) != 5 {
			t.Fatalf("kept %d events after 62s, want 5", len(recs))
		}
		if _, err := lagging.Next(ctx); !errors.Is(err, store.ErrTrimmed) {
			t.Errorf("a subscriber that never read = %v, want ErrTrimmed rather than a silent gap", err)
		}

		time.Sleep(time.Minute)
		synctest.Wait()
		info, err := st.GetStreamInfo(ctx, "s")
		if err != nil || info.EventCount != 0 || info.LastVersion != 10 || info.FirstVersion != 11 {
			t.Errorf("after everything expired: %+v, %v; want no events, last version 10", info, err)
		}
		appendN(11, 11)
		if recs, _ := st.Read(ctx, "s", store.FromStart, 0); len(recs) != 1 || recs[0].Version != 11 || recs[0].Position != 11 {
			t.Errorf("the next event after full expiry is %v, want version 11 at position 11", recs)
		}
		if stats := st.Stats(); stats.EventsTrimmed != 10 || stats.LastPosition != 11 {
			t.Errorf("Stats = %+v; want 10 trimmed, last position 11", stats)
		}
	})
}

// Nothing is trimmed before it is due.
func TestDurationRetentionKeepsEventsUntilTheyExpire(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		st := memory.New(memory.Config{RetentionDuration: time.Hour})
		defer st.Close()
		for i := range 10 {
			if err := st.Append(ctx, "s", event(fmt.Sprintf("e-%d", i))); err != nil {
				t.Fatal(err)
			}
			time.Sleep(5 * time.Minute) // the last one is appended at 45min
		}
		time.Sleep(10*time.Minute - time.Second) // 59:59 after the first
		synctest.Wait()
		if n := st.Stats().TotalEvents; n != 10 {
			t.Errorf("%d events kept just before the first expires, want 10", n)
		}
		time.Sleep(2 * time.Minute) // 61:59: the first expired (at most 1/64 h late)
		synctest.Wait()
		if n := st.Stats().TotalEvents; n != 9 {
			t.Errorf("%d events kept after the first expired, want 9", n)
		}
	})
}
