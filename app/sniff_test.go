//go:build !wasm

package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"testing"
)

func encodePNG(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = byte(i * 7)
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func encodeJPEG(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.RGBA{byte(x), byte(y), byte(x + y), 255})
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestSniff(t *testing.T) {
	st := func(hdr string) []byte {
		var n [8]byte
		binary.LittleEndian.PutUint64(n[:], uint64(len(hdr)))
		return append(n[:], hdr...)
	}
	cases := []struct {
		name string
		b    []byte
		want fileKind
	}{
		{"png", encodePNG(t, 3, 5), kindImage},
		{"jpeg", encodeJPEG(t, 17, 9), kindImage},
		{"gif", []byte("GIF89a\x01\x00\x01\x00"), kindImage},
		{"webp", []byte("RIFF\x00\x00\x00\x00WEBPVP8 "), kindImage},
		{"safetensors", st(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`), kindSafetensors},
		{"safetensors truncated after header length", st(`{"a":1}`)[:12], kindSafetensors},
		{"pth zip", []byte("PK\x03\x04rest of a zip"), kindPyTorchZip},
		{"legacy pickle", []byte{0x80, 0x02, 0x8a, 0x0a}, kindPyTorchLegacy},
		{"text", []byte("hello, world\n"), kindUnknown},
		{"empty", nil, kindUnknown},
		// A safetensors-looking length with no JSON after it is not weights.
		{"binary junk", []byte{9, 0, 0, 0, 0, 0, 0, 0, 'x', 'y'}, kindUnknown},
	}
	for _, c := range cases {
		if got := sniff(c.b); got != c.want {
			t.Errorf("sniff(%s) = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestImageHeader(t *testing.T) {
	okPNG := encodePNG(t, 249, 17)
	okJPEG := encodeJPEG(t, 31, 499)
	cases := []struct {
		name       string
		b          []byte
		wantW      int
		wantH      int
		wantErr    error
		wantFormat string
	}{
		{"png 249x17", okPNG, 249, 17, nil, "png"},
		{"jpeg 31x499", okJPEG, 31, 499, nil, "jpeg"},
		{"png truncated", okPNG[:len(okPNG)-20], 249, 17, errCorrupt, "png"},
		{"jpeg truncated", okJPEG[:len(okJPEG)/2], 31, 499, errCorrupt, "jpeg"},
		{"png header cut inside IHDR", okPNG[:20], 0, 0, errCorrupt, "png"},
		{"bomb 30000x30000", pngHeaderOnly(30000, 30000), 30000, 30000, errBomb, "png"},
		// 20000 px wide but only 2 MP: below the bomb threshold, above the side limit.
		{"side 20000", pngHeaderOnly(20000, 100), 20000, 100, errEnormous, "png"},
		// 8000×8000 = 64 MP in a file large enough not to be called a bomb.
		{"64 MP", append(pngHeaderOnly(8000, 8000), make([]byte, 200_000)...), 8000, 8000, errEnormous, "png"},
		{"exactly 16384 wide is allowed", pngHeaderOnly(16384, 200), 16384, 200, nil, "png"},
		{"zero width", pngHeaderOnly(0, 10), 0, 0, errCorrupt, "png"},
		{"text", []byte("not an image"), 0, 0, errNotImage, ""},
		{"empty", nil, 0, 0, errNoContent, ""},
	}
	for _, c := range cases {
		format, w, h, err := imageHeader(c.b)
		if !errors.Is(err, c.wantErr) || (c.wantErr == nil) != (err == nil) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.wantErr)
			continue
		}
		if format != c.wantFormat {
			t.Errorf("%s: format %q, want %q", c.name, format, c.wantFormat)
		}
		if c.wantW != 0 && (w != c.wantW || h != c.wantH) {
			t.Errorf("%s: size %d×%d, want %d×%d", c.name, w, h, c.wantW, c.wantH)
		}
	}
}

func TestWebPSize(t *testing.T) {
	// VP8L: 14-bit width−1 and height−1 after the 0x2f signature.
	vp8l := []byte("RIFF\x00\x00\x00\x00WEBPVP8L\x00\x00\x00\x00\x2f")
	v := uint32(498) | uint32(248)<<14 // 499 × 249
	vp8l = binary.LittleEndian.AppendUint32(vp8l, v)
	vp8l = append(vp8l, make([]byte, 10)...)
	w, h, err := webpSize(vp8l)
	if err != nil || w != 499 || h != 249 {
		t.Errorf("VP8L: %d×%d, %v; want 499×249", w, h, err)
	}
	// VP8X: 24-bit canvas width−1 and height−1 at bytes 24..29.
	vp8x := []byte("RIFF\x00\x00\x00\x00WEBPVP8X\x0a\x00\x00\x00\x00\x00\x00\x00")
	vp8x = append(vp8x, 0x2f, 0x75, 0x00, 0x2f, 0x75, 0x00) // 30000 × 30000
	w, h, err = webpSize(vp8x)
	if err != nil || w != 30000 || h != 30000 {
		t.Errorf("VP8X: %d×%d, %v; want 30000×30000", w, h, err)
	}
	if _, _, _, err := imageHeader(vp8x); !errors.Is(err, errBomb) {
		t.Errorf("30000×30000 WebP in %d bytes: %v, want a decompression bomb", len(vp8x), err)
	}
}

// The committed samples must stay small, decodable, and listed in LICENSES.md.
func TestSamples(t *testing.T) {
	lic, err := os.ReadFile(filepath.Join("..", "web", "samples", "LICENSES.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range samples {
		b, err := os.ReadFile(filepath.Join("..", "web", "samples", s.File))
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > 200_000 {
			t.Errorf("%s is %d bytes, keep samples ≤ 200 KB", s.File, len(b))
		}
		if _, _, _, err := imageHeader(b); err != nil {
			t.Errorf("%s: %v", s.File, err)
		}
		if !bytes.Contains(lic, []byte(s.File)) {
			t.Errorf("%s is not listed in web/samples/LICENSES.md", s.File)
		}
	}
}
