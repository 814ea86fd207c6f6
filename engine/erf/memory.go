package erf

import (
	"fmt"

	"github.com/slak-web/slak/engine/gpu"
	"github.com/slak-web/slak/engine/model"
	"github.com/slak-web/slak/engine/op"
)

// Sizes are the ERF input sizes the demo offers (224² as the models were
// trained, 512², and RepLKNet's 1024², SLAK.md §4.2).
var Sizes = []int{224, 512, 1024}

// Memory is what one ERF sample (forward + input-gradient backward, as
// model.Net.InputGradient runs it) needs at input s×s, in bytes of float32.
//
// InputGradient keeps the input of every segment (stem, downsampling layer,
// block; RepLKNet: stem conv, RepLKBlock, ConvFFN, transition conv) plus the
// last-stage map, then walks back recomputing one segment's internals at a
// time. So:
//
//	Saved        = Σ_segments |segment input| + |F|
//	LargestSaved = max_segments |segment input|
//	Largest      = max over every tensor any op allocates (segment inputs and
//	               outputs, the 4C-channel MLP hidden of a block/ConvFFN, the
//	               stem convolutions' outputs): the one buffer that must fit one
//	               storage binding
//	Peak         = Weights + Saved + max_segments (|dy| + |x| + 3·max(|hidden|, |out|))
//
// The last term is the backward working set of one segment: dy, the
// recomputed LK output, and three hidden-sized tensors (pre-GELU a, dL/dGELU,
// dL/da) alive at once in a ConvNeXt/SLaK block. Peak is an estimate: a
// backend that defers freeing (the GPU backend destroys a buffer after the
// pending work is submitted) or allocates scratch space holds more.
type Memory struct {
	Variant      string // variant label, e.g. "SLaK-T (51×51)"
	S            int    // input side
	Weights      int64  // deploy weights (plus RepLKNet/SLaK summed LK biases)
	Saved        int64
	LargestSaved int64
	Largest      int64
	LargestWhat  string // which tensor is the largest, with its shape
	Peak         int64

	v model.Variant
}

func (m Memory) String() string {
	return fmt.Sprintf("%s at %d²: largest buffer %s (%s), largest saved activation %s, saved activations %s, weights %s, estimated peak %s",
		m.Variant, m.S, mib(m.Largest), m.LargestWhat, mib(m.LargestSaved), mib(m.Saved), mib(m.Weights), mib(m.Peak))
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// Limits are the device limits an ERF run is checked against (WebGPU names).
type Limits struct {
	MaxStorageBufferBindingSize uint64
	MaxBufferSize               uint64
}

// DefaultLimits are WebGPU's default limits (what a browser grants unless more
// is requested: 128 MiB per storage binding, 256 MiB per buffer).
var DefaultLimits = Limits{MaxStorageBufferBindingSize: 128 << 20, MaxBufferSize: 256 << 20}

// segShape is one segment of InputGradient for the estimate.
type segShape struct {
	what          string
	in, out, hide [3]int // [C, H, W]; hide is the largest internal tensor
}

func vol(d [3]int) int64 { return int64(d[0]) * int64(d[1]) * int64(d[2]) }

// segments lists InputGradient's segments of v at s×s (engine/model
// convnext.go planConvNeXt and replknet.go planRepLK, same geometry).
func segments(v model.Variant, s int) ([]segShape, [3]int, error) {
	var segs []segShape
	switch v.Family {
	case model.SLaK, model.ConvNeXt:
		if s < 32 {
			return nil, [3]int{}, fmt.Errorf("erf: %s needs an input of at least 32², got %d²", v.Label, s)
		}
		h := (s-4)/4 + 1 // stem 4×4/s4, no padding
		cur := [3]int{v.Dims[0], h, h}
		segs = append(segs, segShape{"stem output", [3]int{3, s, s}, cur, cur})
		for st := 0; st < 4; st++ {
			if st > 0 {
				h = (h-2)/2 + 1
				nxt := [3]int{v.Dims[st], h, h}
				segs = append(segs, segShape{fmt.Sprintf("downsample %d output", st), cur, nxt, nxt})
				cur = nxt
			}
			hid := [3]int{v.FFNRatio * v.Dims[st], h, h}
			for j := 0; j < v.Depths[st]; j++ {
				segs = append(segs, segShape{fmt.Sprintf("pre-GELU hidden of stage %d", st), cur, cur, hid})
			}
		}
		return segs, cur, nil
	case model.RepLKNet:
		if s < 32 {
			return nil, [3]int{}, fmt.Errorf("erf: %s needs an input of at least 32², got %d²", v.Label, s)
		}
		half := func(h int) int { return (h+2-3)/2 + 1 } // 3×3/s2, padding 1
		h := half(s)
		c0 := [3]int{v.Dims[0], h, h}
		segs = append(segs,
			segShape{"stem.0 output", [3]int{3, s, s}, c0, c0},
			segShape{"stem.1 output", c0, c0, c0},
			segShape{"stem.2 output", c0, c0, c0})
		h = half(h)
		cur := [3]int{v.Dims[0], h, h}
		segs = append(segs, segShape{"stem.3 output", c0, cur, cur})
		for st := 0; st < 4; st++ {
			hid := [3]int{v.FFNRatio * v.Dims[st], h, h}
			for j := 0; j < v.Depths[st]; j++ {
				segs = append(segs,
					segShape{fmt.Sprintf("RepLKBlock of stage %d", st), cur, cur, cur},
					segShape{fmt.Sprintf("ConvFFN hidden of stage %d", st), cur, cur, hid})
			}
			if st < 3 {
				t0 := [3]int{v.Dims[st+1], h, h}
				h = half(h)
				t1 := [3]int{v.Dims[st+1], h, h}
				segs = append(segs,
					segShape{fmt.Sprintf("transition %d 1×1 output", st), cur, t0, t0},
					segShape{fmt.Sprintf("transition %d output", st), t0, t1, t1})
				cur = t1
			}
		}
		return segs, cur, nil
	}
	return nil, [3]int{}, fmt.Errorf("erf: variant %q has no family", v.Name)
}

// Estimate returns the Memory of one ERF sample of v at s×s.
func Estimate(v model.Variant, s int) (Memory, error) {
	segs, last, err := segments(v, s)
	if err != nil {
		return Memory{}, err
	}
	m := Memory{Variant: v.Label, S: s, v: v}
	for _, e := range model.DeployKeys(v) {
		n := int64(1)
		for _, d := range e.Shape {
			n *= int64(d)
		}
		m.Weights += 4 * n
	}
	if v.Family != model.ConvNeXt { // summed LK branch biases uploaded by model.Load
		for st := 0; st < 4; st++ {
			m.Weights += 4 * int64(v.Depths[st]*v.Dims[st])
		}
	}
	var work int64
	for _, sg := range segs {
		in := 4 * vol(sg.in)
		m.Saved += in
		m.LargestSaved = max(m.LargestSaved, in)
		for _, t := range []struct {
			d    [3]int
			what string
		}{{sg.in, "input"}, {sg.out, sg.what}, {sg.hide, sg.what}} {
			if b := 4 * vol(t.d); b > m.Largest {
				m.Largest = b
				m.LargestWhat = fmt.Sprintf("%s, %d×%d×%d float32", t.what, t.d[0], t.d[1], t.d[2])
			}
		}
		big := max(vol(sg.hide), vol(sg.out))
		work = max(work, 4*(vol(sg.out)+vol(sg.in)+3*big))
	}
	m.Saved += 4 * vol(last)
	m.Peak = m.Weights + m.Saved + work
	return m, nil
}

// Check refuses a run whose largest buffer does not fit the device, with a
// message that says what to do.
func (m Memory) Check(l Limits) error {
	type lim struct {
		name string
		v    uint64
		per  string
	}
	for _, x := range []lim{{"maxStorageBufferBindingSize", l.MaxStorageBufferBindingSize, "per storage binding"}, {"maxBufferSize", l.MaxBufferSize, "per buffer"}} {
		if x.v == 0 || uint64(m.Largest) <= x.v {
			continue
		}
		advice := "no smaller size fits either: use a device with larger limits"
		for i := len(Sizes) - 1; i >= 0; i-- {
			if Sizes[i] >= m.S {
				continue
			}
			// The buffers scale with the area, so a smaller size is checked by
			// estimating it rather than by ratio (rounding of the strides).
			if smaller, err := estimateLike(m, Sizes[i]); err == nil && uint64(smaller) <= min(nz(l.MaxStorageBufferBindingSize), nz(l.MaxBufferSize)) {
				advice = fmt.Sprintf("choose %d² or a device with larger limits", Sizes[i])
				break
			}
		}
		return fmt.Errorf("erf: %s at %d² needs a %s buffer (%s); this device allows %s %s (%s): %s",
			m.Variant, m.S, mib(m.Largest), m.LargestWhat, mib(int64(x.v)), x.per, x.name, advice)
	}
	return nil
}

func nz(v uint64) uint64 {
	if v == 0 {
		return ^uint64(0)
	}
	return v
}

// estimateLike returns the largest buffer of m's variant at side s.
func estimateLike(m Memory, s int) (int64, error) {
	e, err := Estimate(m.v, s)
	return e.Largest, err
}

// LimitsOf returns the limits of a backend: the device's limits for the GPU
// backend, and false for a backend without such limits (the CPU reference).
func LimitsOf(b op.Backend) (Limits, bool) {
	// Any backend that reports a GPU Info (the GPU backend, or a wrapper
	// embedding it).
	g, ok := b.(interface{ Info() gpu.Info })
	if !ok || g == nil {
		return Limits{}, false
	}
	l := g.Info().Limits
	return Limits{MaxStorageBufferBindingSize: l.MaxStorageBufferBindingSize, MaxBufferSize: l.MaxBufferSize}, true
}

// CheckBackend estimates v at s×s and checks it against b's limits (nothing
// to check for a backend without limits).
func CheckBackend(b op.Backend, v model.Variant, s int) error {
	m, err := Estimate(v, s)
	if err != nil {
		return err
	}
	if l, ok := LimitsOf(b); ok {
		return m.Check(l)
	}
	return nil
}
