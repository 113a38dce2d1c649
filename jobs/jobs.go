// Package jobs is the durable job queue of `pssr serve`: jobs and their
// state live in an embedded bbolt database, N workers run them in
// submission order, and after a crash or restart queued jobs stay queued and
// running jobs run again (their work function resumes them from their last
// checkpoint).
package jobs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// State is where a job stands.
type State string

// The job states.
const (
	Queued   State = "queued"
	Running  State = "running"
	Done     State = "done"
	Failed   State = "failed"
	Canceled State = "canceled"
)

// Terminal reports whether a job in state s will not change any more.
func (s State) Terminal() bool { return s == Done || s == Failed || s == Canceled }

// Job is one job as stored and as the API shows it.
type Job struct {
	// ID is 16 lower-case hex digits.
	ID string `json:"id"`
	// Seq orders the jobs by submission.
	Seq uint64 `json:"seq"`
	// State is queued, running, done, failed or canceled.
	State State `json:"state"`
	// Name is the uploaded file's name, for display only (never a path).
	Name string `json:"name"`
	// Params are the job's settings, as the work function reads them.
	Params json.RawMessage `json:"params,omitempty"`
	// FramesDone and FramesTotal count output frames.
	FramesDone  int `json:"frames_done"`
	FramesTotal int `json:"frames_total"`
	// FPS is the speed of the current run, ETA the seconds it still needs.
	FPS float64 `json:"fps"`
	ETA float64 `json:"eta_s"`
	// Error says why the job failed.
	Error string `json:"error"`
	// Runs counts how often the job was started (more than one after a
	// restart).
	Runs int `json:"runs"`
	// Created, Started and Finished are the times of submission, of the
	// last start and of the end.
	Created  time.Time  `json:"created"`
	Started  *time.Time `json:"started,omitempty"`
	Finished *time.Time `json:"finished,omitempty"`
}

// Progress reports a running job's frames done and total.
type Progress func(done, total int)

// WorkFunc runs job j until it is done or ctx is cancelled; report is called
// as frames finish. After a crash the same job is given to WorkFunc again
// and should resume its work.
type WorkFunc func(ctx context.Context, j Job, report Progress) error

// Errors of the manager.
var (
	// ErrNotFound means no job has the ID.
	ErrNotFound = errors.New("no such job")
	// ErrClosed means the manager is shutting down.
	ErrClosed = errors.New("the job manager is shut down")
	// errDeleted and errShutdown are the causes of a running job's
	// cancellation.
	errDeleted  = errors.New("job deleted")
	errShutdown = errors.New("server shutting down")
)

var idPattern = regexp.MustCompile(`^[0-9a-f]{16}$`)

// ValidID reports whether s has the form of a job ID.
func ValidID(s string) bool { return idPattern.MatchString(s) }

var bucket = []byte("jobs")

// Manager stores, schedules and runs jobs. Its methods are safe for
// concurrent use.
type Manager struct {
	db      *bolt.DB
	work    WorkFunc
	workers int
	log     *slog.Logger
	onGone  func(Job) // called after a job is deleted

	mu      sync.Mutex
	cond    *sync.Cond
	jobs    map[string]*Job
	live    map[string]*liveRun
	subs    map[string]map[chan struct{}]struct{}
	closed  bool
	wg      sync.WaitGroup
	baseCtx context.Context
	stop    context.CancelCauseFunc
}

// liveRun is a running job's cancel function and speed measurement.
type liveRun struct {
	cancel    context.CancelCauseFunc
	startAt   time.Time
	startDone int
	saved     time.Time
	done      chan struct{}
}

// Options configure Open.
type Options struct {
	// Workers is how many jobs run at once (at least 1).
	Workers int
	// Work runs a job.
	Work WorkFunc
	// OnDelete, when set, is called after a job was deleted (to remove its
	// files); it is not called with the manager's lock held.
	OnDelete func(Job)
	// Logger; nil means slog.Default().
	Logger *slog.Logger
}

// Open opens (creating it if needed) the database at path, puts jobs that
// were running back in the queue, and starts the workers.
func Open(path string, opt Options) (*Manager, error) {
	if opt.Workers < 1 {
		return nil, fmt.Errorf("jobs: %d workers, want at least 1", opt.Workers)
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("jobs: database %s is locked: is another pssr serve using this --data folder? (%w)", path, err)
	}
	if err != nil {
		return nil, fmt.Errorf("jobs: database %s: %w", path, err)
	}
	m := &Manager{db: db, work: opt.Work, workers: opt.Workers, log: opt.Logger, onGone: opt.OnDelete,
		jobs: map[string]*Job{}, live: map[string]*liveRun{}, subs: map[string]map[chan struct{}]struct{}{}}
	m.cond = sync.NewCond(&m.mu)
	m.baseCtx, m.stop = context.WithCancelCause(context.Background())
	requeued := 0
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucket)
		if err != nil {
			return err
		}
		return b.ForEach(func(k, v []byte) error {
			var j Job
			if err := json.Unmarshal(v, &j); err != nil {
				return fmt.Errorf("job %s: %w", k, err)
			}
			if j.State == Running {
				j.State, j.FPS, j.ETA = Queued, 0, 0
				requeued++
				data, err := json.Marshal(&j)
				if err != nil {
					return err
				}
				if err := b.Put(k, data); err != nil {
					return err
				}
			}
			m.jobs[j.ID] = &j
			return nil
		})
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("jobs: database %s: %w", path, err)
	}
	if requeued > 0 {
		m.log.Info("jobs: interrupted jobs are queued again and will resume", "jobs", requeued)
	}
	for range m.workers {
		m.wg.Add(1)
		go m.worker()
	}
	return m, nil
}

// newID returns a random job ID.
func newID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// put stores j; called with mu held.
func (m *Manager) put(j *Job) error {
	data, err := json.Marshal(j)
	if err != nil {
		return err
	}
	return m.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucket).Put([]byte(j.ID), data)
	})
}

// Submit queues a new job with the display name and returns it. prepare
// is called with the new job's ID before the job is stored (to move its
// input into place) and returns the job's parameters; an error from it
// cancels the submission.
func (m *Manager) Submit(name string, prepare func(id string) (json.RawMessage, error)) (Job, error) {
	id := newID()
	params, err := prepare(id)
	if err != nil {
		return Job{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return Job{}, ErrClosed
	}
	j := &Job{ID: id, State: Queued, Name: name, Params: params, Created: time.Now().UTC()}
	err = m.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucket)
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		j.Seq = seq
		data, err := json.Marshal(j)
		if err != nil {
			return err
		}
		return b.Put([]byte(j.ID), data)
	})
	if err != nil {
		return Job{}, fmt.Errorf("jobs: submit: %w", err)
	}
	m.jobs[id] = j
	m.cond.Broadcast()
	return *j, nil
}

// Get returns the job with id.
func (m *Manager) Get(id string) (Job, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	j, ok := m.jobs[id]
	if !ok {
		return Job{}, fmt.Errorf("job %q: %w", id, ErrNotFound)
	}
	return *j, nil
}

// List returns every job in submission order.
func (m *Manager) List() []Job {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Job, 0, len(m.jobs))
	for _, j := range m.jobs {
		out = append(out, *j)
	}
	slices.SortFunc(out, func(a, b Job) int { return int(a.Seq) - int(b.Seq) })
	return out
}

// Delete cancels job id if it is queued or running, waits for its work to
// stop, and deletes it. Subscribers see it canceled (unless it had ended)
// and then gone.
func (m *Manager) Delete(id string) (Job, error) {
	m.mu.Lock()
	j, ok := m.jobs[id]
	if !ok {
		m.mu.Unlock()
		return Job{}, fmt.Errorf("job %q: %w", id, ErrNotFound)
	}
	if !j.State.Terminal() {
		j.State = Canceled
		now := time.Now().UTC()
		j.Finished = &now
		j.FPS, j.ETA = 0, 0
	}
	run := m.live[id]
	if run != nil {
		run.cancel(errDeleted)
	}
	m.notifyLocked(id)
	m.mu.Unlock()
	if run != nil {
		<-run.done
	}
	m.mu.Lock()
	final := *j
	delete(m.jobs, id)
	err := m.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucket).Delete([]byte(id)) })
	m.notifyLocked(id)
	m.mu.Unlock()
	if err != nil {
		return final, fmt.Errorf("jobs: delete %s: %w", id, err)
	}
	if m.onGone != nil {
		m.onGone(final)
	}
	return final, nil
}

// Subscribe returns a channel that receives a value (coalesced) whenever job
// id changes, and a function to stop.
func (m *Manager) Subscribe(id string) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	m.mu.Lock()
	if m.subs[id] == nil {
		m.subs[id] = map[chan struct{}]struct{}{}
	}
	m.subs[id][ch] = struct{}{}
	m.mu.Unlock()
	return ch, func() {
		m.mu.Lock()
		delete(m.subs[id], ch)
		if len(m.subs[id]) == 0 {
			delete(m.subs, id)
		}
		m.mu.Unlock()
	}
}

// notifyLocked wakes the subscribers of id; called with mu held.
func (m *Manager) notifyLocked(id string) {
	for ch := range m.subs[id] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// next waits for the queued job with the lowest Seq and marks it running;
// it returns false once the manager is shut down.
func (m *Manager) next() (*Job, *liveRun, context.Context, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for {
		if m.closed {
			return nil, nil, nil, false
		}
		var best *Job
		for _, j := range m.jobs {
			if j.State == Queued && (best == nil || j.Seq < best.Seq) {
				best = j
			}
		}
		if best == nil {
			m.cond.Wait()
			continue
		}
		now := time.Now().UTC()
		best.State, best.Started, best.Finished, best.Error = Running, &now, nil, ""
		best.Runs++
		if err := m.put(best); err != nil {
			m.log.Error("jobs: cannot store a job's start", "job", best.ID, "err", err)
		}
		ctx, cancel := context.WithCancelCause(m.baseCtx)
		run := &liveRun{cancel: cancel, startAt: time.Now(), startDone: best.FramesDone, done: make(chan struct{})}
		m.live[best.ID] = run
		m.notifyLocked(best.ID)
		return best, run, ctx, true
	}
}

// worker runs jobs until shutdown.
func (m *Manager) worker() {
	defer m.wg.Done()
	for {
		j, run, ctx, ok := m.next()
		if !ok {
			return
		}
		m.mu.Lock()
		snapshot := *j
		m.mu.Unlock()
		m.log.Info("jobs: start", "job", j.ID, "name", j.Name, "run", snapshot.Runs)
		err := m.safeWork(ctx, snapshot, func(done, total int) { m.progress(j.ID, run, done, total) })
		cause := context.Cause(ctx)
		run.cancel(nil)
		m.mu.Lock()
		delete(m.live, j.ID)
		now := time.Now().UTC()
		switch {
		case errors.Is(cause, errDeleted):
			// Delete has set the state and removes the job.
		case errors.Is(cause, errShutdown):
			j.State, j.FPS, j.ETA = Queued, 0, 0
			m.log.Info("jobs: stopped for the shutdown; it resumes on the next start", "job", j.ID, "frames_done", j.FramesDone)
		case err != nil:
			j.State, j.Error, j.Finished, j.FPS, j.ETA = Failed, err.Error(), &now, 0, 0
			m.log.Warn("jobs: failed", "job", j.ID, "err", err)
		default:
			j.State, j.Finished, j.FPS, j.ETA = Done, &now, 0, 0
			if j.FramesTotal < j.FramesDone {
				j.FramesTotal = j.FramesDone
			}
			m.log.Info("jobs: done", "job", j.ID, "frames", j.FramesDone)
		}
		if _, still := m.jobs[j.ID]; still && !errors.Is(cause, errDeleted) {
			if err := m.put(j); err != nil {
				m.log.Error("jobs: cannot store a job's end", "job", j.ID, "err", err)
			}
		}
		m.notifyLocked(j.ID)
		close(run.done)
		m.mu.Unlock()
	}
}

// safeWork runs the work function, turning a panic into an error so that
// one bad job cannot take the server down.
func (m *Manager) safeWork(ctx context.Context, j Job, report Progress) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("internal error: %v", r)
		}
	}()
	return m.work(ctx, j, report)
}

// progress records a running job's progress, storing it at most once a
// second.
func (m *Manager) progress(id string, run *liveRun, done, total int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	j, ok := m.jobs[id]
	if !ok || j.State != Running {
		return
	}
	// A resumed job replays its checkpointed frames first: frames_done
	// never goes back.
	j.FramesDone = max(j.FramesDone, done)
	j.FramesTotal = max(total, j.FramesDone)
	done = j.FramesDone
	if el := time.Since(run.startAt).Seconds(); el > 0 && done > run.startDone {
		j.FPS = float64(done-run.startDone) / el
		j.ETA = float64(j.FramesTotal-done) / j.FPS
	}
	if time.Since(run.saved) >= time.Second {
		run.saved = time.Now()
		if err := m.put(j); err != nil {
			m.log.Warn("jobs: cannot store progress", "job", id, "err", err)
		}
	}
	m.notifyLocked(id)
}

// Shutdown stops the workers: running jobs are cancelled and put back in the
// queue (their checkpoints let them resume on the next Open), and the
// database is closed. It returns ctx's error if the workers do not stop in
// time.
func (m *Manager) Shutdown(ctx context.Context) error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	m.stop(errShutdown)
	m.cond.Broadcast()
	for id := range m.subs {
		m.notifyLocked(id)
	}
	m.mu.Unlock()
	stopped := make(chan struct{})
	go func() { m.wg.Wait(); close(stopped) }()
	select {
	case <-stopped:
	case <-ctx.Done():
		return fmt.Errorf("jobs: shutdown: %w", ctx.Err())
	}
	return m.db.Close()
}

// Closed reports whether Shutdown was called.
func (m *Manager) Closed() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.closed
}
