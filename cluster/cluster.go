// Package cluster splits upscales across machines over NATS JetStream: a
// coordinator (inside `pssr serve --nats`) cuts each job into chunks of
// whole temporal windows and publishes one message per chunk on a
// work-queue stream; workers (`pssr worker`) pull the chunks, run them with
// the pipeline's own code and upload their frames losslessly to a
// JetStream object store; the coordinator cross-fades the frames that
// neighbouring chunks share (tiling.Blend) and writes the output with the
// input's audio and subtitles, atomically.
//
// The output is bit-identical to a single-machine `pssr upscale` with the
// same model, options and backend, whatever the number of workers and the
// order in which chunks finish: a worker cross-fades the frames only its
// chunk's windows cover with tiling's code, and hands back the unweighted
// float32 outputs of the frames it shares with its neighbours, which the
// coordinator folds in window order exactly as tiling.ProcessStream does.
//
// State lives in JetStream, so any process may die: a chunk is acked only
// after its frames are uploaded and its state is "done", so a killed
// worker's chunk is redelivered to another after the consumer's ack wait;
// chunk messages carry a message ID (Nats-Msg-Id) and a job's ID is a hash
// of its input, model and options, so publishing again (a restarted
// coordinator, or the same job submitted twice) adds no work; a restarted
// coordinator finds its job's input, chunk states and results in the
// buckets and publishes only the chunks that are neither done nor queued.
//
// JetStream objects: the stream PSSR_CHUNKS (subjects pssr.chunk.JOB.N,
// work-queue retention) with the durable pull consumer pssr-workers; the
// key-value buckets pssr-jobs (a job's Spec) and pssr-chunks (a chunk's
// ChunkStatus, keyed JOB.N); the object store pssr-files (model/HASH,
// in/JOB/T for input frame T, out/JOB/N for chunk N's frames).
package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Names of the JetStream objects of a pssr cluster.
const (
	// StreamName is the work-queue stream of chunk messages.
	StreamName = "PSSR_CHUNKS"
	// ConsumerName is the durable pull consumer the workers share.
	ConsumerName = "pssr-workers"
	// JobsBucket is the key-value bucket of job specs.
	JobsBucket = "pssr-jobs"
	// ChunksBucket is the key-value bucket of chunk states.
	ChunksBucket = "pssr-chunks"
	// FilesBucket is the object store of models, input frames and results.
	FilesBucket = "pssr-files"

	subjectPrefix = "pssr.chunk."
)

// Runtimes a job's networks run on (Spec.Runtime).
const (
	// RuntimeGo runs the networks through GoMLX on the job's backend.
	RuntimeGo = "go"
	// RuntimeORT runs them on ONNX Runtime (package ort).
	RuntimeORT = "ort"
	// RuntimeORTInt8 runs them on ONNX Runtime with int8 dense products.
	RuntimeORTInt8 = "ort-int8"
)

// Config sets up the JetStream objects (Setup).
type Config struct {
	// AckWait is how long a chunk may go without an ack or an in-progress
	// signal before it is delivered to another worker (default 30 s).
	AckWait time.Duration
	// MaxDeliver bounds the deliveries of one chunk (default 20).
	MaxDeliver int
	// Replicas is the replication of the stream and buckets (default 1;
	// 3 on a nats-server cluster).
	Replicas int
}

// Conn is a connection to the JetStream objects of a pssr cluster.
type Conn struct {
	// NC is the NATS connection.
	NC *nats.Conn
	// JS is its JetStream context.
	JS       jetstream.JetStream
	stream   jetstream.Stream
	consumer jetstream.Consumer
	jobs     jetstream.KeyValue
	chunks   jetstream.KeyValue
	files    jetstream.ObjectStore
	ackWait  time.Duration
}

// Dial connects to the NATS server at url, reconnecting forever, with name
// as the client name.
func Dial(url, name string, log *slog.Logger) (*nats.Conn, error) {
	if log == nil {
		log = slog.Default()
	}
	nc, err := nats.Connect(url, nats.Name(name), nats.MaxReconnects(-1), nats.ReconnectWait(250*time.Millisecond),
		nats.RetryOnFailedConnect(true),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("cluster: disconnected from NATS", "err", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { log.Info("cluster: reconnected to NATS", "url", c.ConnectedUrl()) }))
	if err != nil {
		return nil, fmt.Errorf("cluster: connecting to %s: %w", url, err)
	}
	return nc, nil
}

// Setup creates (or updates) the stream, consumer and buckets on nc and
// returns the connection to them: the coordinator's start.
func Setup(ctx context.Context, nc *nats.Conn, cfg Config) (*Conn, error) {
	if cfg.AckWait <= 0 {
		cfg.AckWait = 30 * time.Second
	}
	if cfg.MaxDeliver == 0 {
		cfg.MaxDeliver = 20
	}
	if cfg.Replicas < 1 {
		cfg.Replicas = 1
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	c := &Conn{NC: nc, JS: js}
	if c.stream, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: StreamName, Subjects: []string{subjectPrefix + ">"}, Retention: jetstream.WorkQueuePolicy,
		Storage: jetstream.FileStorage, Replicas: cfg.Replicas, Duplicates: time.Hour,
	}); err != nil {
		return nil, fmt.Errorf("cluster: stream %s: %w", StreamName, err)
	}
	if c.consumer, err = c.stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable: ConsumerName, AckPolicy: jetstream.AckExplicitPolicy, AckWait: cfg.AckWait,
		MaxDeliver: cfg.MaxDeliver, FilterSubject: subjectPrefix + ">", Replicas: cfg.Replicas,
	}); err != nil {
		return nil, fmt.Errorf("cluster: consumer %s: %w", ConsumerName, err)
	}
	for _, b := range []struct {
		name string
		kv   *jetstream.KeyValue
	}{{JobsBucket, &c.jobs}, {ChunksBucket, &c.chunks}} {
		if *b.kv, err = js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: b.name, Storage: jetstream.FileStorage, Replicas: cfg.Replicas}); err != nil {
			return nil, fmt.Errorf("cluster: bucket %s: %w", b.name, err)
		}
	}
	if c.files, err = js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: FilesBucket, Storage: jetstream.FileStorage, Replicas: cfg.Replicas}); err != nil {
		return nil, fmt.Errorf("cluster: object store %s: %w", FilesBucket, err)
	}
	c.ackWait = cfg.AckWait
	return c, nil
}

// Join returns the connection to the objects a coordinator set up on nc,
// waiting (polling every half second) until they exist or ctx is done: a
// worker's start.
func Join(ctx context.Context, nc *nats.Conn, log *slog.Logger) (*Conn, error) {
	if log == nil {
		log = slog.Default()
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	warned := false
	for {
		c, err := join(ctx, nc, js)
		if err == nil {
			return c, nil
		}
		if !warned {
			log.Info("cluster: waiting for a coordinator to set up the stream and buckets", "err", err)
			warned = true
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("cluster: joining: %w (last error: %w)", ctx.Err(), err)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func join(ctx context.Context, nc *nats.Conn, js jetstream.JetStream) (*Conn, error) {
	c := &Conn{NC: nc, JS: js}
	var err error
	if c.stream, err = js.Stream(ctx, StreamName); err != nil {
		return nil, err
	}
	if c.consumer, err = c.stream.Consumer(ctx, ConsumerName); err != nil {
		return nil, err
	}
	if c.jobs, err = js.KeyValue(ctx, JobsBucket); err != nil {
		return nil, err
	}
	if c.chunks, err = js.KeyValue(ctx, ChunksBucket); err != nil {
		return nil, err
	}
	if c.files, err = js.ObjectStore(ctx, FilesBucket); err != nil {
		return nil, err
	}
	c.ackWait = c.consumer.CachedInfo().Config.AckWait
	return c, nil
}

// AckWait is the consumer's ack wait.
func (c *Conn) AckWait() time.Duration { return c.ackWait }

// subject is the subject of chunk n of job id.
func subject(id string, n int) string { return subjectPrefix + id + "." + strconv.Itoa(n) }

// chunkKey is the pssr-chunks key of chunk n of job id.
func chunkKey(id string, n int) string { return id + "." + strconv.Itoa(n) }

// Object names in the pssr-files store.
func modelObject(hash string) string      { return "model/" + hash }
func inputObject(id string, t int) string { return "in/" + id + "/" + strconv.Itoa(t) }
func outputObject(id string, n int) string {
	return "out/" + id + "/" + strconv.Itoa(n)
}

// Embedded is a NATS server with JetStream running inside this process
// (`pssr serve --nats embedded`); other machines' workers can connect to it.
type Embedded struct {
	srv *server.Server
}

// StartEmbedded starts a JetStream server listening on addr (HOST:PORT)
// (port 0 picks a free one) that keeps its store under dir, and waits
// until it accepts connections.
func StartEmbedded(addr, dir string) (*Embedded, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("cluster: --nats-addr %q: %w", addr, err)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return nil, fmt.Errorf("cluster: --nats-addr %q: port: %w", addr, err)
	}
	if p == 0 {
		p = server.RANDOM_PORT
	}
	srv, err := server.NewServer(&server.Options{
		ServerName: "pssr", Host: host, Port: p, JetStream: true, StoreDir: dir, NoSigs: true, NoLog: true,
	})
	if err != nil {
		return nil, fmt.Errorf("cluster: embedded NATS server: %w", err)
	}
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		return nil, errors.New("cluster: the embedded NATS server did not accept connections within 10 s (is --nats-addr in use?)")
	}
	return &Embedded{srv: srv}, nil
}

// URL is the server's client URL.
func (e *Embedded) URL() string { return e.srv.ClientURL() }

// Shutdown stops the server.
func (e *Embedded) Shutdown() {
	e.srv.Shutdown()
	e.srv.WaitForShutdown()
}
