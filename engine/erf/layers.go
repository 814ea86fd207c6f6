package erf

import (
	"fmt"

	"github.com/slak-web/slak/engine/model"
)

// LKLayer is one large-kernel (depthwise) layer of a variant: a SLaK block's
// three branches, a ConvNeXt block's 7×7 dwconv, or a RepLKBlock's K×K + 5×5.
type LKLayer struct {
	Index  int    // position among the variant's LK layers, 0 … Σ depths − 1
	Stage  int    // 0 … 3
	Block  int    // block within the stage
	Prefix string // deploy key prefix of the block, e.g. "stages.2.1."
	C      int    // channels
	K      int    // large kernel side (the merged kernel is K×K)
	N      int    // SLaK's short edge / RepLKNet's small kernel; 0 for ConvNeXt
	// Branches are the deploy weight keys of the layer's depthwise kernels, in
	// the order tall K×N, wide N×K, small N×N (SLaK); K×K (ConvNeXt); K×K,
	// N×N (RepLKNet).
	Branches []string
}

// LKLayers lists v's large-kernel layers in forward order.
func LKLayers(v model.Variant) []LKLayer {
	var out []LKLayer
	for st := 0; st < 4; st++ {
		for j := 0; j < v.Depths[st]; j++ {
			l := LKLayer{Index: len(out), Stage: st, Block: j, C: v.Dims[st], K: v.Kernels[st]}
			switch v.Family {
			case model.SLaK:
				l.Prefix = fmt.Sprintf("stages.%d.%d.", st, j)
				l.N = v.N
				l.Branches = []string{l.Prefix + "large_kernel.LoRA1.weight", l.Prefix + "large_kernel.LoRA2.weight"}
				if v.N < l.K {
					l.Branches = append(l.Branches, l.Prefix+"large_kernel.small_conv.weight")
				}
			case model.ConvNeXt:
				l.Prefix = fmt.Sprintf("stages.%d.%d.", st, j)
				l.Branches = []string{l.Prefix + "dwconv.weight"}
			case model.RepLKNet:
				l.Prefix = fmt.Sprintf("stages.%d.blocks.%d.", st, 2*j)
				l.N = v.N
				l.Branches = []string{l.Prefix + "large_kernel.lkb_origin.weight", l.Prefix + "large_kernel.small_conv.weight"}
			}
			out = append(out, l)
		}
	}
	return out
}

// Kernels returns the kernel-viewer data of one channel of LK layer `layer`
// of v, from deploy weights (BatchNorm folded, as model.Convert writes them):
//
//   - SLaK: tall [K, N] (LoRA1), wide [N, K] (LoRA2), small [N, N]
//     (small_conv), merged [K, K] = Merge(tall, wide, small);
//   - ConvNeXt: merged = dwconv [7, 7]; tall, wide, small nil;
//   - RepLKNet: small = small_conv [5, 5]; merged = lkb_origin [K, K] + small
//     centred; tall, wide nil.
//
// density is the layer's density: the fraction of non-zero weights over all
// its branches and channels (SLaK's `(w != 0).mean()` per tensor, pooled).
func Kernels(deploy model.StateDict, v model.Variant, layer, channel int) (tall, wide, small, merged []float32, density float64, err error) {
	layers := LKLayers(v)
	if layer < 0 || layer >= len(layers) {
		return nil, nil, nil, nil, 0, fmt.Errorf("erf.Kernels: %s has %d large-kernel layers, asked for %d", v.Label, len(layers), layer)
	}
	l := layers[layer]
	if channel < 0 || channel >= l.C {
		return nil, nil, nil, nil, 0, fmt.Errorf("erf.Kernels: layer %d of %s has %d channels, asked for %d", layer, v.Label, l.C, channel)
	}
	for _, key := range l.Branches {
		if _, ok := deploy[key]; !ok {
			return nil, nil, nil, nil, 0, fmt.Errorf("erf.Kernels: deploy weights lack %s", key)
		}
	}
	nz, total := 0, 0
	for _, key := range l.Branches {
		for _, x := range deploy[key].Data {
			if x != 0 {
				nz++
			}
		}
		total += len(deploy[key].Data)
	}
	tall, wide, small, merged, err = channelKernels(deploy, v, l, channel)
	if err != nil {
		return nil, nil, nil, nil, 0, err
	}
	return tall, wide, small, merged, float64(nz) / float64(total), nil
}

// channelKernels is Kernels without the density, for one LK layer l.
func channelKernels(deploy model.StateDict, v model.Variant, l LKLayer, channel int) (tall, wide, small, merged []float32, err error) {
	chans := make([][]float32, len(l.Branches))
	for i, key := range l.Branches {
		p, ok := deploy[key]
		if !ok {
			return nil, nil, nil, nil, fmt.Errorf("erf.Kernels: deploy weights lack %s", key)
		}
		if len(p.Data)%l.C != 0 || len(p.Data) == 0 {
			return nil, nil, nil, nil, fmt.Errorf("erf.Kernels: %s has %d values, not a multiple of %d channels", key, len(p.Data), l.C)
		}
		per := len(p.Data) / l.C
		chans[i] = append([]float32(nil), p.Data[channel*per:(channel+1)*per]...)
	}
	switch v.Family {
	case model.SLaK:
		tall, wide = chans[0], chans[1]
		if len(chans) > 2 {
			small = chans[2]
		}
		merged, err = Merge(tall, wide, small, l.K, l.N)
	case model.ConvNeXt:
		merged = chans[0]
		if len(merged) != l.K*l.K {
			err = fmt.Errorf("erf.Kernels: %s has %d values per channel, want %d", l.Branches[0], len(merged), l.K*l.K)
		}
	case model.RepLKNet:
		small = chans[1]
		merged, err = Merge(nil, nil, small, l.K, l.N)
		if err == nil && len(chans[0]) == l.K*l.K {
			for i, x := range chans[0] {
				merged[i] += x
			}
		} else if err == nil {
			err = fmt.Errorf("erf.Kernels: %s has %d values per channel, want %d", l.Branches[0], len(chans[0]), l.K*l.K)
		}
	}
	if err != nil {
		return nil, nil, nil, nil, err
	}
	return tall, wide, small, merged, nil
}

// Remask returns deploy with every large-kernel (depthwise) weight tensor of
// v re-masked by magnitude to the given sparsity (0 … 0.9): in each tensor
// (each SLaK branch LoRA1/LoRA2/small_conv, ConvNeXt's dwconv, RepLKNet's
// lkb_origin and small_conv, one layer at a time as SLaK's pruning does) the
// round(sparsity·numel) smallest |w| become 0 (MaskByMagnitude). Every other
// entry is shared with deploy, not copied.
//
// Two consequences of working on deploy weights: (1) magnitudes are those
// after BatchNorm folding (w·γ/σ per channel), which is what the network
// applies; (2) weights that are already zero (SLaK's trained 40 %) stay zero,
// so a sparsity below the tensor's own zero fraction changes nothing: zeros
// cannot be regrown.
func Remask(deploy model.StateDict, v model.Variant, sparsity float64) (model.StateDict, error) {
	if !(sparsity >= 0 && sparsity <= 0.9) {
		return nil, fmt.Errorf("erf.Remask: sparsity %g outside [0, 0.9]", sparsity)
	}
	out := make(model.StateDict, len(deploy))
	for k, p := range deploy {
		out[k] = p
	}
	for _, l := range LKLayers(v) {
		for _, key := range l.Branches {
			p, ok := deploy[key]
			if !ok {
				return nil, fmt.Errorf("erf.Remask: deploy weights lack %s", key)
			}
			w, err := MaskByMagnitude(p.Data, sparsity)
			if err != nil {
				return nil, err
			}
			out[key] = model.Param{Shape: p.Shape, Data: w}
		}
	}
	return out, nil
}

// VariantLayers returns v's spatial path for TheoreticalRF: every layer with
// a kernel larger than 1×1 or a stride, in forward order. Each LK layer
// counts as its merged K×K kernel (the union of the branches' supports);
// 1×1 convs and the MLP/ConvFFN add nothing.
//
//	SLaK, ConvNeXt: stem 4×4/4, then per stage (downsample 2×2/2 for stages 1–3) depth × K×K/1
//	RepLKNet:       stem 3×3/2, 3×3/1, 3×3/2, then per stage depth × K×K/1 and (stages 0–2) a 3×3/2 transition
func VariantLayers(v model.Variant) []Layer {
	var ls []Layer
	switch v.Family {
	case model.SLaK, model.ConvNeXt:
		ls = append(ls, Layer{4, 4, 4})
		for st := 0; st < 4; st++ {
			if st > 0 {
				ls = append(ls, Layer{2, 2, 2})
			}
			for j := 0; j < v.Depths[st]; j++ {
				ls = append(ls, Layer{v.Kernels[st], v.Kernels[st], 1})
			}
		}
	case model.RepLKNet:
		ls = append(ls, Layer{3, 3, 2}, Layer{3, 3, 1}, Layer{3, 3, 2})
		for st := 0; st < 4; st++ {
			k := max(v.Kernels[st], v.N)
			for j := 0; j < v.Depths[st]; j++ {
				ls = append(ls, Layer{k, k, 1})
			}
			if st < 3 {
				ls = append(ls, Layer{3, 3, 2})
			}
		}
	}
	return ls
}

// VariantRF is the theoretical receptive field (height, width in input
// pixels) of one last-stage pixel of v: TheoreticalRF(VariantLayers(v)).
func VariantRF(v model.Variant) (h, w int) { return TheoreticalRF(VariantLayers(v)) }
