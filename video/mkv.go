package video

import (
	"encoding/binary"
	"fmt"
	"io"
)

// This file is a minimal Matroska writer: one uncompressed video track
// (V_UNCOMPRESSED, its pixel format as a FourCC), one cluster per frame
// carrying the frame's timestamp in microseconds. It exists so that raw
// frames from a pipe reach ffmpeg with their own presentation times
// (variable-rate output); ffmpeg's Matroska demuxer reads it from a pipe.

// EBML and Matroska element IDs used here.
const (
	idEBML               = 0x1A45DFA3
	idEBMLVersion        = 0x4286
	idEBMLReadVersion    = 0x42F7
	idEBMLMaxIDLength    = 0x42F2
	idEBMLMaxSizeLength  = 0x42F3
	idDocType            = 0x4282
	idDocTypeVersion     = 0x4287
	idDocTypeReadVersion = 0x4285
	idSegment            = 0x18538067
	idInfo               = 0x1549A966
	idTimestampScale     = 0x2AD7B1
	idMuxingApp          = 0x4D80
	idWritingApp         = 0x5741
	idTracks             = 0x1654AE6B
	idTrackEntry         = 0xAE
	idTrackNumber        = 0xD7
	idTrackUID           = 0x73C5
	idTrackType          = 0x83
	idFlagLacing         = 0x9C
	idCodecID            = 0x86
	idDefaultDuration    = 0x23E383
	idVideo              = 0xE0
	idPixelWidth         = 0xB0
	idPixelHeight        = 0xBA
	idColourSpace        = 0x2EB524
	idCluster            = 0x1F43B675
	idClusterTimestamp   = 0xE7
	idSimpleBlock        = 0xA3
)

// mkvTimestampScale is the Matroska timestamp unit in nanoseconds: 1 µs.
const mkvTimestampScale = 1000

// ebmlID appends an element ID (its bytes as written, marker included).
func ebmlID(b []byte, id uint32) []byte {
	switch {
	case id >= 1<<24:
		return append(b, byte(id>>24), byte(id>>16), byte(id>>8), byte(id))
	case id >= 1<<16:
		return append(b, byte(id>>16), byte(id>>8), byte(id))
	case id >= 1<<8:
		return append(b, byte(id>>8), byte(id))
	}
	return append(b, byte(id))
}

// ebmlSize appends an element data size as an 8-byte variable-length
// integer (valid for any size below 2^56-1).
func ebmlSize(b []byte, n uint64) []byte {
	return binary.BigEndian.AppendUint64(b, n|1<<56)
}

// ebmlUnknownSize is the 8-byte "unknown size" marker (all value bits set).
var ebmlUnknownSize = []byte{0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}

// ebmlElem appends a complete element with the given payload.
func ebmlElem(b []byte, id uint32, payload []byte) []byte {
	b = ebmlID(b, id)
	b = ebmlSize(b, uint64(len(payload)))
	return append(b, payload...)
}

// ebmlUint appends an unsigned integer element (8 bytes, big-endian).
func ebmlUint(b []byte, id uint32, v uint64) []byte {
	return ebmlElem(b, id, binary.BigEndian.AppendUint64(nil, v))
}

// ebmlString appends a string element.
func ebmlString(b []byte, id uint32, s string) []byte {
	return ebmlElem(b, id, []byte(s))
}

// mkvFourCC returns the FourCC that ffmpeg maps to a raw pipe pixel format.
func mkvFourCC(pixFmt string) ([]byte, error) {
	switch pixFmt {
	case "rgb24":
		return []byte{'R', 'G', 'B', 24}, nil
	case "rgb48le":
		return []byte{'R', 'G', 'B', 48}, nil
	}
	return nil, fmt.Errorf("video: no Matroska FourCC for pixel format %q", pixFmt)
}

// mkvWriter writes raw frames with timestamps as a Matroska stream.
type mkvWriter struct {
	w   io.Writer
	hdr []byte // a cluster's header, reused
}

// newMKVWriter writes the EBML header, the segment (of unknown size, as a
// live stream), its info and the one video track of w x h frames in pixFmt
// to out. defaultDur is the nominal frame duration in nanoseconds (0 for
// none); it only tells readers the average rate.
func newMKVWriter(out io.Writer, w, h int, pixFmt string, defaultDur uint64) (*mkvWriter, error) {
	fourcc, err := mkvFourCC(pixFmt)
	if err != nil {
		return nil, err
	}
	var head []byte
	head = ebmlUint(head, idEBMLVersion, 1)
	head = ebmlUint(head, idEBMLReadVersion, 1)
	head = ebmlUint(head, idEBMLMaxIDLength, 4)
	head = ebmlUint(head, idEBMLMaxSizeLength, 8)
	head = ebmlString(head, idDocType, "matroska")
	head = ebmlUint(head, idDocTypeVersion, 4)
	head = ebmlUint(head, idDocTypeReadVersion, 2)
	b := ebmlElem(nil, idEBML, head)
	b = ebmlID(b, idSegment)
	b = append(b, ebmlUnknownSize...)

	var info []byte
	info = ebmlUint(info, idTimestampScale, mkvTimestampScale)
	info = ebmlString(info, idMuxingApp, "pssr")
	info = ebmlString(info, idWritingApp, "pssr")
	b = ebmlElem(b, idInfo, info)

	var vid []byte
	vid = ebmlUint(vid, idPixelWidth, uint64(w))
	vid = ebmlUint(vid, idPixelHeight, uint64(h))
	vid = ebmlElem(vid, idColourSpace, fourcc)
	var tr []byte
	tr = ebmlUint(tr, idTrackNumber, 1)
	tr = ebmlUint(tr, idTrackUID, 1)
	tr = ebmlUint(tr, idTrackType, 1) // video
	tr = ebmlUint(tr, idFlagLacing, 0)
	tr = ebmlString(tr, idCodecID, "V_UNCOMPRESSED")
	if defaultDur > 0 {
		tr = ebmlUint(tr, idDefaultDuration, defaultDur)
	}
	tr = ebmlElem(tr, idVideo, vid)
	b = ebmlElem(b, idTracks, ebmlElem(nil, idTrackEntry, tr))
	if _, err := out.Write(b); err != nil {
		return nil, err
	}
	return &mkvWriter{w: out}, nil
}

// writeFrame writes one frame (raw pixels) at timestamp us microseconds as
// a cluster of its own.
func (m *mkvWriter) writeFrame(us uint64, pix []byte) error {
	ts := ebmlUint(nil, idClusterTimestamp, us)
	// SimpleBlock: track 1 (vint 0x81), relative timestamp 0, keyframe.
	block := []byte{0x81, 0, 0, 0x80}
	blockHead := ebmlID(nil, idSimpleBlock)
	blockHead = ebmlSize(blockHead, uint64(len(block)+len(pix)))
	clusterLen := uint64(len(ts) + len(blockHead) + len(block) + len(pix))
	h := ebmlID(m.hdr[:0], idCluster)
	h = ebmlSize(h, clusterLen)
	h = append(h, ts...)
	h = append(h, blockHead...)
	h = append(h, block...)
	m.hdr = h
	if _, err := m.w.Write(h); err != nil {
		return err
	}
	_, err := m.w.Write(pix)
	return err
}
