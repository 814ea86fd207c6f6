package model

import (
	"fmt"
	"math"
	"sort"

	"github.com/slak-web/slak/engine/op"
)

// MaxRemaskSparsity is the largest sparsity RemaskLK accepts (the ERF page's slider range; the
// same bound as erf.Remask).
const MaxRemaskSparsity = 0.9

// deviceRemasker is implemented by backends that re-mask on the device (engine/gpu): Remask writes
// into dst the n entries of orig with the round(s·n) smallest |w| zeroed (erf.MaskByMagnitude,
// bit for bit), Clone copies a tensor on the device.
type deviceRemasker interface {
	Remask(orig, dst op.Tensor, n int, sparsity float64) error
	Clone(x op.Tensor) (op.Tensor, error)
}

// lkRemask holds the original large-kernel weights of a Net, kept the first time it is re-masked:
// on the device (dev) for a deviceRemasker, else on the host.
type lkRemask struct {
	dev  map[string]op.Tensor // deploy key → original weights (device copy)
	host map[string][]float32 // deploy key → original weights (host copy) [C·KH·KW]
	s    float64              // sparsity applied now
}

// LKKeys returns the deploy keys of v's large-kernel depthwise weights in forward order, the
// tensors that RemaskLK (and erf.Remask, erf.LKLayers) re-mask: SLaK's LoRA1, LoRA2 and (when
// N < K) small_conv weights; ConvNeXt's dwconv; RepLKNet's lkb_origin and small_conv.
func LKKeys(v Variant) []string {
	var keys []string
	for st := 0; st < 4; st++ {
		for j := 0; j < v.Depths[st]; j++ {
			switch v.Family {
			case SLaK:
				pre := fmt.Sprintf("stages.%d.%d.large_kernel.", st, j)
				keys = append(keys, pre+"LoRA1.weight", pre+"LoRA2.weight")
				if v.N < v.Kernels[st] {
					keys = append(keys, pre+"small_conv.weight")
				}
			case ConvNeXt:
				keys = append(keys, fmt.Sprintf("stages.%d.%d.dwconv.weight", st, j))
			case RepLKNet:
				pre := fmt.Sprintf("stages.%d.blocks.%d.large_kernel.", st, 2*j)
				keys = append(keys, pre+"lkb_origin.weight", pre+"small_conv.weight")
			}
		}
	}
	return keys
}

// RemaskLK re-masks every large-kernel depthwise weight of the loaded net in place (LKKeys), one
// tensor at a time as SLaK's pruning does: in each, the round(sparsity·numel) entries of smallest
// magnitude among the ORIGINAL loaded weights become 0 (ties lowest index first; zeros already
// there count), which is what Load(erf.Remask(deploy, v, sparsity)) would give without re-uploading
// the whole network. sparsity 0 restores the originals; it must be in [0, 0.9]. The branch biases
// (BatchNorm-folded, and their fused sums) are not affected.
//
// On a backend with device re-masking (engine/gpu) the originals are copied on the device the
// first time and the weights never leave it; elsewhere (engine/cpu) the originals are downloaded
// once and each masked tensor is uploaded in place of the old one. On an error part of the
// tensors may be re-masked; calling again (or with 0) puts them all back in step.
func (n *Net) RemaskLK(sparsity float64) error {
	if n == nil || n.b == nil {
		return fmt.Errorf("model: RemaskLK: net is not loaded")
	}
	if !(sparsity >= 0 && sparsity <= MaxRemaskSparsity) {
		return fmt.Errorf("model: RemaskLK %s: sparsity %g outside [0, %g]", n.V.Name, sparsity, MaxRemaskSparsity)
	}
	if n.rm == nil {
		n.rm = &lkRemask{dev: map[string]op.Tensor{}, host: map[string][]float32{}}
	}
	dr, onDevice := n.b.(deviceRemasker)
	for _, key := range LKKeys(n.V) {
		w, ok := n.w[key]
		if !ok {
			return fmt.Errorf("model: RemaskLK %s: no weight %s", n.V.Name, key)
		}
		if onDevice {
			orig, ok := n.rm.dev[key]
			if !ok {
				if sparsity == 0 {
					continue // never re-masked: already the original
				}
				c, err := dr.Clone(w)
				if err != nil {
					return fmt.Errorf("model: RemaskLK %s: keep %s: %w", n.V.Name, key, err)
				}
				orig, n.rm.dev[key] = c, c
			}
			if err := dr.Remask(orig, w, w.Len(), sparsity); err != nil {
				return fmt.Errorf("model: RemaskLK %s: %s: %w", n.V.Name, key, err)
			}
			continue
		}
		orig, ok := n.rm.host[key]
		if !ok {
			if sparsity == 0 {
				continue
			}
			d, err := n.b.Download(w)
			if err != nil {
				return fmt.Errorf("model: RemaskLK %s: download %s: %w", n.V.Name, key, err)
			}
			orig, n.rm.host[key] = d, d
		}
		t, err := n.b.Upload(maskByMagnitude(orig, sparsity), w.Shape()...)
		if err != nil {
			return fmt.Errorf("model: RemaskLK %s: upload %s: %w", n.V.Name, key, err)
		}
		n.b.Free(w)
		n.w[key] = t
	}
	n.rm.s = sparsity
	if f, ok := n.b.(flusher); ok && onDevice {
		if err := f.Flush(); err != nil {
			return fmt.Errorf("model: RemaskLK %s: %w", n.V.Name, err)
		}
	}
	return nil
}

// RemaskSparsity returns the sparsity RemaskLK last applied (0 when never called).
func (n *Net) RemaskSparsity() float64 {
	if n == nil || n.rm == nil {
		return 0
	}
	return n.rm.s
}

// freeRemask releases the kept originals (Free calls it).
func (n *Net) freeRemask() {
	if n.rm == nil {
		return
	}
	for _, key := range LKKeys(n.V) { // fixed order, not map order
		if t, ok := n.rm.dev[key]; ok {
			n.b.Free(t)
		}
	}
	n.rm = nil
}

// maskByMagnitude is the host path's re-mask, the plain form of erf.MaskByMagnitude (which this
// package cannot import): a copy of w [numel] with the round(sparsity·numel) entries of smallest
// |w| set to 0, ties in index order (a stable sort by |w|).
func maskByMagnitude(w []float32, sparsity float64) []float32 {
	out := append([]float32(nil), w...)
	drop := int(math.Round(sparsity * float64(len(w))))
	idx := make([]int, len(w))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool {
		return math.Abs(float64(w[idx[a]])) < math.Abs(float64(w[idx[b]]))
	})
	for _, i := range idx[:drop] {
		out[i] = 0
	}
	return out
}
