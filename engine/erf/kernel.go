package erf

import (
	"fmt"
	"math"
)

// Merge builds the equivalent K×K depthwise kernel of one channel of SLaK's
// decomposed branch (exact because all three are centred "same" convolutions
// with zero padding; shared SLAK.md §1.4):
//
//	M = pad(tall K×N) + pad(wide N×K) + pad(small N×N), each centred in K×K
//
// tall is [K, N], wide is [N, K], small is [N, N] (nil skips a branch); the
// result is [K, K]. K and N must be odd with N ≤ K.
func Merge(tall, wide, small []float32, k, n int) ([]float32, error) {
	if k <= 0 || n <= 0 || n > k || k%2 == 0 || n%2 == 0 {
		return nil, fmt.Errorf("erf.Merge: K=%d, N=%d: need odd N ≤ K", k, n)
	}
	if (tall != nil && len(tall) != k*n) || (wide != nil && len(wide) != n*k) || (small != nil && len(small) != n*n) {
		return nil, fmt.Errorf("erf.Merge: branch sizes %d, %d, %d do not match K=%d, N=%d", len(tall), len(wide), len(small), k, n)
	}
	m := make([]float32, k*k)
	off := (k - n) / 2
	for y := 0; y < k; y++ {
		for x := 0; x < n; x++ {
			if tall != nil {
				m[y*k+off+x] += tall[y*n+x]
			}
			if wide != nil {
				m[(off+x)*k+y] += wide[x*k+y]
			}
		}
	}
	for y := 0; small != nil && y < n; y++ {
		for x := 0; x < n; x++ {
			m[(off+y)*k+off+x] += small[y*n+x]
		}
	}
	return m, nil
}

// Density is the fraction of non-zero entries (SLaK's `(w != 0).mean()`).
func Density(w []float32) float64 {
	if len(w) == 0 {
		return 0
	}
	nz := 0
	for _, v := range w {
		if v != 0 {
			nz++
		}
	}
	return float64(nz) / float64(len(w))
}

// MaskByMagnitude returns a copy of w with the round(sparsity·len(w)) entries
// of smallest magnitude set to zero (SLaK's magnitude pruning, one layer at a
// time); ties are broken by index so the result is deterministic. Entries that
// are already zero count towards the target.
func MaskByMagnitude(w []float32, sparsity float64) ([]float32, error) {
	if !(sparsity >= 0 && sparsity <= 1) {
		return nil, fmt.Errorf("erf.MaskByMagnitude: sparsity %g outside [0, 1]", sparsity)
	}
	out := append([]float32(nil), w...)
	drop := int(math.Round(sparsity * float64(len(w))))
	if drop == 0 {
		return out, nil
	}
	// The drop-th smallest magnitude t: every |w| < t goes, then entries
	// with |w| = t in index order until drop are gone, which is what a stable
	// sort by magnitude would drop. t is found by a two-pass radix select on
	// the bits of |w| (for non-negative floats the bit patterns order as the
	// values do), O(n) instead of a sort.
	t := math.Float32frombits(kthBits(w, drop-1))
	n := 0
	for i, x := range w {
		if float32(math.Abs(float64(x))) < t {
			out[i] = 0
			n++
		}
	}
	for i, x := range w {
		if n >= drop {
			break
		}
		if float32(math.Abs(float64(x))) == t {
			out[i] = 0
			n++
		}
	}
	return out, nil
}

// kthBits returns the bits of the k-th smallest |w| (0-based): a histogram
// of the top 16 bits finds the bucket, a histogram of the low 16 bits inside
// it the value.
func kthBits(w []float32, k int) uint32 {
	hist := make([]int, 1<<16)
	for _, x := range w {
		hist[(math.Float32bits(x)&^(1<<31))>>16]++
	}
	hi := 0
	for ; k >= hist[hi]; hi++ {
		k -= hist[hi]
	}
	clear(hist)
	for _, x := range w {
		if b := math.Float32bits(x) &^ (1 << 31); int(b>>16) == hi {
			hist[b&0xffff]++
		}
	}
	lo := 0
	for ; k >= hist[lo]; lo++ {
		k -= hist[lo]
	}
	return uint32(hi)<<16 | uint32(lo)
}

// Layer is one step of a network's spatial path, for the theoretical
// receptive field: a kernel of KH×KW at the given stride.
type Layer struct{ KH, KW, Stride int }

// TheoreticalRF returns the height and width, in input pixels, of the
// theoretical receptive field of one output pixel after the layers in order:
//
//	rf = 1 + Σ_l (k_l − 1) · Π_{m<l} s_m
func TheoreticalRF(layers []Layer) (h, w int) {
	h, w = 1, 1
	jump := 1
	for _, l := range layers {
		h += (l.KH - 1) * jump
		w += (l.KW - 1) * jump
		jump *= l.Stride
	}
	return h, w
}
