package model

import (
	"errors"
	"fmt"

	"github.com/slak-web/slak/engine/op"
)

// Net is a loaded network: a variant and its deploy weights uploaded to one
// op.Backend. The same code runs on engine/cpu and engine/gpu.
type Net struct {
	V Variant
	b op.Backend
	// fused is the backend's fused ops, used by Forward when UseFused.
	fused op.Fused
	// UseFused lets Forward use op.Fused when the backend offers it (default
	// true after Load). InputGradient always uses the plain ops.
	UseFused bool
	// LogitsOnly makes Forward skip downloading the four stage maps (one
	// readback per forward instead of five; Output.Stages stay empty).
	LogitsOnly bool
	// FlushEvery submits the backend's recorded work after every FlushEvery
	// segments (a block, a downsampling, a stem) when the backend offers
	// Flush() error (engine/gpu records lazily and frees buffers only at a
	// submit). It bounds the memory held by freed intermediates (an ERF at
	// 1024² frees ~130 MB per SLaK-T stage-0 block) and the work per submit.
	// Load sets 1; 0 never flushes (the backend decides).
	FlushEvery int
	w          map[string]op.Tensor // deploy key → uploaded tensor
	lkBias     map[string]op.Tensor // block prefix → summed branch bias (fused path)
	rm         *lkRemask            // original large-kernel weights kept by RemaskLK (remask.go)
}

// Map is a downloaded feature map [C, H, W] (CHW, row-major).
type Map struct {
	C, H, W int
	Data    []float32
}

// Output is the result of one forward pass.
type Output struct {
	Logits []float32 // [Classes], before softmax
	// Stages are the outputs of the four stages: SLaK/ConvNeXt
	// downsample_layers[i]+stages[i]; RepLKNet stage i before the next
	// transition. Stages[3] is the map the ERF differentiates (no final norm).
	Stages [4]Map
}

// uploadShape is the shape a deploy tensor is uploaded with: depthwise conv
// weights [C,1,KH,KW] as [C,KH,KW], 1×1 conv weights [O,I,1,1] as [O,I]
// (op.Linear), everything else as stored.
func uploadShape(shape []int) []int {
	if len(shape) == 4 && shape[1] == 1 {
		return []int{shape[0], shape[2], shape[3]}
	}
	if len(shape) == 4 && shape[2] == 1 && shape[3] == 1 {
		return []int{shape[0], shape[1]}
	}
	return shape
}

// Load validates every deploy key and shape of deploy against DeployKeys(v),
// then uploads the weights to b: half entries (Param.Half, see half.go) with
// op.HalfUploader.UploadF16 when b has it, widened to float32 otherwise. On
// any error nothing stays allocated.
func Load(b op.Backend, v Variant, deploy StateDict) (*Net, error) {
	if b == nil {
		return nil, errors.New("model: Load: nil backend")
	}
	if err := ValidateDeploy(v, deploy); err != nil {
		return nil, fmt.Errorf("model: Load %s: %w", v.Name, err)
	}
	n := &Net{V: v, b: b, w: map[string]op.Tensor{}, lkBias: map[string]op.Tensor{}, UseFused: true, FlushEvery: 1}
	n.fused, _ = b.(op.Fused)
	hu, _ := b.(op.HalfUploader)
	for _, e := range DeployKeys(v) {
		var t op.Tensor
		var err error
		switch p := deploy[e.Key]; {
		case p.Data == nil && p.Half != nil && hu != nil: // half stays half (half.go)
			t, err = hu.UploadF16(p.Half, uploadShape(e.Shape)...)
		default:
			t, err = b.Upload(p.Float32(), uploadShape(e.Shape)...)
		}
		if err != nil {
			n.Free()
			return nil, fmt.Errorf("model: Load %s: upload %s: %w", v.Name, e.Key, err)
		}
		n.w[e.Key] = t
	}
	// Summed branch biases for op.Fused.DWConvSum.
	for st := 0; st < 4; st++ {
		for j := 0; j < v.Depths[st]; j++ {
			var pre string
			var branches []string
			switch v.Family {
			case SLaK:
				pre = fmt.Sprintf("stages.%d.%d.large_kernel.", st, j)
				branches = []string{"LoRA1", "LoRA2"}
				if v.N < v.Kernels[st] {
					branches = append(branches, "small_conv")
				}
			case RepLKNet:
				pre = fmt.Sprintf("stages.%d.blocks.%d.large_kernel.", st, 2*j)
				branches = []string{"lkb_origin", "small_conv"}
			default:
				continue
			}
			sum := make([]float32, v.Dims[st])
			for _, br := range branches {
				for c, x := range deploy[pre+br+".bias"].Data {
					sum[c] += x
				}
			}
			t, err := b.Upload(sum, len(sum))
			if err != nil {
				n.Free()
				return nil, fmt.Errorf("model: Load %s: upload %sbias sum: %w", v.Name, pre, err)
			}
			n.lkBias[pre] = t
		}
	}
	return n, nil
}

// Free releases every uploaded tensor. The Net is unusable afterwards.
func (n *Net) Free() {
	if n == nil || n.b == nil {
		return
	}
	for _, e := range DeployKeys(n.V) { // fixed order, not map order
		if t, ok := n.w[e.Key]; ok {
			n.b.Free(t)
		}
	}
	for _, t := range n.lkBias {
		n.b.Free(t)
	}
	n.freeRemask()
	n.w, n.lkBias = nil, nil
	n.b = nil
}

// Backend returns the backend the net runs on.
func (n *Net) Backend() op.Backend { return n.b }

func (n *Net) free(ts ...op.Tensor) {
	for _, t := range ts {
		if t != nil {
			n.b.Free(t)
		}
	}
}

// flusher is implemented by backends that record work lazily (engine/gpu).
type flusher interface{ Flush() error }

// maybeFlush submits recorded work after segment i when FlushEvery says so.
func (n *Net) maybeFlush(i int) error {
	f, ok := n.b.(flusher)
	if !ok || n.FlushEvery <= 0 || (i+1)%n.FlushEvery != 0 {
		return nil
	}
	return f.Flush()
}

// dims is a feature-map shape.
type dims struct{ C, H, W int }

func (d dims) hw() int  { return d.H * d.W }
func (d dims) len() int { return d.C * d.H * d.W }

// segment is one piece of the network between saved activations: the
// forward, and the input gradient recomputed from the segment's input.
type segment struct {
	name     string
	in, out  dims
	stageEnd int // the stage whose output this segment produces, or -1
	fwd      func(x op.Tensor) (op.Tensor, error)
	bwd      func(x, dy op.Tensor) (op.Tensor, error)
}

// plan builds the segments for an h×w input.
func (n *Net) plan(h, w int) ([]segment, error) {
	if n == nil || n.b == nil {
		return nil, errors.New("model: net is not loaded (or was freed)")
	}
	if h <= 0 || w <= 0 {
		return nil, fmt.Errorf("model: %s: input %d×%d must be positive", n.V.Name, h, w)
	}
	switch n.V.Family {
	case SLaK, ConvNeXt:
		return n.planConvNeXt(h, w)
	case RepLKNet:
		return n.planRepLK(h, w), nil
	}
	return nil, fmt.Errorf("model: %s: unknown family %v", n.V.Name, n.V.Family)
}

// ForwardTensor runs the network on x, a backend tensor of shape [3, H, W]
// that stays owned by the caller.
func (n *Net) ForwardTensor(x op.Tensor) (*Output, error) {
	if x == nil {
		return nil, errors.New("model: ForwardTensor: nil input")
	}
	s := x.Shape()
	if len(s) != 3 || s[0] != 3 {
		return nil, fmt.Errorf("model: %s: input has shape %v, want [3 H W]", n.V.Name, s)
	}
	segs, err := n.plan(s[1], s[2])
	if err != nil {
		return nil, err
	}
	out := &Output{}
	cur := x
	for i, sg := range segs {
		y, err := sg.fwd(cur)
		if cur != x {
			n.b.Free(cur)
		}
		if err != nil {
			return nil, fmt.Errorf("model: %s forward, %s (segment %d): %w", n.V.Name, sg.name, i, err)
		}
		cur = y
		if err := n.maybeFlush(i); err != nil {
			n.b.Free(cur)
			return nil, fmt.Errorf("model: %s forward, %s: flush: %w", n.V.Name, sg.name, err)
		}
		if sg.stageEnd >= 0 && !n.LogitsOnly {
			data, err := n.b.Download(cur)
			if err != nil {
				n.b.Free(cur)
				return nil, fmt.Errorf("model: %s forward: download stage %d: %w", n.V.Name, sg.stageEnd, err)
			}
			out.Stages[sg.stageEnd] = Map{C: sg.out.C, H: sg.out.H, W: sg.out.W, Data: data}
		}
	}
	last := segs[len(segs)-1].out
	logits, err := n.head(cur, last)
	if cur != x {
		n.b.Free(cur)
	}
	if err != nil {
		return nil, fmt.Errorf("model: %s forward, head: %w", n.V.Name, err)
	}
	out.Logits, err = n.b.Download(logits)
	n.b.Free(logits)
	if err != nil {
		return nil, fmt.Errorf("model: %s forward: download logits: %w", n.V.Name, err)
	}
	return out, nil
}

// Forward uploads x [3, H, W] (CHW, normalised) and runs the network.
func (n *Net) Forward(x []float32, h, w int) (*Output, error) {
	if n == nil || n.b == nil {
		return nil, errors.New("model: net is not loaded (or was freed)")
	}
	if len(x) != 3*h*w || h <= 0 || w <= 0 {
		return nil, fmt.Errorf("model: %s: input has %d values, want 3×%d×%d = %d", n.V.Name, len(x), h, w, 3*h*w)
	}
	t, err := n.b.Upload(x, 3, h, w)
	if err != nil {
		return nil, fmt.Errorf("model: %s: upload input: %w", n.V.Name, err)
	}
	defer n.b.Free(t)
	return n.ForwardTensor(t)
}

// InputGradient computes one image's ERF contribution (SLAK.md §4.1): with F
// the last-stage map [C, h, w] (no final norm) and
//
//	S = Σ_c max(F[c, h/2, w/2], 0),
//
// grad = dS/dx [3, H, W] (the seed is dF[c, h/2, w/2] = 1 where F > 0, 0
// elsewhere) and erfMap[y, x] = Σ_rgb max(grad[rgb, y, x], 0) [H, W]. It runs a
// forward that keeps every segment's input, then the backward with the
// backend's input-gradient ops only, recomputing each segment's internals
// from its saved input and freeing them as it goes.
func (n *Net) InputGradient(x []float32, h, w int) (grad, erfMap []float32, err error) {
	if n == nil || n.b == nil {
		return nil, nil, errors.New("model: net is not loaded (or was freed)")
	}
	if len(x) != 3*h*w || h <= 0 || w <= 0 {
		return nil, nil, fmt.Errorf("model: %s: input has %d values, want 3×%d×%d = %d", n.V.Name, len(x), h, w, 3*h*w)
	}
	segs, err := n.plan(h, w)
	if err != nil {
		return nil, nil, err
	}
	saved := make([]op.Tensor, len(segs)+1) // saved[i] = input of segment i; saved[len] = F
	defer func() { n.free(saved...) }()
	if saved[0], err = n.b.Upload(x, 3, h, w); err != nil {
		return nil, nil, fmt.Errorf("model: %s: upload input: %w", n.V.Name, err)
	}
	for i, sg := range segs {
		if saved[i+1], err = sg.fwd(saved[i]); err != nil {
			return nil, nil, fmt.Errorf("model: %s ERF forward, %s: %w", n.V.Name, sg.name, err)
		}
		if err := n.maybeFlush(i); err != nil {
			return nil, nil, fmt.Errorf("model: %s ERF forward, %s: flush: %w", n.V.Name, sg.name, err)
		}
	}
	fd := segs[len(segs)-1].out
	f, err := n.b.Download(saved[len(segs)])
	if err != nil {
		return nil, nil, fmt.Errorf("model: %s ERF: download last stage: %w", n.V.Name, err)
	}
	n.b.Free(saved[len(segs)])
	saved[len(segs)] = nil
	seed := make([]float32, fd.len()) // [C, h, w]
	centre := (fd.H/2)*fd.W + fd.W/2
	for c := 0; c < fd.C; c++ {
		if f[c*fd.hw()+centre] > 0 {
			seed[c*fd.hw()+centre] = 1
		}
	}
	dy, err := n.b.Upload(seed, fd.C, fd.H, fd.W)
	if err != nil {
		return nil, nil, fmt.Errorf("model: %s ERF: upload seed: %w", n.V.Name, err)
	}
	for i := len(segs) - 1; i >= 0; i-- {
		dx, err := segs[i].bwd(saved[i], dy)
		n.b.Free(dy)
		if err != nil {
			return nil, nil, fmt.Errorf("model: %s ERF backward, %s: %w", n.V.Name, segs[i].name, err)
		}
		dy = dx
		if err := n.maybeFlush(i); err != nil {
			n.b.Free(dy)
			return nil, nil, fmt.Errorf("model: %s ERF backward, %s: flush: %w", n.V.Name, segs[i].name, err)
		}
		if i > 0 {
			n.b.Free(saved[i])
			saved[i] = nil
		}
	}
	grad, err = n.b.Download(dy)
	n.b.Free(dy)
	if err != nil {
		return nil, nil, fmt.Errorf("model: %s ERF: download gradient: %w", n.V.Name, err)
	}
	erfMap = make([]float32, h*w)
	for c := 0; c < 3; c++ {
		for p := 0; p < h*w; p++ {
			if g := grad[c*h*w+p]; g > 0 {
				erfMap[p] += g
			}
		}
	}
	return grad, erfMap, nil
}
