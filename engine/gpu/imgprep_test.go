//go:build !js

package gpu

import (
	"image/png"
	"math"
	"math/rand"
	"os"
	"testing"

	"github.com/slak-web/slak/engine/imgprep"
)

// imgprepSynth is an awkward test image: saturated blocks (bicubic overshoot is clipped), sharp
// ramps and noise (many rounding near-ties), RGB or RGBA with arbitrary alpha.
func imgprepSynth(w, h, ch int, seed int64) []uint8 {
	r := rand.New(rand.NewSource(seed))
	pix := make([]uint8, w*h*ch)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			for c := 0; c < ch; c++ {
				var v int
				switch (x/13 + y/11) % 3 {
				case 0:
					v = 255 * ((c + x/13) % 2)
				case 1:
					v = (x*5 + y*3 + c*85) & 255
				default:
					v = r.Intn(256)
				}
				pix[(y*w+x)*ch+c] = uint8(v)
			}
		}
	}
	return pix
}

// TestPreprocessMatchesCPU requires the GPU preprocessing to be bit-identical to engine/imgprep
// (itself bit-identical to torchvision + PIL, see engine/imgprep's golden test): the resample is
// the same integer arithmetic and the normalisation a table of the CPU's own values.
func TestPreprocessMatchesCPU(t *testing.T) {
	b := backend(t)
	type tc struct {
		name  string
		w, h  int
		ch    int
		mode  imgprep.Mode
		pix   []uint8
		noPix bool
	}
	cases := []tc{
		{name: "517x389_rgb_eval", w: 517, h: 389, ch: 3, mode: imgprep.Eval},
		{name: "300x451_rgba_eval", w: 300, h: 451, ch: 4, mode: imgprep.Eval},
		{name: "400x300_half_even", w: 400, h: 300, ch: 3, mode: imgprep.Eval},
		{name: "199x143_upscale", w: 199, h: 143, ch: 4, mode: imgprep.Eval},
		{name: "1x1000", w: 1, h: 1000, ch: 3, mode: imgprep.Eval},
		{name: "3x2", w: 3, h: 2, ch: 3, mode: imgprep.Eval},
		{name: "256x311_no_hpass", w: 256, h: 311, ch: 3, mode: imgprep.Eval},
		{name: "311x256_no_vpass", w: 311, h: 256, ch: 4, mode: imgprep.Eval},
		{name: "256x256_no_pass", w: 256, h: 256, ch: 3, mode: imgprep.Eval},
		{name: "1201x653_warp512", w: 1201, h: 653, ch: 4, mode: imgprep.WarpTo(512)},
		{name: "97x61_warp224_upscale", w: 97, h: 61, ch: 3, mode: imgprep.WarpTo(224)},
	}
	if f, err := os.Open("../../testdata/imgprep/chelsea.png"); err == nil {
		img, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		r := img.Bounds()
		pix := make([]uint8, 0, r.Dx()*r.Dy()*3)
		for y := r.Min.Y; y < r.Max.Y; y++ {
			for x := r.Min.X; x < r.Max.X; x++ {
				cr, cg, cb, _ := img.At(x, y).RGBA()
				pix = append(pix, uint8(cr>>8), uint8(cg>>8), uint8(cb>>8))
			}
		}
		cases = append(cases, tc{name: "chelsea_eval", w: r.Dx(), h: r.Dy(), ch: 3, mode: imgprep.Eval, pix: pix},
			tc{name: "chelsea_warp1024", w: r.Dx(), h: r.Dy(), ch: 3, mode: imgprep.WarpTo(1024), pix: pix})
	} else {
		t.Errorf("chelsea.png: %v", err)
	}
	for i, c := range cases {
		pix := c.pix
		if pix == nil {
			pix = imgprepSynth(c.w, c.h, c.ch, int64(i))
		}
		want, wantCrop, err := imgprep.Preprocess(pix, c.w, c.h, c.mode)
		if err != nil {
			t.Fatalf("%s: cpu: %v", c.name, err)
		}
		x, crop, err := b.Preprocess(pix, c.w, c.h, c.mode)
		if err != nil {
			t.Fatalf("%s: gpu: %v", c.name, err)
		}
		got, err := b.Download(x)
		if err != nil {
			t.Fatalf("%s: download: %v", c.name, err)
		}
		b.Free(x)
		if crop != wantCrop {
			t.Errorf("%s: crop %+v, cpu %+v", c.name, crop, wantCrop)
		}
		s := c.mode.Size
		if sh := x.Shape(); len(sh) != 3 || sh[0] != 3 || sh[1] != s || sh[2] != s {
			t.Errorf("%s: shape %v, want [3 %d %d]", c.name, sh, s, s)
		}
		bad, maxErr := 0, 0.0
		for j := range want {
			if got[j] != want[j] {
				if bad < 5 {
					t.Errorf("%s: channel %d (x=%d, y=%d): got %.9g, cpu %.9g", c.name, j/(s*s), j%s, (j/s)%s, got[j], want[j])
				}
				bad++
				maxErr = math.Max(maxErr, math.Abs(float64(got[j]-want[j])))
			}
		}
		if bad > 0 {
			t.Errorf("%s: %d of %d values differ (max %.3g)", c.name, bad, len(want), maxErr)
		}
	}
}

// TestPreprocessBands uploads the input rows in bands of a few rows (as a large image is on a
// device with a small storage-binding limit) and still matches the CPU bit for bit.
func TestPreprocessBands(t *testing.T) {
	b := backend(t)
	defer func() { imgprepBandBytes = 0 }()
	for i, c := range []struct {
		w, h, ch, band int
		m              imgprep.Mode
	}{{517, 389, 4, 7, imgprep.Eval}, {311, 256, 3, 1, imgprep.Eval}, {200, 150, 3, 13, imgprep.WarpTo(97)}} {
		imgprepBandBytes = uint64(c.band * c.w * c.ch)
		pix := imgprepSynth(c.w, c.h, c.ch, int64(100+i))
		want, _, err := imgprep.Preprocess(pix, c.w, c.h, c.m)
		if err != nil {
			t.Fatal(err)
		}
		x, _, err := b.Preprocess(pix, c.w, c.h, c.m)
		if err != nil {
			t.Fatalf("bands of %d rows: %v", c.band, err)
		}
		got, err := b.Download(x)
		b.Free(x)
		if err != nil {
			t.Fatal(err)
		}
		for j := range want {
			if got[j] != want[j] {
				t.Fatalf("%dx%d in bands of %d rows: value %d: got %.9g, cpu %.9g", c.w, c.h, c.band, j, got[j], want[j])
			}
		}
	}
}

func TestPreprocessErrors(t *testing.T) {
	b := backend(t)
	for _, c := range []struct {
		name string
		pix  []uint8
		w, h int
		m    imgprep.Mode
	}{
		{"empty", nil, 0, 0, imgprep.Eval},
		{"bad length", make([]uint8, 10), 2, 2, imgprep.Eval},
		{"over the pixel limit", make([]uint8, 12), 2, 2, imgprep.Mode{Resize: 256, Size: 224, MaxPixels: 3}},
	} {
		if _, _, err := b.Preprocess(c.pix, c.w, c.h, c.m); err == nil {
			t.Errorf("imgprep %s: no error", c.name)
		}
	}
}

// BenchmarkPreprocess12MP times the GPU path (upload, three dispatches, download) on a 4032×3024
// RGBA image in eval mode; compare with engine/imgprep's BenchmarkPreprocess12MP (CPU).
func BenchmarkPreprocess12MP(bm *testing.B) {
	openOnce.Do(func() { shared, openErr = New() }) // the same shared device as backend(t)
	if openErr != nil {
		bm.Skipf("no WebGPU device: %v", openErr)
	}
	b := shared
	w, h := 4032, 3024
	pix := imgprepSynth(w, h, 4, 1)
	bm.ResetTimer()
	for i := 0; i < bm.N; i++ {
		x, _, err := b.Preprocess(pix, w, h, imgprep.Eval)
		if err != nil {
			bm.Fatal(err)
		}
		if _, err := b.Download(x); err != nil {
			bm.Fatal(err)
		}
		b.Free(x)
	}
}
