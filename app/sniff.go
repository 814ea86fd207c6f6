package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	_ "image/gif"  // header parsing for DecodeConfig
	_ "image/jpeg" // header parsing for DecodeConfig
	_ "image/png"  // header parsing for DecodeConfig
)

// Limits on what the page agrees to decode. A photo larger than this would
// need gigabytes as RGBA in the tab; a tiny file that claims such dimensions is
// a decompression bomb.
const (
	maxPixels = 50_000_000 // 50 MP, e.g. 8660×5773
	maxSide   = 16384      // px; also the largest canvas side browsers allow
	// bombRatio: decoded RGBA bytes per file byte above which a large image
	// is called a decompression bomb (photos compress ~10:1, flat PNGs ~200:1;
	// bombs reach 1000:1 and more). Only applied above bombMinPixels.
	bombRatio     = 2000
	bombMinPixels = 4_000_000
)

// fileKind is what a dropped or pasted file is, by its content.
type fileKind int

const (
	kindUnknown       fileKind = iota
	kindImage                  // PNG, JPEG, GIF, WebP, BMP
	kindSafetensors            // a converted checkpoint: u64 header length + JSON
	kindPyTorchZip             // an official .pth (zip of data.pkl + storages)
	kindPyTorchLegacy          // a pre-1.6 pickle .pth (not supported)
)

func (k fileKind) String() string {
	switch k {
	case kindImage:
		return "image"
	case kindSafetensors:
		return "converted weights (.safetensors)"
	case kindPyTorchZip:
		return "PyTorch checkpoint (.pth)"
	case kindPyTorchLegacy:
		return "legacy PyTorch pickle"
	}
	return "unknown"
}

// imageFormat names the image format from magic bytes, or "" if none matches.
func imageFormat(b []byte) string {
	switch {
	case bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")):
		return "png"
	case bytes.HasPrefix(b, []byte{0xFF, 0xD8, 0xFF}):
		return "jpeg"
	case bytes.HasPrefix(b, []byte("GIF87a")), bytes.HasPrefix(b, []byte("GIF89a")):
		return "gif"
	case len(b) >= 12 && string(b[:4]) == "RIFF" && string(b[8:12]) == "WEBP":
		return "webp"
	case bytes.HasPrefix(b, []byte("BM")) && len(b) >= 26:
		return "bmp"
	}
	return ""
}

// sniff classifies a file by its first bytes, never by its name.
func sniff(b []byte) fileKind {
	if imageFormat(b) != "" {
		return kindImage
	}
	if bytes.HasPrefix(b, []byte("PK\x03\x04")) {
		return kindPyTorchZip
	}
	// Legacy torch.save: pickle protocol 2 starts 0x80 0x02 and the magic number.
	if bytes.HasPrefix(b, []byte{0x80, 0x02}) {
		return kindPyTorchLegacy
	}
	if len(b) >= 10 {
		n := binary.LittleEndian.Uint64(b[:8])
		if n >= 2 && n < 100<<20 && uint64(len(b)) >= 8+n && b[8] == '{' {
			return kindSafetensors
		}
		// Header claims more than the file holds: still a (truncated) safetensors.
		if n >= 2 && n < 100<<20 && b[8] == '{' {
			return kindSafetensors
		}
	}
	return kindUnknown
}

// Image errors, each with its own message and next step in the UI.
var (
	errNotImage  = errors.New("not an image")
	errCorrupt   = errors.New("corrupt or truncated image")
	errEnormous  = errors.New("image too large")
	errBomb      = errors.New("decompression bomb")
	errNoContent = errors.New("empty file")
)

// imageHeader reads an image's dimensions from its header without decoding
// pixels, and refuses enormous images, decompression bombs and (for PNG and
// JPEG) files that stop before their end marker.
func imageHeader(b []byte) (format string, w, h int, err error) {
	if len(b) == 0 {
		return "", 0, 0, errNoContent
	}
	format = imageFormat(b)
	switch format {
	case "":
		return "", 0, 0, errNotImage
	case "webp":
		w, h, err = webpSize(b)
	case "bmp":
		w, h, err = bmpSize(b)
	default:
		var cfg image.Config
		cfg, _, err = image.DecodeConfig(bytes.NewReader(b))
		w, h = cfg.Width, cfg.Height
	}
	if err != nil {
		return format, 0, 0, fmt.Errorf("%w: %s header: %v", errCorrupt, format, err)
	}
	if w <= 0 || h <= 0 {
		return format, w, h, fmt.Errorf("%w: %s header says %d×%d", errCorrupt, format, w, h)
	}
	px := int64(w) * int64(h)
	if px >= bombMinPixels && px*4 > int64(len(b))*bombRatio {
		return format, w, h, fmt.Errorf("%w: a %d-byte file claims %d×%d pixels (%.0f MB decoded)", errBomb, len(b), w, h, float64(px*4)/1e6)
	}
	if w > maxSide || h > maxSide || px > maxPixels {
		return format, w, h, fmt.Errorf("%w: %d×%d (%.1f MP); the limit is %d MP and %d px a side", errEnormous, w, h, float64(px)/1e6, maxPixels/1_000_000, maxSide)
	}
	if err := checkComplete(format, b); err != nil {
		return format, w, h, err
	}
	return format, w, h, nil
}

// checkComplete reports a PNG without its IEND chunk or a JPEG without its
// EOI marker: browsers render such files partially instead of failing.
func checkComplete(format string, b []byte) error {
	switch format {
	case "png":
		if !bytes.Contains(b[max(0, len(b)-64):], []byte("IEND")) {
			return fmt.Errorf("%w: the PNG ends after %d bytes without its IEND chunk", errCorrupt, len(b))
		}
	case "jpeg":
		// EOI (FF D9) ends the data; some writers append a few padding bytes.
		if !bytes.Contains(b[max(0, len(b)-32):], []byte{0xFF, 0xD9}) {
			return fmt.Errorf("%w: the JPEG ends after %d bytes without its end-of-image marker", errCorrupt, len(b))
		}
	}
	return nil
}

// webpSize parses the VP8 / VP8L / VP8X header of a WebP file.
func webpSize(b []byte) (int, int, error) {
	if len(b) < 30 {
		return 0, 0, errors.New("short WebP header")
	}
	switch string(b[12:16]) {
	case "VP8 ":
		if b[23] != 0x9d || b[24] != 0x01 || b[25] != 0x2a {
			return 0, 0, errors.New("bad VP8 start code")
		}
		return int(binary.LittleEndian.Uint16(b[26:]) & 0x3fff), int(binary.LittleEndian.Uint16(b[28:]) & 0x3fff), nil
	case "VP8L":
		if b[20] != 0x2f {
			return 0, 0, errors.New("bad VP8L signature")
		}
		v := binary.LittleEndian.Uint32(b[21:])
		return int(v&0x3fff) + 1, int((v>>14)&0x3fff) + 1, nil
	case "VP8X":
		w := int(b[24]) | int(b[25])<<8 | int(b[26])<<16
		h := int(b[27]) | int(b[28])<<8 | int(b[29])<<16
		return w + 1, h + 1, nil
	}
	return 0, 0, fmt.Errorf("unknown WebP chunk %q", b[12:16])
}

// bmpSize reads BITMAPINFOHEADER's width and (possibly negative) height.
func bmpSize(b []byte) (int, int, error) {
	w := int(int32(binary.LittleEndian.Uint32(b[18:])))
	h := int(int32(binary.LittleEndian.Uint32(b[22:])))
	if h < 0 {
		h = -h
	}
	return w, h, nil
}
