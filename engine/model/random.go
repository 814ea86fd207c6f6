package model

import (
	"fmt"
	"math"
	"strings"
)

// splitmix64 is the seeding step of xoshiro (Vigna): a bijective 64-bit mix.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// xorshift64star is Marsaglia's xorshift with a multiplicative output
// (Vigna's xorshift64*); the state must be non-zero.
type xorshift64star uint64

func (s *xorshift64star) next() uint64 {
	x := uint64(*s)
	x ^= x >> 12
	x ^= x << 25
	x ^= x >> 27
	*s = xorshift64star(x)
	return x * 0x2545f4914f6cdd1d
}

// RandomWeights returns deploy weights for v (the keys of DeployKeys(v)) drawn
// from a fixed generator, so the browser can show a working network without
// a download. Untrained: the predictions mean nothing.
//
//   - conv and linear weights: approximately normal with std 1/sqrt(fan_in)
//     (fan_in = Cin/groups·KH·KW, or In), the sum of three 16-bit uniforms
//     (Irwin–Hall, n = 3) centred and scaled; then a fraction `sparsity` of
//     every 2-D/4-D weight is zeroed by a Bernoulli mask drawn from the top 16
//     bits of the same 64-bit draw (resolution 2⁻¹⁶), like
//     SLaK's 40% unstructured sparsity (SLAK.md §1.5);
//   - biases 0; LayerNorm/BatchNorm weights 1, biases 0; BN running_mean 0,
//     running_var 1; layer-scale gamma 1.
//
// Each tensor has its own generator seeded by splitmix64(seed, tensor index),
// and all arithmetic is integer except one float32 multiply per value, so the
// result is identical on every GOOS/GOARCH.
func RandomWeights(v Variant, seed uint64, sparsity float64) (StateDict, error) {
	return RandomWeightsProgress(v, seed, sparsity, nil)
}

// RandomWeightsProgress is RandomWeights calling progress(done, total) (in
// values) after each tensor, so a single-threaded caller (Go wasm) can report
// progress and yield (time.Sleep) between tensors. progress may be nil.
func RandomWeightsProgress(v Variant, seed uint64, sparsity float64, progress func(done, total int)) (StateDict, error) {
	return RandomWeightsEach(v, seed, sparsity, progress, nil)
}

// RandomWeightsEach is RandomWeightsProgress that passes each tensor, as soon
// as it is drawn, through keep (when not nil) and stores what keep returns:
// e.g. weights/convert.HalfParam, so that the float32 of a tensor kept half is
// garbage before the next one is drawn (the peak heap of the whole dict in
// float32 is never reached).
func RandomWeightsEach(v Variant, seed uint64, sparsity float64, progress func(done, total int), keep func(e Entry, p Param) (Param, error)) (StateDict, error) {
	if !(sparsity >= 0 && sparsity < 1) {
		return nil, fmt.Errorf("model: RandomWeights: sparsity %g must be in [0, 1)", sparsity)
	}
	if v.Family == 0 {
		return nil, fmt.Errorf("model: RandomWeights: empty variant")
	}
	// Mask threshold on a 16-bit uniform: zero when u < sparsity·2¹⁶.
	thresh := uint64(math.Round(sparsity * (1 << 16)))
	out := StateDict{}
	keys := DeployKeys(v)
	total, done := 0, 0
	for _, e := range keys {
		total += numel(e.Shape)
	}
	for idx, e := range keys {
		data := make([]float32, numel(e.Shape))
		switch {
		case len(e.Shape) >= 2:
			fanIn := numel(e.Shape[1:])
			// Irwin–Hall n=3 on [0, 65536): mean 3·32767.5, variance 3·(65536²−1)/12.
			std := math.Sqrt(3 * (65536.0*65536.0 - 1) / 12)
			scale := float32(1 / (std * math.Sqrt(float64(fanIn))))
			rng := xorshift64star(splitmix64(seed^splitmix64(uint64(idx)+1)) | 1)
			const twiceMean = 3 * 65535 // 2·(3·32767.5), integer: value = (2·sum − twiceMean)·scale/2
			half := scale / 2
			for i := range data {
				r := rng.next()
				if r>>48 < thresh {
					continue // masked: stays 0
				}
				sum := int64(r&0xffff) + int64(r>>16&0xffff) + int64(r>>32&0xffff)
				data[i] = float32(2*sum-twiceMean) * half
			}
		case strings.HasSuffix(e.Key, "running_var"), strings.HasSuffix(e.Key, "gamma"):
			fill(data, 1)
		case strings.HasSuffix(e.Key, ".weight"):
			// 1-D weights are LayerNorm/BatchNorm scales.
			fill(data, 1)
		default:
			// biases, running_mean
		}
		p := Param{Shape: append([]int(nil), e.Shape...), Data: data}
		if keep != nil {
			var err error
			if p, err = keep(e, p); err != nil {
				return nil, err
			}
		}
		out[e.Key] = p
		done += len(data)
		if progress != nil {
			progress(done, total)
		}
	}
	return out, nil
}

func fill(d []float32, x float32) {
	for i := range d {
		d[i] = x
	}
}
