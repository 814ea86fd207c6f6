package gpu

import (
	"encoding/binary"
	"fmt"

	"github.com/slak-web/slak/engine/imgprep"
	"github.com/slak-web/slak/engine/op"
)

// Params mirrors of the preprocessing shaders (checked by TestParamsLayout like every kernel).
type (
	imgprepHParams struct {
		SrcW, Ch, Rows, Size, KSize, NeedH, Left, RowOff uint32
	}
	imgprepVParams struct {
		Size, KSize, RowFirst, NeedV uint32
	}
)

// imgprepBandBytes, when > 0, replaces the binding limit that sizes the row bands (a test hook).
var imgprepBandBytes uint64

func init() {
	kernels["imgprep_h"] = kernel{2, imgprepHParams{}}
	kernels["imgprep_v"] = kernel{2, imgprepVParams{}}
	kernels["imgprep_norm"] = kernel{2, nParams{}}
}

// Preprocess runs the ImageNet eval or warp transform of engine/imgprep on the GPU: PIL's bicubic
// resample in exact integer arithmetic (wgsl/imgprep_h.wgsl, wgsl/imgprep_v.wgsl), then ToTensor +
// Normalize through a host-computed table (wgsl/imgprep_norm.wgsl). pix is w×h RGB or RGBA bytes
// (alpha ignored); the result is a [3, Size, Size] tensor bit-identical to imgprep.Preprocess, and
// the crop it came from. The coefficients (a few per output column and row) are computed on the
// host by imgprep.NewPlan; only the input rows the crop needs are uploaded.
func (b *Backend) Preprocess(pix []uint8, w, h int, mode imgprep.Mode) (op.Tensor, imgprep.Crop, error) {
	const name = "imgprep"
	plan, err := imgprep.NewPlan(w, h, mode)
	if err != nil {
		return nil, imgprep.Crop{}, fmt.Errorf("%s: %w", name, err)
	}
	ch, err := imgprep.Channels(pix, w, h)
	if err != nil {
		return nil, imgprep.Crop{}, fmt.Errorf("%s: %w", name, err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.alive(name); err != nil {
		return nil, imgprep.Crop{}, err
	}
	s := mode.Size
	rows := pix[plan.RowFirst*w*ch : (plan.RowFirst+plan.RowCount)*w*ch]

	var temps []*Tensor
	defer func() { // intermediates go once the recorded work that reads them is submitted
		for _, t := range temps {
			if b.enc == nil {
				b.destroy(t)
			} else {
				b.deferred = append(b.deferred, func() { b.destroy(t) })
			}
		}
	}()
	upload := func(what string, data []byte) (*Tensor, error) {
		for len(data)%4 != 0 {
			data = append(data[:len(data):len(data)], 0)
		}
		t, err := b.newTensor(name+" "+what, len(data)/4)
		if err != nil {
			return nil, err
		}
		temps = append(temps, t)
		if err := b.queue.WriteBuffer(t.buf, 0, data); err != nil {
			return nil, fmt.Errorf("%s: upload %s: %w", name, what, err)
		}
		return t, nil
	}
	scratch := func(what string, n int) (*Tensor, error) {
		t, err := b.newTensor(name+" "+what, n)
		if err == nil {
			temps = append(temps, t)
		}
		return t, err
	}

	hc, err := upload("horizontal coefficients", coefBytes(plan.H))
	if err != nil {
		return nil, imgprep.Crop{}, err
	}
	vc, err := upload("vertical coefficients", coefBytes(plan.V))
	if err != nil {
		return nil, imgprep.Crop{}, err
	}
	lut := make([]float32, 3*256)
	for c := 0; c < 3; c++ {
		for v := 0; v < 256; v++ {
			lut[c*256+v] = imgprep.NormalizeValue(uint8(v), c)
		}
	}
	lt, err := upload("normalisation table", f32bytes(lut))
	if err != nil {
		return nil, imgprep.Crop{}, err
	}
	tmp, err := scratch("horizontal pass", plan.RowCount*s)
	if err != nil {
		return nil, imgprep.Crop{}, err
	}
	px, err := scratch("vertical pass", s*s)
	if err != nil {
		return nil, imgprep.Crop{}, err
	}
	// The input rows go up in bands that each fit one storage binding (a 50-megapixel RGBA image
	// is 200 MB; WebGPU's default binding limit is 128 MiB).
	limit := uint64(128 << 20)
	if l := b.info.Limits.MaxStorageBufferBindingSize; l > 0 {
		limit = l
	}
	if imgprepBandBytes > 0 {
		limit = imgprepBandBytes
	}
	band := max(1, min(plan.RowCount, int(limit/uint64(w*ch))))
	for r0 := 0; r0 < plan.RowCount; r0 += band {
		n := min(band, plan.RowCount-r0)
		src, err := upload("pixels", rows[r0*w*ch:(r0+n)*w*ch])
		if err != nil {
			return nil, imgprep.Crop{}, err
		}
		hp := imgprepHParams{SrcW: u(w), Ch: u(ch), Rows: u(n), Size: u(s), KSize: u(plan.H.KSize),
			NeedH: imgprepFlag(plan.NeedH), Left: u(plan.Crop.Left), RowOff: u(r0)}
		if err := b.dispatch(name, "imgprep_h", nil, hp, []*Tensor{src, hc}, tmp, b.grid1D(n*s, 64)); err != nil {
			return nil, imgprep.Crop{}, err
		}
	}
	vp := imgprepVParams{Size: u(s), KSize: u(plan.V.KSize), RowFirst: u(plan.RowFirst), NeedV: imgprepFlag(plan.NeedV)}
	if err := b.dispatch(name, "imgprep_v", nil, vp, []*Tensor{tmp, vc}, px, b.grid1D(s*s, 64)); err != nil {
		return nil, imgprep.Crop{}, err
	}
	out, err := b.run(name, "imgprep_norm", nil, nParams{u(s * s)}, []*Tensor{px, lt}, b.grid1D(s*s, 64), 3, s, s)
	if err != nil {
		return nil, imgprep.Crop{}, err
	}
	return out, plan.Crop, nil
}

// coefBytes lays out one axis's coefficients as imgprep_h/v read them: i32 (min, count) per
// output, then the [N, KSize] weights.
func coefBytes(c imgprep.Coeffs) []byte {
	out := make([]byte, 0, 4*(2*c.N+len(c.K)))
	for i := 0; i < c.N; i++ {
		out = binary.LittleEndian.AppendUint32(out, uint32(c.Min[i]))
		out = binary.LittleEndian.AppendUint32(out, uint32(c.Count[i]))
	}
	for _, k := range c.K {
		out = binary.LittleEndian.AppendUint32(out, uint32(k))
	}
	return out
}

func imgprepFlag(v bool) uint32 {
	if v {
		return 1
	}
	return 0
}
