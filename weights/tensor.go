package weights

import (
	"encoding/binary"
	"fmt"
	"math"
)

// DType names an element type with the safetensors spelling.
type DType string

// The element types this package reads and writes.
const (
	F64  DType = "F64"
	F32  DType = "F32"
	F16  DType = "F16"
	BF16 DType = "BF16"
	I64  DType = "I64"
	I32  DType = "I32"
	I16  DType = "I16"
	I8   DType = "I8"
	U8   DType = "U8"
	BOOL DType = "BOOL"
)

// Size returns the size of one element in bytes, or 0 for an unknown dtype.
func (d DType) Size() int {
	switch d {
	case F64, I64:
		return 8
	case F32, I32:
		return 4
	case F16, BF16, I16:
		return 2
	case I8, U8, BOOL:
		return 1
	}
	return 0
}

// Known reports whether d is one of the dtypes above.
func (d DType) Known() bool { return d.Size() != 0 }

// Tensor is one named array: little-endian elements in C-contiguous
// (row-major) order. A 0-d tensor has an empty Shape and one element.
type Tensor struct {
	Name  string
	DType DType
	Shape []int
	Data  []byte // len = NumElements()*DType.Size()
}

// NumElements returns the product of the shape (1 for a 0-d tensor).
func (t *Tensor) NumElements() int {
	n := 1
	for _, s := range t.Shape {
		n *= s
	}
	return n
}

// checkedNumel returns the product of shape, or an error if a dimension is
// negative or the product (times elemSize) would exceed limit bytes.
func checkedNumel(shape []int, elemSize int, limit int64) (int64, error) {
	n := int64(1)
	for _, s := range shape {
		if s < 0 {
			return 0, fmt.Errorf("negative dimension in shape %v", shape)
		}
		if s == 0 {
			n = 0
			continue
		}
		if n != 0 && n > limit/int64(s) {
			return 0, fmt.Errorf("shape %v is larger than the file (%d bytes)", shape, limit)
		}
		if n != 0 {
			n *= int64(s)
		}
	}
	if n > 0 && n > limit/int64(elemSize) {
		return 0, fmt.Errorf("shape %v of %d-byte elements is larger than the file (%d bytes)", shape, elemSize, limit)
	}
	return n, nil
}

// Validate checks that the dtype is known and len(Data) matches the shape.
func (t *Tensor) Validate() error {
	if !t.DType.Known() {
		return fmt.Errorf("tensor %s: unknown dtype %q", t.Name, t.DType)
	}
	n, err := checkedNumel(t.Shape, t.DType.Size(), math.MaxInt64/2)
	if err != nil {
		return fmt.Errorf("tensor %s: %v", t.Name, err)
	}
	if int64(len(t.Data)) != n*int64(t.DType.Size()) {
		return fmt.Errorf("tensor %s: %d data bytes for shape %v of %s (want %d)",
			t.Name, len(t.Data), t.Shape, t.DType, n*int64(t.DType.Size()))
	}
	return nil
}

// Float32 returns the elements converted to float32. F16, BF16, U8, I8, I16,
// BOOL (0/1) and I32 values up to 2^24 convert exactly; F64 rounds to nearest;
// I64 and large I32 values round to the nearest float32.
func (t *Tensor) Float32() ([]float32, error) {
	if err := t.Validate(); err != nil {
		return nil, err
	}
	n := t.NumElements()
	out := make([]float32, n) // [numel]
	b := t.Data
	le := binary.LittleEndian
	switch t.DType {
	case F32:
		for i := range out {
			out[i] = math.Float32frombits(le.Uint32(b[4*i:]))
		}
	case F64:
		for i := range out {
			out[i] = float32(math.Float64frombits(le.Uint64(b[8*i:])))
		}
	case F16:
		for i := range out {
			out[i] = Float32FromBits(le.Uint16(b[2*i:]))
		}
	case BF16:
		for i := range out {
			out[i] = math.Float32frombits(uint32(le.Uint16(b[2*i:])) << 16)
		}
	case I64:
		for i := range out {
			out[i] = float32(int64(le.Uint64(b[8*i:])))
		}
	case I32:
		for i := range out {
			out[i] = float32(int32(le.Uint32(b[4*i:])))
		}
	case I16:
		for i := range out {
			out[i] = float32(int16(le.Uint16(b[2*i:])))
		}
	case I8:
		for i := range out {
			out[i] = float32(int8(b[i]))
		}
	case U8:
		for i := range out {
			out[i] = float32(b[i])
		}
	case BOOL:
		for i := range out {
			if b[i] != 0 {
				out[i] = 1
			}
		}
	default:
		return nil, fmt.Errorf("tensor %s: cannot convert %s to float32", t.Name, t.DType)
	}
	return out, nil
}

// NewF32 builds an F32 tensor from values (copied) and a shape.
func NewF32(name string, shape []int, values []float32) (*Tensor, error) {
	t := &Tensor{Name: name, DType: F32, Shape: append([]int(nil), shape...), Data: make([]byte, 4*len(values))}
	for i, v := range values {
		binary.LittleEndian.PutUint32(t.Data[4*i:], math.Float32bits(v))
	}
	return t, t.Validate()
}

// NewF16 builds an F16 tensor from float32 values, rounding each to nearest
// even. A finite value whose magnitude rounds above 65504 (the largest
// half-precision number), or a NaN/Inf input, is an error naming the tensor
// and the index: a converted model must not silently contain infinities.
func NewF16(name string, shape []int, values []float32) (*Tensor, error) {
	t := &Tensor{Name: name, DType: F16, Shape: append([]int(nil), shape...), Data: make([]byte, 2*len(values))}
	for i, v := range values {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, fmt.Errorf("tensor %s: element %d is %v, not finite", name, i, v)
		}
		h := Float16Bits(v)
		if h&0x7fff == 0x7c00 {
			return nil, fmt.Errorf("tensor %s: element %d = %g overflows float16 (max 65504): convert with -dtype f32", name, i, v)
		}
		binary.LittleEndian.PutUint16(t.Data[2*i:], h)
	}
	return t, t.Validate()
}

// Convert returns a copy of t with its elements converted to F32 or F16
// (see NewF16 for the rounding and overflow rules).
func (t *Tensor) Convert(to DType) (*Tensor, error) {
	v, err := t.Float32()
	if err != nil {
		return nil, err
	}
	switch to {
	case F32:
		return NewF32(t.Name, t.Shape, v)
	case F16:
		return NewF16(t.Name, t.Shape, v)
	}
	return nil, fmt.Errorf("tensor %s: cannot convert to %s (only F32 and F16)", t.Name, to)
}
