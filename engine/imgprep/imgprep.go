// Package imgprep is the CPU reference of the official ImageNet eval
// transform, exact to torchvision 0.14 on PIL images (Pillow 9.4):
//
//	Resize(256, BICUBIC) → CenterCrop(224) → ToTensor → Normalize(mean, std)
//
// and of the "warp" transform used for the effective receptive field
// (Resize((S, S), BICUBIC) → ToTensor → Normalize, no crop).
//
// Resize is PIL's ImagingResample (libImaging/Resample.c): separable, the
// horizontal pass first into a uint8 intermediate, then the vertical pass;
// the bicubic filter (a = −0.5, support 2) is stretched by the downscale
// factor (antialiasing); coefficients are normalised in float64, then turned
// into 22-bit fixed point (PRECISION_BITS = 32 − 8 − 2) with round-half-away
// from zero; each output sums pixel·coefficient in int32 from 1<<21 and
// clips (sum >> 22) to [0, 255]. A pass is skipped when that axis keeps its
// size (as PIL does). Only the output pixels inside the crop are computed;
// every one of them is computed exactly as PIL computes it.
//
// ToTensor and Normalize are float32: v = float32(u8)/255, then
// (v − float32(mean[c])) / float32(std[c]), as torch does it.
//
// Input pixels are 8-bit RGB or RGBA, row-major, the channel count inferred
// from the slice length; alpha is dropped (PIL's convert("RGB"), which the
// ImageNet loaders apply, drops it without premultiplying). Output is CHW
// float32 [3, Size, Size].
package imgprep

import (
	"errors"
	"fmt"
	"math"
)

// PrecisionBits is PIL's fixed-point precision for 8-bit resampling.
const PrecisionBits = 32 - 8 - 2

// DefaultMaxPixels is the default limit on width·height of an input image.
const DefaultMaxPixels = 50_000_000

// Mean and Std are the ImageNet normalisation constants (timm
// IMAGENET_DEFAULT_MEAN/STD), in RGB order.
var (
	Mean = [3]float32{0.485, 0.456, 0.406}
	Std  = [3]float32{0.229, 0.224, 0.225}
)

// ErrImage is wrapped by every error about the input image or mode.
var ErrImage = errors.New("imgprep: bad image")

// Mode selects the transform.
type Mode struct {
	// Warp resizes the whole image to Size×Size (aspect not kept) without a
	// crop. Otherwise the short side goes to Resize, the long side to
	// int(Resize·long/short), and the centre Size×Size is cropped.
	Warp bool
	// Resize is the short side before the crop (crop mode only; ≥ Size).
	Resize int
	// Size is the side of the square output.
	Size int
	// MaxPixels limits width·height of the input; 0 means DefaultMaxPixels.
	MaxPixels int
}

// Eval is the ImageNet eval transform: short side 256, centre crop 224.
var Eval = Mode{Resize: 256, Size: 224}

// WarpTo is the warp transform to an S×S square.
func WarpTo(s int) Mode { return Mode{Warp: true, Size: s} }

// Crop says where the output came from: Left, Top are the crop offset in the
// resized image of ResizedW×ResizedH, and X0, Y0, X1, Y1 the same square in
// original-image pixel coordinates (x right, y down; X1, Y1 exclusive), for
// showing the person which part of their image the network sees.
type Crop struct {
	ResizedW, ResizedH int
	Left, Top, Size    int
	X0, Y0, X1, Y1     float64
}

// Coeffs are PIL's resampling coefficients for a run of N consecutive output
// positions along one axis, starting at output position First.
type Coeffs struct {
	First, N int
	KSize    int     // coefficients per output (PIL's ksize)
	Min      []int32 // [N] first input index read by each output
	Count    []int32 // [N] number of input indices read (≤ KSize)
	K        []int32 // [N, KSize] 22-bit fixed-point weights, zero past Count
}

// Plan is the resampling plan of one image and mode: sizes, the crop, and
// the coefficients of both passes restricted to the output square. The GPU
// launcher uploads these as they are.
type Plan struct {
	SrcW, SrcH int
	Crop       Crop
	NeedH      bool   // the width changes: run the horizontal pass
	NeedV      bool   // the height changes: run the vertical pass
	H          Coeffs // over output columns [Left, Left+Size)
	V          Coeffs // over output rows [Top, Top+Size)
	// Rows the horizontal pass produces (the input rows the vertical pass
	// reads): [RowFirst, RowFirst+RowCount). Without a vertical pass they
	// are the output rows themselves.
	RowFirst, RowCount int
}

// NewPlan checks the image size and the mode and computes the plan.
func NewPlan(w, h int, m Mode) (*Plan, error) {
	limit := m.MaxPixels
	if limit == 0 {
		limit = DefaultMaxPixels
	}
	switch {
	case w <= 0 || h <= 0:
		return nil, fmt.Errorf("%w: size %d×%d is empty", ErrImage, w, h)
	case limit < 0:
		return nil, fmt.Errorf("%w: MaxPixels %d is negative", ErrImage, m.MaxPixels)
	case w > limit/h:
		return nil, fmt.Errorf("%w: %d×%d = %d pixels exceeds the limit of %d", ErrImage, w, h, int64(w)*int64(h), limit)
	case m.Size <= 0 || m.Size > 8192:
		return nil, fmt.Errorf("%w: output size %d is not in [1, 8192]", ErrImage, m.Size)
	case !m.Warp && m.Resize < m.Size:
		return nil, fmt.Errorf("%w: resize %d is smaller than the crop %d", ErrImage, m.Resize, m.Size)
	}
	p := &Plan{SrcW: w, SrcH: h}
	c := &p.Crop
	c.Size = m.Size
	if m.Warp {
		c.ResizedW, c.ResizedH = m.Size, m.Size
	} else {
		// torchvision 0.14 _compute_resized_output_size: the long side is
		// int(size * long / short) in Python floats.
		short, long := w, h
		if w > h {
			short, long = h, w
		}
		nl := int(float64(m.Resize) * float64(long) / float64(short))
		if w <= h {
			c.ResizedW, c.ResizedH = m.Resize, nl
		} else {
			c.ResizedW, c.ResizedH = nl, m.Resize
		}
		// torchvision center_crop: int(round((H − crop) / 2.0)), Python's
		// round is half-to-even.
		c.Left = int(math.RoundToEven(float64(c.ResizedW-m.Size) / 2))
		c.Top = int(math.RoundToEven(float64(c.ResizedH-m.Size) / 2))
	}
	sx, sy := float64(w)/float64(c.ResizedW), float64(h)/float64(c.ResizedH)
	c.X0, c.X1 = float64(c.Left)*sx, float64(c.Left+m.Size)*sx
	c.Y0, c.Y1 = float64(c.Top)*sy, float64(c.Top+m.Size)*sy

	p.NeedH = c.ResizedW != w
	p.NeedV = c.ResizedH != h
	p.H = coeffs(w, c.ResizedW, c.Left, m.Size)
	p.V = coeffs(h, c.ResizedH, c.Top, m.Size)
	if p.NeedV {
		p.RowFirst = int(p.V.Min[0])
		last := int(p.V.Min[m.Size-1] + p.V.Count[m.Size-1])
		p.RowCount = last - p.RowFirst
	} else {
		p.RowFirst, p.RowCount = c.Top, m.Size
	}
	return p, nil
}

// bicubic is PIL's bicubic_filter with a = −0.5 (support 2).
func bicubic(x float64) float64 {
	const a = -0.5
	if x < 0 {
		x = -x
	}
	if x < 1 {
		return ((a+2)*x-(a+3))*x*x + 1
	}
	if x < 2 {
		return (((x-5)*x+8)*x - 4) * a
	}
	return 0
}

// coeffs is PIL's precompute_coeffs (box = [0, inSize)) followed by
// normalize_coeffs_8bpc, for output positions [first, first+n) of outSize.
func coeffs(inSize, outSize, first, n int) Coeffs {
	scale := float64(float32(inSize)) / float64(outSize) // (double)(in1 − in0) / outSize, box in float
	filterscale := scale
	if filterscale < 1 {
		filterscale = 1
	}
	support := 2 * filterscale
	ksize := int(math.Ceil(support))*2 + 1
	c := Coeffs{First: first, N: n, KSize: ksize,
		Min: make([]int32, n), Count: make([]int32, n), K: make([]int32, n*ksize)}
	w := make([]float64, ksize)
	for i := 0; i < n; i++ {
		xx := first + i
		center := (float64(xx) + 0.5) * scale
		ss := 1 / filterscale
		xmin := int(center - support + 0.5) // C's (int) truncates toward zero
		if xmin < 0 {
			xmin = 0
		}
		xmax := int(center + support + 0.5)
		if xmax > inSize {
			xmax = inSize
		}
		xmax -= xmin
		ww := 0.0
		for x := 0; x < xmax; x++ {
			w[x] = bicubic((float64(x+xmin) - center + 0.5) * ss)
			ww += w[x]
		}
		k := c.K[i*ksize : (i+1)*ksize]
		for x := 0; x < xmax; x++ {
			v := w[x]
			if ww != 0 {
				v /= ww
			}
			if v < 0 {
				k[x] = int32(-0.5 + v*(1<<PrecisionBits))
			} else {
				k[x] = int32(0.5 + v*(1<<PrecisionBits))
			}
		}
		c.Min[i], c.Count[i] = int32(xmin), int32(xmax)
	}
	return c
}

// clip8 is PIL's clip8: the fixed-point sum to a byte.
func clip8(s int32) uint8 {
	if s <= 0 {
		return 0
	}
	if s >= 1<<PrecisionBits<<8 {
		return 255
	}
	return uint8(s >> PrecisionBits)
}

// Channels returns 3 or 4 for an RGB or RGBA buffer of w×h pixels, or an
// error.
func Channels(pix []uint8, w, h int) (int, error) {
	switch {
	case w <= 0 || h <= 0:
		return 0, fmt.Errorf("%w: size %d×%d is empty", ErrImage, w, h)
	case len(pix) == w*h*4:
		return 4, nil
	case len(pix) == w*h*3:
		return 3, nil
	}
	return 0, fmt.Errorf("%w: %d bytes is neither RGB nor RGBA for %d×%d", ErrImage, len(pix), w, h)
}

// Resample runs the plan on pix (RGB or RGBA, alpha dropped) and returns the
// resized pixels inside the output square, [Size, Size, 3] uint8 (HWC), bit
// for bit what PIL's Image.resize gives at those pixels.
func (p *Plan) Resample(pix []uint8) ([]uint8, error) {
	ch, err := Channels(pix, p.SrcW, p.SrcH)
	if err != nil {
		return nil, err
	}
	s := p.Crop.Size
	// Horizontal pass: rows [RowFirst, RowFirst+RowCount) × output columns
	// of the square → tmp [RowCount, Size, 3].
	tmp := make([]uint8, p.RowCount*s*3)
	for r := 0; r < p.RowCount; r++ {
		src := pix[(p.RowFirst+r)*p.SrcW*ch:]
		dst := tmp[r*s*3:]
		for i := 0; i < s; i++ {
			if !p.NeedH {
				copy(dst[i*3:i*3+3], src[(p.Crop.Left+i)*ch:])
				continue
			}
			k := p.H.K[i*p.H.KSize:]
			x0 := int(p.H.Min[i])
			var s0, s1, s2 int32 = 1 << (PrecisionBits - 1), 1 << (PrecisionBits - 1), 1 << (PrecisionBits - 1)
			for x := 0; x < int(p.H.Count[i]); x++ {
				q := src[(x0+x)*ch:]
				s0 += int32(q[0]) * k[x]
				s1 += int32(q[1]) * k[x]
				s2 += int32(q[2]) * k[x]
			}
			dst[i*3], dst[i*3+1], dst[i*3+2] = clip8(s0), clip8(s1), clip8(s2)
		}
	}
	if !p.NeedV {
		return tmp, nil
	}
	// Vertical pass: output rows of the square from tmp → [Size, Size, 3].
	out := make([]uint8, s*s*3)
	for j := 0; j < s; j++ {
		k := p.V.K[j*p.V.KSize:]
		y0 := int(p.V.Min[j]) - p.RowFirst
		for i := 0; i < s*3; i++ {
			var acc int32 = 1 << (PrecisionBits - 1)
			for y := 0; y < int(p.V.Count[j]); y++ {
				acc += int32(tmp[(y0+y)*s*3+i]) * k[y]
			}
			out[j*s*3+i] = clip8(acc)
		}
	}
	return out, nil
}

// Normalize is ToTensor + Normalize on [Size, Size, 3] uint8 HWC pixels:
//
//	y[c, i, j] = (float32(u8[i, j, c]) / 255 − Mean[c]) / Std[c]     in float32
//
// returning CHW [3, Size, Size].
func Normalize(hwc []uint8, size int) ([]float32, error) {
	if size <= 0 || len(hwc) != size*size*3 {
		return nil, fmt.Errorf("%w: %d bytes for a %d×%d RGB square", ErrImage, len(hwc), size, size)
	}
	n := size * size
	out := make([]float32, 3*n) // [3, Size, Size]
	for i := 0; i < n; i++ {
		for c := 0; c < 3; c++ {
			out[c*n+i] = NormalizeValue(hwc[i*3+c], c)
		}
	}
	return out, nil
}

// NormalizeValue is one channel value through ToTensor and Normalize.
func NormalizeValue(v uint8, c int) float32 {
	x := float32(v) / 255
	return (x - Mean[c]) / Std[c]
}

// Preprocess runs the whole transform on an RGB or RGBA image of w×h pixels
// and returns CHW float32 [3, Size, Size] and where the square came from.
func Preprocess(pix []uint8, w, h int, m Mode) ([]float32, Crop, error) {
	p, err := NewPlan(w, h, m)
	if err != nil {
		return nil, Crop{}, err
	}
	u8, err := p.Resample(pix)
	if err != nil {
		return nil, Crop{}, err
	}
	out, err := Normalize(u8, m.Size)
	return out, p.Crop, err
}
