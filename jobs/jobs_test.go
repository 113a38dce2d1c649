package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

var quiet = slog.New(slog.DiscardHandler)

// waitState polls until job id is in state want.
func waitState(t *testing.T, m *Manager, id string, want State) Job {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		j, err := m.Get(id)
		if err == nil && j.State == want {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s is %s (%v), want %s", id, j.State, err, want)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func params(v string) func(string) (json.RawMessage, error) {
	return func(string) (json.RawMessage, error) { return json.RawMessage(`"` + v + `"`), nil }
}

// TestManagerOrderAndFailures runs jobs on one worker: they run in
// submission order, a failing and a panicking job fail with their message,
// and the manager keeps running jobs.
func TestManagerOrderAndFailures(t *testing.T) {
	var mu sync.Mutex
	var order []string
	work := func(ctx context.Context, j Job, report Progress) error {
		var p string
		json.Unmarshal(j.Params, &p)
		mu.Lock()
		order = append(order, p)
		mu.Unlock()
		switch p {
		case "fail":
			return errors.New("the input is broken")
		case "panic":
			panic("boom")
		}
		report(1, 2)
		report(2, 2)
		return nil
	}
	m, err := Open(filepath.Join(t.TempDir(), "db"), Options{Workers: 1, Work: work, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Shutdown(context.Background())
	names := []string{"a", "fail", "b", "panic", "c"}
	ids := map[string]string{}
	for _, n := range names {
		j, err := m.Submit(n+".mp4", params(n))
		if err != nil {
			t.Fatal(err)
		}
		ids[n] = j.ID
	}
	last := waitState(t, m, ids["c"], Done)
	if last.FramesDone != 2 || last.FramesTotal != 2 {
		t.Errorf("job c: %d/%d frames", last.FramesDone, last.FramesTotal)
	}
	if got := strings.Join(order, " "); got != "a fail b panic c" {
		t.Errorf("run order %q, want submission order", got)
	}
	if j, _ := m.Get(ids["fail"]); j.State != Failed || j.Error != "the input is broken" {
		t.Errorf("failing job: %s %q", j.State, j.Error)
	}
	if j, _ := m.Get(ids["panic"]); j.State != Failed || !strings.Contains(j.Error, "boom") {
		t.Errorf("panicking job: %s %q", j.State, j.Error)
	}
	if l := m.List(); len(l) != 5 || l[0].ID != ids["a"] || l[4].ID != ids["c"] {
		t.Errorf("List: %d jobs, not in submission order", len(l))
	}
}

// TestManagerRequeuesRunning opens a database left by a crash, with one job
// running and one queued: both run, the running one first, and it counts
// a second run.
func TestManagerRequeuesRunning(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	crashed := []Job{
		{ID: "00000000000000a1", Seq: 1, State: Running, Runs: 1, FramesDone: 3, Params: json.RawMessage(`"first"`), Started: &now},
		{ID: "00000000000000a2", Seq: 2, State: Queued, Params: json.RawMessage(`"second"`)},
	}
	db.Update(func(tx *bolt.Tx) error {
		b, _ := tx.CreateBucketIfNotExists(bucket)
		for _, j := range crashed {
			data, _ := json.Marshal(j)
			b.Put([]byte(j.ID), data)
		}
		return nil
	})
	db.Close()
	var mu sync.Mutex
	var order []string
	m, err := Open(path, Options{Workers: 1, Logger: quiet, Work: func(ctx context.Context, j Job, report Progress) error {
		mu.Lock()
		order = append(order, string(j.Params))
		mu.Unlock()
		report(1, 8) // a resumed job replays its first frames: frames_done stays at 3
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Shutdown(context.Background())
	first := waitState(t, m, "00000000000000a1", Done)
	waitState(t, m, "00000000000000a2", Done)
	if first.Runs != 2 || first.FramesDone != 3 {
		t.Errorf("resumed job: %d runs, %d frames done; want 2 and 3", first.Runs, first.FramesDone)
	}
	if strings.Join(order, " ") != `"first" "second"` {
		t.Errorf("order %v, want the interrupted job first", order)
	}
}

// TestManagerDeleteAndShutdown deletes a running job (its work is cancelled
// and it disappears) and shuts down with a job running: it is queued again.
func TestManagerDeleteAndShutdown(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	started := make(chan string, 4)
	var gone []string
	work := func(ctx context.Context, j Job, report Progress) error {
		started <- j.ID
		<-ctx.Done()
		return ctx.Err()
	}
	m, err := Open(path, Options{Workers: 1, Work: work, Logger: quiet, OnDelete: func(j Job) { gone = append(gone, j.ID) }})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := m.Submit("a", params("a"))
	b, _ := m.Submit("b", params("b"))
	if id := <-started; id != a.ID {
		t.Fatalf("started %s first, want %s", id, a.ID)
	}
	ch, stop := m.Subscribe(a.ID)
	defer stop()
	final, err := m.Delete(a.ID)
	if err != nil || final.State != Canceled {
		t.Fatalf("Delete: %v, state %s", err, final.State)
	}
	select {
	case <-ch:
	default:
		t.Error("subscribers were not told of the deletion")
	}
	if _, err := m.Get(a.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get after Delete: %v", err)
	}
	if len(gone) != 1 || gone[0] != a.ID {
		t.Errorf("OnDelete saw %v", gone)
	}
	if id := <-started; id != b.ID {
		t.Fatalf("started %s, want %s", id, b.ID)
	}
	if err := m.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	m, err = Open(path, Options{Workers: 1, Logger: quiet, Work: func(context.Context, Job, Progress) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Shutdown(context.Background())
	if j := waitState(t, m, b.ID, Done); j.Runs != 2 {
		t.Errorf("job b after the shutdown: %d runs, want 2", j.Runs)
	}
	if _, err := m.Get(a.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("the deleted job came back: %v", err)
	}
}
