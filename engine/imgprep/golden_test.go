package imgprep

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"testing"
)

const goldenDir = "../../testdata/imgprep"

// stTensor is one tensor of a safetensors file.
type stTensor struct {
	DType   string `json:"dtype"`
	Shape   []int  `json:"shape"`
	Offsets [2]int `json:"data_offsets"`
	data    []byte
}

// readSafetensors is a minimal reader for the fixtures (the real reader is in
// weights/): u64 LE header length, JSON header, raw little-endian data.
func readSafetensors(t *testing.T, path string) (map[string]*stTensor, map[string]string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("golden: %v (regenerate with /usr/bin/python3 tools/imgprep_golden.py)", err)
	}
	if len(b) < 8 {
		t.Fatalf("golden: %s too short", path)
	}
	n := binary.LittleEndian.Uint64(b)
	if n > uint64(len(b)-8) {
		t.Fatalf("golden: header length %d beyond file size %d", n, len(b))
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b[8:8+n], &raw); err != nil {
		t.Fatalf("golden: header: %v", err)
	}
	data := b[8+n:]
	ts := map[string]*stTensor{}
	meta := map[string]string{}
	for k, v := range raw {
		if k == "__metadata__" {
			if err := json.Unmarshal(v, &meta); err != nil {
				t.Fatalf("golden: metadata: %v", err)
			}
			continue
		}
		var st stTensor
		if err := json.Unmarshal(v, &st); err != nil {
			t.Fatalf("golden: tensor %s: %v", k, err)
		}
		if st.Offsets[0] < 0 || st.Offsets[1] > len(data) || st.Offsets[0] > st.Offsets[1] {
			t.Fatalf("golden: tensor %s: offsets %v outside data of %d bytes", k, st.Offsets, len(data))
		}
		st.data = data[st.Offsets[0]:st.Offsets[1]]
		ts[k] = &st
	}
	return ts, meta
}

func (st *stTensor) f32() []float32 {
	out := make([]float32, len(st.data)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(st.data[4*i:]))
	}
	return out
}

// synth is tools/imgprep_golden.py's synthetic image, [h, w, 3] uint8:
// saturated blocks, wrapping ramps and hashed noise.
func synth(w, h int) []uint8 {
	pix := make([]uint8, w*h*3)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			for c := 0; c < 3; c++ {
				X, Y, C := uint64(x), uint64(y), uint64(c)
				hs := (X*73856093 ^ Y*19349663 ^ C*83492791) & 0xFFFFFFFF
				hs ^= hs >> 13
				hs = (hs * 0x5BD1E995) & 0xFFFFFFFF
				hs ^= hs >> 15
				var v uint64
				switch (X/13 + Y/11) % 3 {
				case 0:
					if (C+X/13)%2 == 1 {
						v = 255
					}
				case 1:
					v = (X*5 + Y*3 + C*85) & 255
				default:
					v = hs & 255
				}
				pix[(y*w+x)*3+c] = uint8(v)
			}
		}
	}
	return pix
}

// loadPNG decodes a PNG to RGB bytes.
func loadPNG(t *testing.T, path string) ([]uint8, int, int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	r := img.Bounds()
	pix := make([]uint8, 0, r.Dx()*r.Dy()*3)
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			cr, cg, cb, ca := img.At(x, y).RGBA()
			if ca != 0xffff {
				t.Fatalf("%s: pixel (%d,%d) not opaque", path, x, y)
			}
			pix = append(pix, uint8(cr>>8), uint8(cg>>8), uint8(cb>>8))
		}
	}
	return pix, r.Dx(), r.Dy()
}

type goldenMeta struct {
	Src, Mode  string
	W, H, Size int
	Left, Top  int
	RW         int `json:"resized_w"`
	RH         int `json:"resized_h"`
}

// GoldenCase is one fixture case with its input pixels and expected bytes.
type GoldenCase struct {
	Name   string
	Pix    []uint8 // RGB input
	W, H   int
	Mode   Mode
	Want   []uint8 // [Size, Size, 3] torchvision's bytes
	Crop   Crop    // expected sizes and offsets (float corners not set)
	WantF  []float32
	LUT    []float32 // [3, 256]
	Source string
}

func loadGolden(t *testing.T) []GoldenCase {
	t.Helper()
	ts, meta := readSafetensors(t, filepath.Join(goldenDir, "golden.safetensors"))
	chelsea, cw, ch := loadPNG(t, filepath.Join(goldenDir, "chelsea.png"))
	lut := ts["norm_lut"]
	if lut == nil || lut.DType != "F32" || len(lut.data) != 3*256*4 {
		t.Fatal("golden: norm_lut missing or malformed")
	}
	var out []GoldenCase
	for name, js := range meta {
		if name == "generator" {
			continue
		}
		var m goldenMeta
		if err := json.Unmarshal([]byte(js), &m); err != nil {
			t.Fatalf("golden %s: metadata: %v", name, err)
		}
		g := GoldenCase{Name: name, W: m.W, H: m.H, LUT: lut.f32(), Source: m.Src}
		if m.Src == "chelsea" {
			if cw != m.W || ch != m.H {
				t.Fatalf("golden %s: chelsea.png is %d×%d, fixture says %d×%d", name, cw, ch, m.W, m.H)
			}
			g.Pix = chelsea
		} else {
			g.Pix = synth(m.W, m.H)
		}
		switch m.Mode {
		case "eval":
			g.Mode = Eval
		case "warp":
			g.Mode = WarpTo(m.Size)
		default:
			t.Fatalf("golden %s: mode %q", name, m.Mode)
		}
		g.Crop = Crop{ResizedW: m.RW, ResizedH: m.RH, Left: m.Left, Top: m.Top, Size: m.Size}
		u8 := ts[name+"/u8"]
		if u8 == nil || u8.DType != "U8" || fmt.Sprint(u8.Shape) != fmt.Sprint([]int{m.Size, m.Size, 3}) {
			t.Fatalf("golden %s: u8 tensor missing or malformed", name)
		}
		g.Want = u8.data
		if f := ts[name+"/f32"]; f != nil {
			g.WantF = f.f32()
		}
		out = append(out, g)
	}
	if len(out) < 8 {
		t.Fatalf("golden: only %d cases", len(out))
	}
	return out
}

// TestGoldenTorchvision requires the resized bytes to equal torchvision's
// exactly (the integer arithmetic is PIL's, so there is no reason for even
// one LSB of difference), and the normalised floats to be bit-identical
// (the same float32 operations in the same order as torch; the check
// allows 1e-6 but reports the max error).
func TestGoldenTorchvision(t *testing.T) {
	for _, g := range loadGolden(t) {
		p, err := NewPlan(g.W, g.H, g.Mode)
		if err != nil {
			t.Fatalf("%s: %v", g.Name, err)
		}
		c := p.Crop
		if c.ResizedW != g.Crop.ResizedW || c.ResizedH != g.Crop.ResizedH || c.Left != g.Crop.Left || c.Top != g.Crop.Top {
			t.Errorf("%s: resized %d×%d crop at (%d,%d), torchvision %d×%d at (%d,%d)", g.Name,
				c.ResizedW, c.ResizedH, c.Left, c.Top, g.Crop.ResizedW, g.Crop.ResizedH, g.Crop.Left, g.Crop.Top)
			continue
		}
		got, err := p.Resample(g.Pix)
		if err != nil {
			t.Fatalf("%s: %v", g.Name, err)
		}
		bad := 0
		for i := range got {
			if got[i] != g.Want[i] {
				if bad < 5 {
					s := g.Mode.Size
					t.Errorf("%s: pixel (x=%d, y=%d) channel %d: got %d, torchvision %d", g.Name, (i/3)%s, i/3/s, i%3, got[i], g.Want[i])
				}
				bad++
			}
		}
		if bad > 0 {
			t.Errorf("%s: %d of %d bytes differ from torchvision", g.Name, bad, len(got))
		}
		if g.WantF != nil {
			f, crop, err := Preprocess(g.Pix, g.W, g.H, g.Mode)
			if err != nil {
				t.Fatalf("%s: %v", g.Name, err)
			}
			if crop != p.Crop {
				t.Errorf("%s: Preprocess crop %+v, plan %+v", g.Name, crop, p.Crop)
			}
			maxErr := 0.0
			for i := range f {
				maxErr = math.Max(maxErr, math.Abs(float64(f[i])-float64(g.WantF[i])))
			}
			if maxErr > 1e-6 {
				t.Errorf("%s: normalised output differs from torchvision by up to %.3g (> 1e-6)", g.Name, maxErr)
			}
			t.Logf("%s: max |Go − torchvision| on the float output: %g", g.Name, maxErr)
		}
	}
}

// Every byte value through ToTensor+Normalize equals torchvision's exactly.
func TestNormalizeLUT(t *testing.T) {
	lut := loadGolden(t)[0].LUT
	for c := 0; c < 3; c++ {
		for v := 0; v < 256; v++ {
			if got, want := NormalizeValue(uint8(v), c), lut[c*256+v]; got != want {
				t.Errorf("normalize: channel %d value %d: got %.9g, torchvision %.9g", c, v, got, want)
			}
		}
	}
}
