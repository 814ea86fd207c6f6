package model

import (
	"strings"

	"github.com/slak-web/slak/engine/op"
)

// Half weights (issue 6, item 6): an F16 model file's GEMM weights can stay binary16 from the
// file to the device, half the memory of float32 in the wasm heap and on the GPU.
// weights/convert.LoadModelFile keeps them as Param.Half (Data nil) for the keys HalfKey
// accepts; Load uploads them with op.HalfUploader when the backend has it (engine/gpu), and
// widened to float32 otherwise. Their values are exactly the file's, as before: the file holds
// the deploy form (BatchNorms already folded in float32 by Convert, then rounded once to f16),
// and nothing at load time changes these tensors.

// HalfKey reports whether deploy entry e may stay half: the weight of a dense convolution or a
// linear layer, which only the GEMM paths of op.Backend read (Conv2D, Linear, their input
// gradients and the fused pointwise ops):
//
//	SLaK, ConvNeXt: the stem and downsample convs, pwconv1/pwconv2, the head
//	RepLKNet:       stem.0 (3×3/2) and stem.2 (1×1), pw1/pw2 of every block, transitions.i.0, the head
//
// Depthwise kernels ([C,1,KH,KW]: SLaK's LK branches, ConvNeXt's dwconv, RepLKNet's
// large_kernel/stem/transition depthwise), which the ERF tools (engine/erf, remask.go) read and
// re-mask on the host, biases, norms and layer scales stay float32.
func HalfKey(e Entry) bool {
	if !strings.HasSuffix(e.Key, ".weight") || strings.Contains(e.Key, "large_kernel") || strings.Contains(e.Key, "dwconv") {
		return false
	}
	return len(e.Shape) == 2 || len(e.Shape) == 4 && e.Shape[1] > 1
}

// Len is the number of values of p (float32 or half).
func (p Param) Len() int {
	if p.Data == nil {
		return len(p.Half)
	}
	return len(p.Data)
}

// Float32 returns p's values as float32: Data, or Half widened exactly.
func (p Param) Float32() []float32 {
	if p.Data == nil && p.Half != nil {
		return op.F16SliceToF32(p.Half)
	}
	return p.Data
}

// Widen returns a copy of deploy with every half entry widened to float32 (for code that
// reads Data on the host).
func Widen(deploy StateDict) StateDict {
	out := make(StateDict, len(deploy))
	for k, p := range deploy {
		if p.Data == nil && p.Half != nil {
			p = Param{Shape: p.Shape, Data: p.Float32()}
		}
		out[k] = p
	}
	return out
}

// WeightBytes is what Load puts on a backend for deploy's tensors: 4 bytes per float32 value,
// and per half value 2 when half is true (a backend with op.HalfUploader; engine/gpu rounds
// each half tensor up to 16 bytes, see gpu.HalfBytes) or 4 when it widens them.
func WeightBytes(v Variant, deploy StateDict, half bool) (f32Bytes, halfBytes int64) {
	for _, e := range DeployKeys(v) {
		p := deploy[e.Key]
		switch {
		case p.Data == nil && p.Half != nil && half:
			halfBytes += int64((len(p.Half)+7)/8) * 16
		default:
			f32Bytes += 4 * int64(p.Len())
		}
	}
	return
}
