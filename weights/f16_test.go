package weights

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// f16Ref rounds f to binary16 by brute force in float64: it picks the nearest
// of the two neighbouring binary16 values (ties to the even encoding). It
// shares no code with Float16Bits.
func f16Ref(f float32) uint16 {
	x := float64(f)
	sign := uint16(0)
	if math.Signbit(x) {
		sign, x = 0x8000, -x
	}
	// Binary search over the positive finite encodings 0..0x7bff (monotonic in value).
	lo, hi := uint16(0), uint16(0x7bff)
	if x >= float64(Float32FromBits(hi)) {
		// Above the largest finite value: rounds to it below the midpoint to
		// 2^16 (65520), to Inf at or above.
		if x >= 65520 {
			return sign | 0x7c00
		}
		return sign | hi
	}
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if float64(Float32FromBits(mid)) <= x {
			lo = mid
		} else {
			hi = mid
		}
	}
	a, b := float64(Float32FromBits(lo)), float64(Float32FromBits(hi))
	switch {
	case x == a:
		return sign | lo
	case x-a < b-x:
		return sign | lo
	case x-a > b-x:
		return sign | hi
	case lo%2 == 0:
		return sign | lo
	}
	return sign | hi
}

func TestFloat16RoundTripAllEncodings(t *testing.T) {
	for h := 0; h < 1<<16; h++ {
		f := Float32FromBits(uint16(h))
		if h&0x7c00 == 0x7c00 && h&0x3ff != 0 {
			if !math.IsNaN(float64(f)) {
				t.Fatalf("Float32FromBits(%#04x) = %v, want NaN", h, f)
			}
			if g := Float16Bits(f); g&0x7c00 != 0x7c00 || g&0x3ff == 0 || g&0x8000 != uint16(h)&0x8000 {
				t.Fatalf("Float16Bits(NaN %#04x) = %#04x, want a NaN with the same sign", h, g)
			}
			continue
		}
		if g := Float16Bits(f); g != uint16(h) {
			t.Fatalf("Float16Bits(Float32FromBits(%#04x) = %g) = %#04x, want %#04x", h, f, g, h)
		}
	}
}

func TestFloat16KnownValues(t *testing.T) {
	cases := []struct {
		f    float32
		want uint16
		why  string
	}{
		{1, 0x3c00, "one"},
		{-2, 0xc000, "minus two"},
		{65504, 0x7bff, "largest finite"},
		{65519.996, 0x7bff, "just below the midpoint to 2^16 rounds down"},
		{65520, 0x7c00, "midpoint to 2^16 rounds (to even) up: overflow"},
		{0x1p-24, 0x0001, "smallest subnormal"},
		{0x1p-25, 0x0000, "half the smallest subnormal: tie to even (zero)"},
		{0x1.8p-24, 0x0002, "1.5 subnormal units: tie to even (2)"},
		{0x1.0000020p-25, 0x0001, "just above half a unit rounds up"},
		{0x1p-14, 0x0400, "smallest normal"},
		{0x1.ffcp-15, 0x0400, "largest subnormal + half unit: tie rounds to even (smallest normal)"},
		{1 + 0x1p-11, 0x3c00, "tie between 1 and 1+2^-10: even (1)"},
		{1 + 0x1.8p-10, 0x3c02, "tie between 1+2^-10 and 1+2^-9: even (1+2^-9)"},
		{float32(math.Inf(-1)), 0xfc00, "-Inf"},
		{float32(math.Copysign(0, -1)), 0x8000, "-0"},
		{1e-30, 0, "far below the subnormals"},
	}
	for _, c := range cases {
		if got := Float16Bits(c.f); got != c.want {
			t.Errorf("Float16Bits(%g) [%s] = %#04x, want %#04x", c.f, c.why, got, c.want)
		}
	}
}

func TestFloat16MatchesBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	check := func(f float32) {
		if got, want := Float16Bits(f), f16Ref(f); got != want {
			t.Fatalf("Float16Bits(%g = %#08x) = %#04x, brute force %#04x", f, math.Float32bits(f), got, want)
		}
	}
	for i := 0; i < 200000; i++ {
		// Random bit patterns restricted to the binary16 range and a bit beyond.
		b := r.Uint32()
		exp := uint32(127-26) + r.Uint32N(45) // 2^-26 .. 2^18
		f := math.Float32frombits(b&0x807fffff | exp<<23)
		check(f)
	}
	// Every midpoint between neighbouring binary16 values and its float32 neighbours.
	for h := uint16(0); h < 0x7bff; h++ {
		a, b := float64(Float32FromBits(h)), float64(Float32FromBits(h+1))
		m := float32((a + b) / 2) // exact: 12 significant bits
		check(m)
		check(math.Nextafter32(m, 0))
		check(math.Nextafter32(m, 1e9))
		check(-m)
	}
}

func TestNewF16OverflowNamesTensor(t *testing.T) {
	_, err := NewF16("stages.0.0.gamma", []int{3}, []float32{1, 70000, 2})
	if err == nil || !strings.Contains(err.Error(), "stages.0.0.gamma") || !strings.Contains(err.Error(), "element 1") {
		t.Fatalf("NewF16 with 70000: err = %v, want an overflow error naming the tensor and element 1", err)
	}
	if _, err := NewF16("x", []int{1}, []float32{float32(math.NaN())}); err == nil {
		t.Fatalf("NewF16 with NaN: no error")
	}
	if _, err := NewF16("x", []int{2}, []float32{65504, -65519}); err != nil {
		t.Fatalf("NewF16 with values that round to ±65504: %v", err)
	}
}

func TestTensorFloat32AllDTypes(t *testing.T) {
	le := func(b ...byte) []byte { return b }
	cases := []struct {
		dt   DType
		data []byte
		want []float32
	}{
		{F32, le(0, 0, 0x80, 0x3f), []float32{1}},
		{F64, le(0, 0, 0, 0, 0, 0, 0xf0, 0xbf), []float32{-1}},
		{F16, le(0x00, 0x3c, 0x00, 0xc0), []float32{1, -2}},
		{BF16, le(0x80, 0x3f), []float32{1}},
		{I64, le(0xfd, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff), []float32{-3}},
		{I32, le(9, 0, 0, 0), []float32{9}},
		{I16, le(0xff, 0xff), []float32{-1}},
		{I8, le(0x80), []float32{-128}},
		{U8, le(200), []float32{200}},
		{BOOL, le(0, 1), []float32{0, 1}},
	}
	for _, c := range cases {
		tt := &Tensor{Name: string(c.dt), DType: c.dt, Shape: []int{len(c.want)}, Data: c.data}
		got, err := tt.Float32()
		if err != nil {
			t.Fatalf("%s: %v", c.dt, err)
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("%s[%d] = %v, want %v", c.dt, i, got[i], c.want[i])
			}
		}
	}
	bad := &Tensor{Name: "w", DType: F32, Shape: []int{2, 3}, Data: make([]byte, 20)}
	if _, err := bad.Float32(); err == nil || !strings.Contains(err.Error(), "tensor w") {
		t.Errorf("F32 [2 3] with 20 bytes: err = %v, want a length error naming w", err)
	}
}
