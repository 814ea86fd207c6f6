package gpu

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/slak-web/slak/engine/op"
)

// Params mirrors of the re-masking shaders (checked by TestParamsLayout like every kernel).
type (
	remaskHistParams   struct{ N, Shift, Mask, Base uint32 }
	remaskSelectParams struct{ Shift, Base uint32 }
	remaskScanParams   struct{ Blocks uint32 }
)

func init() {
	kernels["remask_hist"] = kernel{2, remaskHistParams{}}
	kernels["remask_select"] = kernel{1, remaskSelectParams{}}
	kernels["remask_ties"] = kernel{2, nParams{}}
	kernels["remask_scan"] = kernel{1, remaskScanParams{}}
	kernels["remask_apply"] = kernel{3, nParams{}}
}

// MaxRemaskSparsity is the largest sparsity Remask accepts (the ERF page's slider range).
const MaxRemaskSparsity = 0.9

// Remask writes into dst the n entries of orig with the round(sparsity·n) smallest magnitudes set
// to zero: erf.MaskByMagnitude on the device, bit for bit (ties at the threshold go lowest index
// first; entries already zero count towards the target). Nothing is read back: the threshold is
// found by a 4-pass radix select over the magnitude bits (wgsl/remask_hist.wgsl counts one 8-bit
// digit into 256 bins, wgsl/remask_select.wgsl picks it), then wgsl/remask_ties.wgsl and
// wgsl/remask_scan.wgsl rank the entries equal to the threshold and wgsl/remask_apply.wgsl writes
// dst. sparsity 0 copies orig. orig and dst are n-element tensors of this backend and must differ;
// sparsity outside [0, 0.9] is refused. The work is recorded, not submitted (Flush or a Download
// submits it); 11 dispatches per call.
func (b *Backend) Remask(orig, dst op.Tensor, n int, sparsity float64) (err error) {
	const name = "remask"
	b.mu.Lock()
	defer b.mu.Unlock()
	defer recoverTo(name, &err)
	if !(sparsity >= 0 && sparsity <= MaxRemaskSparsity) {
		return fmt.Errorf("%s: sparsity %g outside [0, %g]", name, sparsity, MaxRemaskSparsity)
	}
	if n <= 0 {
		return fmt.Errorf("%s: %w: n = %d, want > 0", name, op.ErrShape, n)
	}
	ot, err := b.arg(name, "orig", orig, n)
	if err != nil {
		return err
	}
	dt, err := b.arg(name, "dst", dst, n)
	if err != nil {
		return err
	}
	if ot == dt {
		return fmt.Errorf("%s: orig and dst are the same tensor", name)
	}
	drop := int(math.Round(sparsity * float64(n)))
	if drop == 0 {
		enc, err := b.encoder()
		if err == nil {
			err = enc.CopyBufferToBuffer(ot.buf, 0, dt.buf, 0, uint64(n)*4)
		}
		if err != nil {
			return fmt.Errorf("%s: copy: %w", name, err)
		}
		b.recorded++
		return nil
	}

	var temps []*Tensor
	defer func() { // scratch goes once the recorded work that uses it is submitted
		for _, t := range temps {
			if b.enc == nil {
				b.destroy(t)
			} else {
				b.deferred = append(b.deferred, func() { b.destroy(t) })
			}
		}
	}()
	scratch := func(what string, size int, init []uint32) (*Tensor, error) {
		t, err := b.newTensor(name+" "+what, size)
		if err != nil {
			return nil, err
		}
		temps = append(temps, t)
		raw := make([]byte, 4*size)
		for i, v := range init {
			binary.LittleEndian.PutUint32(raw[4*i:], v)
		}
		// A fresh buffer: the write lands before the submit that first uses it.
		if err := b.queue.WriteBuffer(t.buf, 0, raw); err != nil {
			return nil, fmt.Errorf("%s: init %s: %w", name, what, err)
		}
		return t, nil
	}
	blocks := ceilDiv(n, 4096)                                       // entries per workgroup of remask_hist, _ties and _apply
	state, err := scratch("state", 4, []uint32{0, uint32(drop - 1)}) // [digits so far, rank left]
	if err != nil {
		return err
	}
	hist, err := scratch("histogram", 4*256, nil) // [4 passes][256 bins]
	if err != nil {
		return err
	}
	eq, err := scratch("tie counts", blocks, nil) // [⌈n/4096⌉]
	if err != nil {
		return err
	}
	pre, err := scratch("tie prefix", blocks, nil) // [⌈n/4096⌉]
	if err != nil {
		return err
	}
	grid := b.grid1D(n, 4096)
	one := [3]uint32{1, 1, 1}
	for pass := 0; pass < 4; pass++ {
		shift := uint32(24 - 8*pass)
		mask := ^uint32(0) << (shift + 8) // 0 in pass 0 (a Go shift by 32 gives 0)
		base := uint32(256 * pass)
		if err := b.dispatch(name, "remask_hist", nil, remaskHistParams{uint32(n), shift, mask, base}, []*Tensor{ot, state}, hist, grid); err != nil {
			return err
		}
		if err := b.dispatch(name, "remask_select", nil, remaskSelectParams{shift, base}, []*Tensor{hist}, state, one); err != nil {
			return err
		}
	}
	if err := b.dispatch(name, "remask_ties", nil, nParams{uint32(n)}, []*Tensor{ot, state}, eq, grid); err != nil {
		return err
	}
	if err := b.dispatch(name, "remask_scan", nil, remaskScanParams{uint32(blocks)}, []*Tensor{eq}, pre, one); err != nil {
		return err
	}
	return b.dispatch(name, "remask_apply", nil, nParams{uint32(n)}, []*Tensor{ot, state, pre}, dt, grid)
}

// Clone returns a new tensor holding a copy of x (a buffer copy recorded in the pending encoder;
// the data never leaves the device). RemaskLK keeps the original weights this way.
func (b *Backend) Clone(x op.Tensor) (_ op.Tensor, err error) {
	const name = "clone"
	b.mu.Lock()
	defer b.mu.Unlock()
	defer recoverTo(name, &err)
	t, err := b.tensor(name, "x", x)
	if err != nil {
		return nil, err
	}
	out, err := b.newTensor(name, t.shape...)
	if err != nil {
		return nil, err
	}
	enc, err := b.encoder()
	if err == nil {
		err = enc.CopyBufferToBuffer(t.buf, 0, out.buf, 0, uint64(t.n)*4)
	}
	if err != nil {
		if b.enc == nil {
			b.destroy(out)
		} else {
			b.deferred = append(b.deferred, func() { b.destroy(out) })
		}
		return nil, fmt.Errorf("%s: copy: %w", name, err)
	}
	b.recorded++
	return out, nil
}
