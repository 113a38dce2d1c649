package onnx

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/gomlx/compute/dtypes"
	"google.golang.org/protobuf/encoding/protowire"
)

// The subset of onnx.proto (github.com/onnx/onnx, onnx/onnx.proto) that
// export writes, encoded field by field with protowire. Field numbers are
// those of onnx.proto; only the fields used here are listed.

// IRVersion is the ONNX IR version written (IR 8 goes with opset 17-18).
const IRVersion = 8

// Opset is the version of the default ("ai.onnx") operator set the models
// use. In opset 17 ReduceSum takes its axes as an input and ReduceMax,
// ReduceMin and ReduceMean as an attribute.
const Opset = 17

// ONNX TensorProto.DataType values.
const (
	tFloat  = 1
	tInt8   = 3
	tInt32  = 6
	tInt64  = 7
	tBool   = 9
	tDouble = 11
)

// onnxType maps a GoMLX dtype to an ONNX element type.
func onnxType(dt dtypes.DType) (int, error) {
	switch dt {
	case dtypes.Float32:
		return tFloat, nil
	case dtypes.Float64:
		return tDouble, nil
	case dtypes.Int8:
		return tInt8, nil
	case dtypes.Int32:
		return tInt32, nil
	case dtypes.Int64:
		return tInt64, nil
	case dtypes.Bool:
		return tBool, nil
	}
	return 0, fmt.Errorf("onnx: dtype %s not supported by the exporter", dt)
}

// attr is one AttributeProto: an int, ints, a float or a tensor.
type attr struct {
	name  string
	kind  int // AttributeType: 1 FLOAT, 2 INT, 7 INTS
	i     int64
	f     float32
	ints  []int64
	bytes []byte // encoded TensorProto for kind 4
}

func intAttr(name string, v int) attr       { return attr{name: name, kind: 2, i: int64(v)} }
func floatAttr(name string, v float32) attr { return attr{name: name, kind: 1, f: v} }
func intsAttr(name string, v []int) attr {
	a := attr{name: name, kind: 7}
	for _, x := range v {
		a.ints = append(a.ints, int64(x))
	}
	return a
}

func appendString(b []byte, num protowire.Number, s string) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func appendBytes(b []byte, num protowire.Number, v []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

func appendVarint(b []byte, num protowire.Number, v uint64) []byte {
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

func encodeAttr(a attr) []byte {
	var b []byte
	b = appendString(b, 1, a.name)
	switch a.kind {
	case 1:
		b = protowire.AppendTag(b, 2, protowire.Fixed32Type)
		b = protowire.AppendFixed32(b, math.Float32bits(a.f))
	case 2:
		b = appendVarint(b, 3, uint64(a.i))
	case 4:
		b = appendBytes(b, 5, a.bytes)
	case 7:
		var packed []byte
		for _, v := range a.ints {
			packed = protowire.AppendVarint(packed, uint64(v))
		}
		b = appendBytes(b, 8, packed)
	}
	return appendVarint(b, 20, uint64(a.kind))
}

// tensorProto encodes a TensorProto with raw little-endian data.
func tensorProto(name string, elemType int, dims []int, raw []byte) []byte {
	var b []byte
	if len(dims) > 0 {
		var packed []byte
		for _, d := range dims {
			packed = protowire.AppendVarint(packed, uint64(d))
		}
		b = appendBytes(b, 1, packed)
	}
	b = appendVarint(b, 2, uint64(elemType))
	if name != "" {
		b = appendString(b, 8, name)
	}
	return appendBytes(b, 9, raw)
}

// rawData returns the little-endian bytes of a flat slice.
func rawData(flat any) ([]byte, error) {
	switch v := flat.(type) {
	case []float32:
		b := make([]byte, 4*len(v))
		for i, x := range v {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
		}
		return b, nil
	case []float64:
		b := make([]byte, 8*len(v))
		for i, x := range v {
			binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(x))
		}
		return b, nil
	case []int32:
		b := make([]byte, 4*len(v))
		for i, x := range v {
			binary.LittleEndian.PutUint32(b[4*i:], uint32(x))
		}
		return b, nil
	case []int64:
		b := make([]byte, 8*len(v))
		for i, x := range v {
			binary.LittleEndian.PutUint64(b[8*i:], uint64(x))
		}
		return b, nil
	case []bool:
		b := make([]byte, len(v))
		for i, x := range v {
			if x {
				b[i] = 1
			}
		}
		return b, nil
	}
	return nil, fmt.Errorf("onnx: constant of type %T not supported by the exporter", flat)
}

// valueInfo encodes a ValueInfoProto of a tensor. A dimension with a
// non-empty name in dynamic is written as a symbolic dim_param.
func valueInfo(name string, elemType int, dims []int, dynamic []string) []byte {
	var shape []byte
	for i, d := range dims {
		var dim []byte
		if i < len(dynamic) && dynamic[i] != "" {
			dim = appendString(dim, 2, dynamic[i])
		} else {
			dim = appendVarint(dim, 1, uint64(d))
		}
		shape = appendBytes(shape, 1, dim)
	}
	var tt []byte
	tt = appendVarint(tt, 1, uint64(elemType))
	tt = appendBytes(tt, 2, shape)
	var typ []byte
	typ = appendBytes(typ, 1, tt)
	var b []byte
	b = appendString(b, 1, name)
	return appendBytes(b, 2, typ)
}

// nodeProto encodes a NodeProto.
func nodeProto(n *node) []byte {
	var b []byte
	for _, in := range n.inputs {
		b = appendString(b, 1, in.name)
	}
	for _, out := range n.outputs {
		b = appendString(b, 2, out.name)
	}
	b = appendString(b, 3, n.outputs[0].name+"_"+n.op)
	b = appendString(b, 4, n.op)
	for _, a := range n.attrs {
		b = appendBytes(b, 5, encodeAttr(a))
	}
	if n.domain != "" {
		b = appendString(b, 7, n.domain)
	}
	return b
}

// modelProto wraps an encoded GraphProto into a ModelProto with metadata,
// importing the default opset and, version 1, each domain of domains.
func modelProto(graph []byte, producer string, meta map[string]string, keys []string, domains []string) []byte {
	var b []byte
	b = appendVarint(b, 1, IRVersion)
	b = appendString(b, 2, producer)
	b = appendBytes(b, 7, graph)
	var opset []byte
	opset = appendString(opset, 1, "")
	opset = appendVarint(opset, 2, Opset)
	b = appendBytes(b, 8, opset)
	for _, d := range domains {
		var o []byte
		o = appendString(o, 1, d)
		o = appendVarint(o, 2, 1)
		b = appendBytes(b, 8, o)
	}
	for _, k := range keys {
		var e []byte
		e = appendString(e, 1, k)
		e = appendString(e, 2, meta[k])
		b = appendBytes(b, 14, e)
	}
	return b
}
