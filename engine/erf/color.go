package erf

// Colormap maps [0, 1] to RGB. Both are perceptually uniform and colour-blind safe.
type Colormap int

const (
	Viridis Colormap = iota
	Cividis
)

func (c Colormap) String() string {
	if c == Cividis {
		return "cividis"
	}
	return "viridis"
}

// RGB returns the colour of v, clamped to [0, 1] (NaN → 0).
func (c Colormap) RGB(v float32) (r, g, b uint8) {
	if !(v > 0) {
		v = 0
	}
	if v > 1 {
		v = 1
	}
	i := int(v*255 + 0.5)
	t := &viridis
	if c == Cividis {
		t = &cividis
	}
	return t[i][0], t[i][1], t[i][2]
}

// RGBA paints a normalized map p [h, w] into an RGBA image (4 bytes a pixel),
// with the given alpha for overlays.
func (c Colormap) RGBA(p []float32, alpha uint8) []uint8 {
	out := make([]uint8, 4*len(p))
	for i, v := range p {
		r, g, b := c.RGB(v)
		out[4*i], out[4*i+1], out[4*i+2], out[4*i+3] = r, g, b, alpha
	}
	return out
}
