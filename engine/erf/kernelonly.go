package erf

import (
	"fmt"
	"math"

	"github.com/slak-web/slak/engine/model"
)

// spatial is one layer of the kernel-only network: a single-channel
// cross-correlation y[oy, ox] = Σ k[ky, kx] · x[oy·S+ky−P, ox·S+kx−P] (zero
// padding) from an h×w map to an oh×ow map.
type spatial struct {
	k          []float64 // [kh, kw], non-negative
	kh, kw     int
	stride, pd int
	h, w       int // input size
	oh, ow     int // output size
}

func newSpatial(k []float64, kh, kw, stride, pd, h, w int) spatial {
	return spatial{k: k, kh: kh, kw: kw, stride: stride, pd: pd, h: h, w: w,
		oh: (h+2*pd-kh)/stride + 1, ow: (w+2*pd-kw)/stride + 1}
}

func ones(n int) []float64 {
	k := make([]float64, n)
	for i := range k {
		k[i] = 1
	}
	return k
}

// transpose applies the adjoint of the layer: dx[iy, ix] = Σ_{oy,ox,ky,kx :
// oy·S+ky−P = iy, ox·S+kx−P = ix} k[ky, kx] · dy[oy, ox], skipping zero dy
// (the impulse stays sparse through the first layers).
func (l spatial) transpose(dy []float64) []float64 {
	dx := make([]float64, l.h*l.w)
	for oy := 0; oy < l.oh; oy++ {
		for ox := 0; ox < l.ow; ox++ {
			g := dy[oy*l.ow+ox]
			if g == 0 {
				continue
			}
			for ky := 0; ky < l.kh; ky++ {
				iy := oy*l.stride + ky - l.pd
				if iy < 0 || iy >= l.h {
					continue
				}
				row := dx[iy*l.w:]
				krow := l.k[ky*l.kw:]
				for kx := 0; kx < l.kw; kx++ {
					ix := ox*l.stride + kx - l.pd
					if ix >= 0 && ix < l.w {
						row[ix] += g * krow[kx]
					}
				}
			}
		}
	}
	return dx
}

// meanAbsMerged returns k̄ = (1/C) Σ_c |M_c| [K, K] of one LK layer, M_c the
// merged kernel of channel c (Kernels).
func meanAbsMerged(deploy model.StateDict, v model.Variant, l LKLayer) ([]float64, error) {
	k := make([]float64, l.K*l.K)
	for c := 0; c < l.C; c++ {
		_, _, _, m, err := channelKernels(deploy, v, l, c)
		if err != nil {
			return nil, err
		}
		for i, x := range m {
			k[i] += math.Abs(float64(x))
		}
	}
	for i := range k {
		k[i] /= float64(l.C)
	}
	return k, nil
}

// kernelOnlyNet builds the layers of the kernel-only network of v at s×s, in
// forward order (see KernelOnly).
func kernelOnlyNet(v model.Variant, deploy model.StateDict, s int) ([]spatial, error) {
	if s < 32 {
		return nil, fmt.Errorf("erf.KernelOnly: %s needs an input of at least 32², got %d²", v.Label, s)
	}
	lks := LKLayers(v)
	var net []spatial
	h := s
	add := func(k []float64, kh, kw, stride, pd int) {
		l := newSpatial(k, kh, kw, stride, pd, h, h)
		net = append(net, l)
		h = l.oh
	}
	addLK := func(l LKLayer) error {
		k, err := meanAbsMerged(deploy, v, l)
		if err != nil {
			return err
		}
		add(k, l.K, l.K, 1, l.K/2)
		return nil
	}
	switch v.Family {
	case model.SLaK, model.ConvNeXt:
		add(ones(16), 4, 4, 4, 0)
		for _, l := range lks {
			if l.Stage > 0 && l.Block == 0 {
				add(ones(4), 2, 2, 2, 0)
			}
			if err := addLK(l); err != nil {
				return nil, err
			}
		}
	case model.RepLKNet:
		add(ones(9), 3, 3, 2, 1)
		add(ones(9), 3, 3, 1, 1)
		add(ones(9), 3, 3, 2, 1)
		for _, l := range lks {
			if l.Stage > 0 && l.Block == 0 {
				add(ones(9), 3, 3, 2, 1)
			}
			if err := addLK(l); err != nil {
				return nil, err
			}
		}
	default:
		return nil, fmt.Errorf("erf.KernelOnly: variant %q has no family", v.Name)
	}
	return net, nil
}

// KernelOnly is the "what the kernels alone can reach" view: an impulse at
// the centre of the last-stage map pushed back through a network made of the
// variant's spatial layers only. Precisely, every layer with a spatial extent
// becomes a single-channel, non-negative cross-correlation with that layer's
// size, stride and zero padding:
//
//   - each large-kernel layer (SLaK's three branches, ConvNeXt's 7×7,
//     RepLKNet's K×K + 5×5): the channel mean of the absolute merged kernel,
//     k̄ = (1/C) Σ_c |M_c| (K×K, "same" padding K/2);
//   - the downsampling geometry, with all-ones kernels: SLaK/ConvNeXt stem
//     4×4/4 and downsampling 2×2/2 (no padding); RepLKNet stem 3×3/2, 3×3/1,
//     3×3/2 and transitions 3×3/2 (padding 1).
//
// With L the composite linear map from an s×s input to the h×w last-stage
// grid and e the impulse at (h/2, w/2) (the ERF's centre pixel),
//
//	KO = Lᵀ e,   i.e. KO[y, x] = (L δ_{y,x})[h/2, w/2],
//
// scaled so that max KO = 1. Residual paths, 1×1 layers, normalisations and
// nonlinearities are left out, so KO is independent of any image; it is the
// shape of the kernels' composed support weighted by their magnitudes, not
// an ERF. Cost: Σ_layers (pixels × taps) of the transposed correlations,
// skipping zero pixels (SLaK-T at 224²: ~30 M multiply-adds).
func KernelOnly(v model.Variant, deploy model.StateDict, s int) (Map, error) {
	net, err := kernelOnlyNet(v, deploy, s)
	if err != nil {
		return Map{}, err
	}
	last := net[len(net)-1]
	d := make([]float64, last.oh*last.ow)
	d[(last.oh/2)*last.ow+last.ow/2] = 1
	for i := len(net) - 1; i >= 0; i-- {
		d = net[i].transpose(d)
		// Rescale to max 1 at every step (the map is linear in each kernel's
		// scale, so only the shape matters) to keep float64 far from
		// under- or overflow over ~40 layers.
		var mx float64
		for _, x := range d {
			mx = math.Max(mx, x)
		}
		if mx == 0 {
			return Map{}, fmt.Errorf("erf.KernelOnly: %s at %d²: the kernels reach nothing (all-zero kernels?)", v.Label, s)
		}
		for j := range d {
			d[j] /= mx
		}
	}
	out := make([]float32, len(d))
	for i, x := range d {
		out[i] = float32(x)
	}
	return Map{H: s, W: s, Data: out}, nil
}
