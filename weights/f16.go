package weights

import "math"

// Float16Bits returns the IEEE 754 binary16 encoding of f, rounded to nearest
// with ties to even. Values too large for binary16 become ±Inf (NewF16
// turns that into an error), values below the smallest subnormal (2^-24)
// round to ±0 or the smallest subnormal, NaN stays NaN (quiet, sign kept).
//
//	binary16: 1 sign bit, 5 exponent bits (bias 15), 10 fraction bits;
//	normal  = (-1)^s · 2^(e-15) · 1.f   for e in 1..30
//	subnorm = (-1)^s · 2^-14   · 0.f    for e = 0
func Float16Bits(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int((b >> 23) & 0xff)
	mant := b & 0x7fffff

	if exp == 0xff { // Inf or NaN
		if mant != 0 {
			return sign | 0x7e00 | uint16(mant>>13)
		}
		return sign | 0x7c00
	}
	e := exp - 127 + 15 // re-biased exponent
	if e >= 0x1f {
		return sign | 0x7c00
	}
	if e <= 0 {
		// Subnormal (or zero) in binary16: value = m · 2^-24 with m = round(|f| · 2^24).
		if e < -10 {
			return sign // below half the smallest subnormal: rounds to zero
		}
		m := mant | 0x800000  // implicit leading 1 (float32 subnormals land in e < -10)
		shift := uint(14 - e) // 24-bit significand → 10-bit subnormal fraction
		return sign | uint16(roundShiftEven(m, shift))
	}
	// Normal: keep 10 of the 23 fraction bits, round the 13 dropped ones.
	r := roundShiftEven(uint32(e)<<23|mant, 13) // a carry can ripple into the exponent (correctly)
	if r >= 0x7c00 {
		return sign | 0x7c00
	}
	return sign | uint16(r)
}

// roundShiftEven returns v >> s rounded to nearest, ties to even.
func roundShiftEven(v uint32, s uint) uint32 {
	q := v >> s
	rem := v & (1<<s - 1)
	half := uint32(1) << (s - 1)
	if rem > half || (rem == half && q&1 == 1) {
		q++
	}
	return q
}

// Float32FromBits decodes an IEEE 754 binary16 value exactly (every binary16
// value is representable in float32).
func Float32FromBits(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h & 0x3ff)
	switch {
	case exp == 0x1f: // Inf/NaN
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case exp == 0 && mant == 0:
		return math.Float32frombits(sign)
	case exp == 0: // subnormal: normalise
		e := uint32(127 - 15 + 1)
		for mant&0x400 == 0 {
			mant <<= 1
			e--
		}
		mant &= 0x3ff
		return math.Float32frombits(sign | e<<23 | mant<<13)
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
}
