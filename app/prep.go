package main

import (
	"fmt"

	"github.com/slak-web/slak/engine/model"
)

// preprocessRGBA is the eval transform (resize short side to 256, centre crop
// 224, normalise) on RGBA8 pixels, shared by the page and the native
// reference of the browser test. PLACEHOLDER (nearest neighbour) until
// engine/imgprep lands.
func preprocessRGBA(pix []byte, w, h int, pp model.Preprocess) ([]float32, error) {
	if len(pix) != 4*w*h {
		return nil, fmt.Errorf("preprocess: %d bytes for %d×%d RGBA", len(pix), w, h)
	}
	x0, y0, fw, fh := cropRect(w, h)
	const n = 224
	out := make([]float32, 3*n*n)
	for yy := 0; yy < n; yy++ {
		sy := min(h-1, int((y0+fh*(float64(yy)+0.5)/n)*float64(h)))
		for xx := 0; xx < n; xx++ {
			sx := min(w-1, int((x0+fw*(float64(xx)+0.5)/n)*float64(w)))
			for c := 0; c < 3; c++ {
				v := float32(pix[4*(sy*w+sx)+c]) / 255
				out[c*n*n+yy*n+xx] = (v - pp.Mean[c]) / pp.Std[c]
			}
		}
	}
	return out, nil
}

// The built-in default model: seeded random weights with SLaK's 40%
// unstructured sparsity (model.RandomWeights).
const (
	builtinSeed     = 1
	builtinSparsity = 0.4
)
