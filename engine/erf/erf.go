// Package erf analyses and draws effective receptive fields (ERFs), following
// RepLKNet's erf/analyze_erf.py, which SLaK copies (see shared SLAK.md §4).
//
// An ERF map A [H, W] is the mean over images of Σ_rgb max(∂S/∂input, 0), where
// S = Σ_c max(F[c, h/2, w/2], 0) and F is the last-stage feature map (engine/model
// computes A on any backend). This package turns A into what the page shows:
// the display transform, colours, and the high-contribution area ratios r.
//
// The high-level API the page builds on (none of it imports go-app):
//
//   - Compute (one image) and Averaged (n images, progress, cancel by context)
//     run the ERF on a loaded model.Net after a memory check;
//   - Estimate, Memory.Check, CheckBackend: the buffers a forward + backward
//     needs at S² against the device limits (refuses with advice);
//   - KernelOnly: an impulse pushed back through the depthwise kernels and
//     the downsampling geometry only (no image);
//   - Kernels, LKLayers: kernel-viewer data; Remask: magnitude re-masking of
//     the large kernels at a chosen sparsity;
//   - VariantRF: the theoretical receptive field of a variant.
package erf

import (
	"errors"
	"fmt"
	"math"
)

// Transform is how a raw map is scaled to [0, 1] for display and analysis.
type Transform int

const (
	// Log is RepLKNet's analysis transform: P = log10(A+1) / max(log10(A+1)).
	Log Transform = iota
	// Linear is SLaK's paper figure: P = A / max(A).
	Linear
)

func (t Transform) String() string {
	if t == Linear {
		return "linear: A / max(A) (SLaK's figure)"
	}
	return "log: log10(A+1) / max (RepLKNet's analysis)"
}

// Normalize returns P = transform(A) scaled so that max(P) = 1. Negative or
// NaN entries of A are treated as 0 (A is a sum of ReLUs, so neither should
// occur). An all-zero map stays all zero.
func Normalize(a []float32, t Transform) []float32 {
	p := make([]float32, len(a))
	var mx float64
	for i, v := range a {
		x := float64(v)
		if !(x > 0) {
			x = 0
		}
		if t == Log {
			x = math.Log10(x + 1)
		}
		p[i] = float32(x)
		mx = math.Max(mx, x)
	}
	if mx > 0 {
		for i := range p {
			p[i] = float32(float64(p[i]) / mx)
		}
	}
	return p
}

// Thresholds are RepLKNet's contribution thresholds t.
var Thresholds = []float64{0.2, 0.3, 0.5, 0.99}

// Ratio is the result of the area-ratio analysis at one threshold.
type Ratio struct {
	T     float64 // threshold, e.g. 0.2
	Found bool    // false when no examined window exceeds T (the official script crashes there)
	Side  int     // side of the smallest square window, centred at (h/2, w/2), holding more than T of the total
	R     float64 // Side² / (H·W): the high-contribution area ratio (RepLKNet's r, a fraction, not %)
}

func (r Ratio) String() string {
	if !r.Found {
		return fmt.Sprintf("t=%g%%: none (> %s)", r.T*100, "largest window")
	}
	return fmt.Sprintf("t=%g%%: side %d, r=%.1f%%", r.T*100, r.Side, r.R*100)
}

// AreaRatios runs analyze_erf.py's square-window search on a normalized map
// p [h, w] (see Normalize with Log for the official analysis):
//
//	for i = 1 … min(h,w)/2 − 1:  window = p[h/2−i : h/2+i+1, w/2−i : w/2+i+1]
//	    if Σ window / Σ p > t (strict):  side = 2i+1; r = side/h · side/w; stop
//
// It uses a summed-area table in float64, so it is O(h·w) for all thresholds.
func AreaRatios(p []float32, h, w int, thresholds []float64) ([]Ratio, error) {
	if h <= 0 || w <= 0 || len(p) != h*w {
		return nil, fmt.Errorf("erf: map has %d values, want %d×%d", len(p), h, w)
	}
	// sat[(y)*(w+1)+x] = Σ p[0:y, 0:x]
	sat := make([]float64, (h+1)*(w+1))
	for y := 0; y < h; y++ {
		var row float64
		for x := 0; x < w; x++ {
			row += float64(p[y*w+x])
			sat[(y+1)*(w+1)+x+1] = sat[y*(w+1)+x+1] + row
		}
	}
	total := sat[h*(w+1)+w]
	if !(total > 0) {
		return nil, errors.New("erf: the map is all zero: no input pixel contributes (is the centre feature inactive?)")
	}
	box := func(y0, x0, y1, x1 int) float64 { // Σ p[y0:y1, x0:x1]
		return sat[y1*(w+1)+x1] - sat[y0*(w+1)+x1] - sat[y1*(w+1)+x0] + sat[y0*(w+1)+x0]
	}
	cy, cx := h/2, w/2
	n := min(h, w) / 2
	out := make([]Ratio, len(thresholds))
	for k, t := range thresholds {
		out[k] = Ratio{T: t}
		for i := 1; i < n; i++ {
			if box(cy-i, cx-i, cy+i+1, cx+i+1)/total > t {
				side := 2*i + 1
				out[k] = Ratio{T: t, Found: true, Side: side, R: float64(side) / float64(h) * float64(side) / float64(w)}
				break
			}
		}
	}
	return out, nil
}

// Mean accumulates maps of one size, skipping any that contain NaN (as the
// official script does), like timm's AverageMeter.
type Mean struct {
	Sum     []float64
	N       int // maps accumulated
	Skipped int // maps skipped for NaN
}

// Add adds one map; its size must match earlier ones.
func (m *Mean) Add(a []float32) error {
	if m.Sum == nil {
		m.Sum = make([]float64, len(a))
	} else if len(a) != len(m.Sum) {
		return fmt.Errorf("erf: map of %d values added to a mean of %d", len(a), len(m.Sum))
	}
	for _, v := range a {
		if v != v {
			m.Skipped++
			return nil
		}
	}
	for i, v := range a {
		m.Sum[i] += float64(v)
	}
	m.N++
	return nil
}

// Value returns the mean map (nil before the first map).
func (m *Mean) Value() []float32 {
	if m.N == 0 {
		return nil
	}
	out := make([]float32, len(m.Sum))
	for i, s := range m.Sum {
		out[i] = float32(s / float64(m.N))
	}
	return out
}
