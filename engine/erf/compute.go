package erf

import (
	"context"
	"errors"
	"fmt"

	"github.com/slak-web/slak/engine/model"
)

// Map is an ERF map A [H, W] (row-major) with how it was made.
type Map struct {
	H, W int
	Data []float32 // [H, W]
	// Images is the number of images averaged into Data (1 for Compute, 0
	// for KernelOnly, which uses no image).
	Images int
	// Skipped counts images left out because their map held NaN (as the
	// official script does).
	Skipped int
}

// Ratios runs AreaRatios with RepLKNet's analysis (Normalize with Log, the
// thresholds 20/30/50/99 %).
func (m Map) Ratios() ([]Ratio, error) {
	return AreaRatios(Normalize(m.Data, Log), m.H, m.W, Thresholds)
}

// Compute returns the ERF contribution map of one image (SLAK.md §4.1):
//
//	A[y, x] = Σ_rgb max(∂S/∂img[rgb, y, x], 0),   S = Σ_c max(F[c, h/2, w/2], 0)
//
// with F the last-stage map of net (no final norm), img [3, s, s] already
// normalised (ImageNet mean/std). It first checks the memory the backward
// needs against the backend's limits (CheckBackend), so a too-large s is
// refused with a message instead of failing inside an op. A pixel whose
// gradient is NaN is NaN in the map (as torch's relu keeps it), so Averaged
// skips that image like the official script.
func Compute(net *model.Net, img []float32, s int) (Map, error) {
	if net == nil {
		return Map{}, errors.New("erf.Compute: nil net")
	}
	if s <= 0 || len(img) != 3*s*s {
		return Map{}, fmt.Errorf("erf.Compute: image has %d values, want 3×%d×%d", len(img), s, s)
	}
	if err := CheckBackend(net.Backend(), net.V, s); err != nil {
		return Map{}, err
	}
	g, a, err := net.InputGradient(img, s, s)
	if err != nil {
		return Map{}, fmt.Errorf("erf.Compute: %w", err)
	}
	// torch's relu keeps NaN (max(NaN, 0) is NaN) and the official script
	// then skips the image; model's map drops NaN silently, so put it back.
	for i, x := range g {
		if x != x {
			a[i%(s*s)] = x
		}
	}
	return Map{H: s, W: s, Data: a, Images: 1}, nil
}

// Averaged returns the mean of Compute over images 0 … n−1 (RepLKNet's
// visualize_erf.py with --num_images n): images(i) returns image i as
// [3, s, s], normalised. Maps containing NaN are skipped and counted, as the
// official script does. progress, if not nil, is called after each image
// with (done, n). Cancelling ctx stops before the next image and returns
// ctx's error together with the mean of the images done so far (Images may
// be 0, then Data is nil).
func Averaged(ctx context.Context, net *model.Net, s, n int, images func(i int) ([]float32, error), progress func(done, n int)) (Map, error) {
	if net == nil || images == nil {
		return Map{}, errors.New("erf.Averaged: nil net or image source")
	}
	if n <= 0 || s <= 0 {
		return Map{}, fmt.Errorf("erf.Averaged: n = %d images of %d² must be positive", n, s)
	}
	if err := CheckBackend(net.Backend(), net.V, s); err != nil {
		return Map{}, err
	}
	var mean Mean
	result := func() Map {
		return Map{H: s, W: s, Data: mean.Value(), Images: mean.N, Skipped: mean.Skipped}
	}
	for i := 0; i < n; i++ {
		if err := ctx.Err(); err != nil {
			return result(), err
		}
		img, err := images(i)
		if err != nil {
			return result(), fmt.Errorf("erf.Averaged: image %d: %w", i, err)
		}
		m, err := Compute(net, img, s)
		if err != nil {
			return result(), fmt.Errorf("erf.Averaged: image %d: %w", i, err)
		}
		if err := mean.Add(m.Data); err != nil {
			return result(), err
		}
		if progress != nil {
			progress(i+1, n)
		}
	}
	if mean.N == 0 {
		return result(), fmt.Errorf("erf.Averaged: all %d maps held NaN", n)
	}
	return result(), nil
}
