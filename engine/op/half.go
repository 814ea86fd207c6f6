package op

import "math"

// HalfUploader is an optional extension of Backend for weights stored as IEEE 754 binary16
// (a slak-web F16 model file): the backend keeps them in half precision (engine/gpu: packed two
// per 32-bit word, read by its kernels with an exact widening) instead of float32, which halves
// the memory they take. The tensor's values are exactly the widened halves
//
//	v[i] = float32(binary16(bits[i]))      (every binary16 value is a float32 value)
//
// and every op of Backend accepts it where it accepts a float32 tensor of the same shape;
// Download returns the widened values. engine/model.Load uses it when the backend implements it
// and the deploy entry is half (model.Param.Half), and uploads the widened float32 otherwise.
type HalfUploader interface {
	UploadF16(bits []uint16, shape ...int) (Tensor, error)
}

// F16ToF32 widens an IEEE 754 binary16 value exactly (every binary16 value, subnormals
// included, is a float32 value):
//
//	normal    (e = 1..30): (−1)^s · 2^(e−15) · 1.f
//	subnormal (e = 0):     (−1)^s · 2^−14 · 0.f       e = 31: ±Inf (f = 0), NaN (f ≠ 0, payload kept)
func F16ToF32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	e := uint32(h>>10) & 0x1f
	f := uint32(h & 0x3ff)
	switch {
	case e == 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | f<<13)
	case e == 0: // ±0 and subnormals: f·2^−24, exact in float32
		return math.Float32frombits(sign | math.Float32bits(float32(f)*(1.0/(1<<24))))
	}
	return math.Float32frombits(sign | (e+127-15)<<23 | f<<13)
}

// F16SliceToF32 widens every value of bits (F16ToF32).
func F16SliceToF32(bits []uint16) []float32 {
	out := make([]float32, len(bits))
	for i, h := range bits {
		out[i] = F16ToF32(h)
	}
	return out
}
