package cluster

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/pssr/pssr/frame"
	"github.com/pssr/pssr/pipeline"
	"github.com/pssr/pssr/tiling"
)

// Spec is a job as the coordinator stores it (bucket pssr-jobs) and sends it
// with every chunk: what a worker needs to compute any of its chunks.
type Spec struct {
	// ID is the job's ID: a hash of the fields below but Frames, Width,
	// Height and InputReady, so the same work always has the same ID.
	ID string `json:"id"`
	// InputHash and ModelHash are the SHA-256 of the input and model files.
	InputHash string `json:"input_hash"`
	ModelHash string `json:"model_hash"`
	// Options are the pipeline options.
	Options pipeline.Options `json:"options"`
	// Backend is the compute backend spec ("go", "xla:..."), part of the
	// runtime: a different backend rounds differently.
	Backend string `json:"backend"`
	// Runtime runs the networks: "go" (GoMLX on Backend), "ort" (ONNX
	// Runtime) or "ort-int8"; part of the runtime as Backend is. Empty means "go".
	Runtime string `json:"runtime,omitempty"`
	// WindowsPerChunk is the number of temporal windows of a chunk.
	WindowsPerChunk int `json:"windows_per_chunk"`
	// Frames is the number of input frames, Width and Height their size.
	Frames int `json:"frames"`
	Width  int `json:"width"`
	Height int `json:"height"`
	// InputReady is set once every input frame is in the object store.
	InputReady bool `json:"input_ready"`
}

// jobID returns the ID of the work s describes.
func (s *Spec) jobID() (string, error) {
	key := struct {
		Input, Model, Backend string
		Runtime               string `json:",omitempty"`
		Options               pipeline.Options
		PerChunk              int
	}{s.InputHash, s.ModelHash, s.Backend, s.runtime(), s.Options, s.WindowsPerChunk}
	data, err := json.Marshal(key)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:10]), nil
}

// runtime is the job's runtime name, "" for the default ("go"), so that
// the IDs of GoMLX jobs do not change with the field's addition.
func (s *Spec) runtime() string {
	if s.Runtime == RuntimeGo {
		return ""
	}
	return s.Runtime
}

// Windows returns the job's temporal windows.
func (s *Spec) Windows() ([]tiling.Span, error) {
	return tiling.Windows(s.Frames, s.Options.WindowT, s.Options.OverlapT)
}

// Chunk is a run of whole windows, the unit of work of a worker.
type Chunk struct {
	// Index is the chunk's number, from 0.
	Index int `json:"index"`
	// First and Last are the windows [First, Last) of the chunk.
	First int `json:"first_window"`
	Last  int `json:"last_window"`
	// Frames are the input frames the chunk reads.
	Frames tiling.Span `json:"frames"`
}

// Plan cuts windows into chunks of perChunk windows (the last may have
// fewer).
func Plan(windows []tiling.Span, perChunk int) ([]Chunk, error) {
	if perChunk < 1 {
		return nil, fmt.Errorf("cluster: %d windows a chunk, want at least 1", perChunk)
	}
	var cs []Chunk
	for first := 0; first < len(windows); first += perChunk {
		last := min(first+perChunk, len(windows))
		cs = append(cs, Chunk{Index: len(cs), First: first, Last: last,
			Frames: tiling.Span{Start: windows[first].Start, End: windows[last-1].End}})
	}
	return cs, nil
}

// Chunks returns the job's chunks.
func (s *Spec) Chunks() ([]tiling.Span, []Chunk, error) {
	w, err := s.Windows()
	if err != nil {
		return nil, nil, err
	}
	c, err := Plan(w, s.WindowsPerChunk)
	return w, c, err
}

// chunkMsg is the body of a chunk message.
type chunkMsg struct {
	Spec  Spec `json:"spec"`
	Chunk int  `json:"chunk"`
}

// Chunk states in the pssr-chunks bucket (a chunk with no entry is queued).
const (
	// StateQueued is a chunk waiting for a worker.
	StateQueued = "queued"
	// StateRunning is a chunk a worker computes.
	StateRunning = "running"
	// StateDone is a chunk whose frames are uploaded.
	StateDone = "done"
	// StateFailed is a chunk a worker refused (a model of another hash).
	StateFailed = "failed"
)

// ChunkStatus is a chunk's entry in the pssr-chunks bucket.
type ChunkStatus struct {
	// State is queued, running, done or failed.
	State string `json:"state"`
	// Worker names the worker that holds (or finished) the chunk.
	Worker string `json:"worker,omitempty"`
	// Attempt is the delivery of the chunk's message that it is.
	Attempt int `json:"attempt,omitempty"`
	// Error says why a chunk failed.
	Error string `json:"error,omitempty"`
	// Updated is the time of the entry.
	Updated time.Time `json:"updated"`
}

// Frame records in the object store. A file is the magic followed by
// records: kind (1 byte: the record kind in the low nibble, the sample
// format in the high one), frame index (uint32), window index (int32, -1
// for a finished frame or an input frame), width and height (uint32), then
// width·height·3 samples, all little-endian. The samples are float32 bit
// for bit, or, when every sample of the frame is exactly v/255 (an 8-bit
// source) or v/65535 (a 16-bit one) as the video and frame readers make
// them, the integers v as uint8 or uint16: lossless either way, and an
// 8-bit input frame takes a quarter of the space.
const recordMagic = "PSSRFRM1"

// Sample formats of a record (the kind byte's high nibble).
const (
	samplesFloat32 byte = 0
	samplesUint8   byte = 1
	samplesUint16  byte = 2
)

// sampleFormat returns the most compact format that holds pix exactly.
func sampleFormat(pix []float32) byte {
	exact := func(scale float32) bool {
		for _, v := range pix {
			if !(v >= 0 && v <= 1) {
				return false
			}
			// Bits, not ==: -0 must not become +0.
			if math.Float32bits(float32(uint32(v*scale+0.5))/scale) != math.Float32bits(v) {
				return false
			}
		}
		return true
	}
	switch {
	case exact(255):
		return samplesUint8
	case exact(65535):
		return samplesUint16
	}
	return samplesFloat32
}

// sampleBytes is the size of one sample in format f.
func sampleBytes(f byte) int {
	switch f {
	case samplesUint8:
		return 1
	case samplesUint16:
		return 2
	}
	return 4
}

// Record kinds.
const (
	kindFrame byte = 0 // an input frame or a finished output frame
	kindPart  byte = 1 // one window's unweighted output of a shared frame
)

// record is one decoded record.
type record struct {
	kind   byte
	t, win int
	img    *frame.Image
}

// recordWriter writes records.
type recordWriter struct {
	w   *bufio.Writer
	buf []byte
}

func newRecordWriter(w io.Writer) (*recordWriter, error) {
	bw := bufio.NewWriterSize(w, 1<<16)
	if _, err := bw.WriteString(recordMagic); err != nil {
		return nil, err
	}
	return &recordWriter{w: bw}, nil
}

func (rw *recordWriter) write(kind byte, t, win int, f *frame.Image) error {
	if len(f.Pix) != f.W*f.H*3 {
		return fmt.Errorf("frame %d: %d samples for %dx%d", t, len(f.Pix), f.W, f.H)
	}
	sf := sampleFormat(f.Pix)
	n := 17 + sampleBytes(sf)*len(f.Pix)
	if cap(rw.buf) < n {
		rw.buf = make([]byte, n)
	}
	b := rw.buf[:n]
	b[0] = kind | sf<<4
	binary.LittleEndian.PutUint32(b[1:], uint32(t))
	binary.LittleEndian.PutUint32(b[5:], uint32(int32(win)))
	binary.LittleEndian.PutUint32(b[9:], uint32(f.W))
	binary.LittleEndian.PutUint32(b[13:], uint32(f.H))
	s := b[17:]
	switch sf {
	case samplesUint8:
		for i, v := range f.Pix {
			s[i] = byte(v*255 + 0.5)
		}
	case samplesUint16:
		for i, v := range f.Pix {
			binary.LittleEndian.PutUint16(s[2*i:], uint16(v*65535+0.5))
		}
	default:
		for i, v := range f.Pix {
			binary.LittleEndian.PutUint32(s[4*i:], math.Float32bits(v))
		}
	}
	_, err := rw.w.Write(b)
	return err
}

func (rw *recordWriter) flush() error { return rw.w.Flush() }

// maxRecordSamples bounds a record's frame (16384² pixels).
const maxRecordSamples = 16384 * 16384 * 3

// recordReader reads records.
type recordReader struct {
	r   *bufio.Reader
	buf []byte
}

// errBadRecords marks a file that is not a record file.
var errBadRecords = errors.New("not a pssr frame record file")

func newRecordReader(r io.Reader) (*recordReader, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	magic := make([]byte, len(recordMagic))
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != recordMagic {
		return nil, fmt.Errorf("%w (header %q, %v)", errBadRecords, magic, err)
	}
	return &recordReader{r: br}, nil
}

// next returns the next record, or io.EOF after the last.
func (rr *recordReader) next() (record, error) {
	var h [17]byte
	if _, err := io.ReadFull(rr.r, h[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return record{}, fmt.Errorf("%w: truncated record header", errBadRecords)
		}
		return record{}, err
	}
	rec := record{kind: h[0] & 0xf, t: int(binary.LittleEndian.Uint32(h[1:])), win: int(int32(binary.LittleEndian.Uint32(h[5:])))}
	sf := h[0] >> 4
	w, ht := int(binary.LittleEndian.Uint32(h[9:])), int(binary.LittleEndian.Uint32(h[13:]))
	if rec.kind > kindPart || sf > samplesUint16 || w < 1 || ht < 1 || w*ht*3 > maxRecordSamples {
		return record{}, fmt.Errorf("%w: record of kind %#x, %dx%d", errBadRecords, h[0], w, ht)
	}
	n := sampleBytes(sf) * w * ht * 3
	if cap(rr.buf) < n {
		rr.buf = make([]byte, n)
	}
	b := rr.buf[:n]
	if _, err := io.ReadFull(rr.r, b); err != nil {
		return record{}, fmt.Errorf("%w: truncated frame %d: %v", errBadRecords, rec.t, err)
	}
	rec.img = frame.New(w, ht)
	switch sf {
	case samplesUint8:
		for i := range rec.img.Pix {
			rec.img.Pix[i] = float32(b[i]) / 255
		}
	case samplesUint16:
		for i := range rec.img.Pix {
			rec.img.Pix[i] = float32(binary.LittleEndian.Uint16(b[2*i:])) / 65535
		}
	default:
		for i := range rec.img.Pix {
			rec.img.Pix[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
	}
	return rec, nil
}
