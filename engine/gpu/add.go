package gpu

import (
	"fmt"

	"github.com/slak-web/slak/engine/op"
)

// Add implements op.Backend with wgsl/add.wgsl: y = a + b.
func (b *Backend) Add(x, y op.Tensor, p op.Elementwise) (op.Tensor, error) {
	return b.elementwise("add", "add", p, []string{"a", "b"}, x, y)
}

// AddGradInput implements op.Backend: dL/da = dy, returned as a new tensor (a buffer copy recorded
// in the pending encoder; no kernel).
func (b *Backend) AddGradInput(dy op.Tensor, p op.Elementwise) (op.Tensor, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	const name = "add_grad"
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	dyt, err := b.arg(name, "dy", dy, p.N)
	if err != nil {
		return nil, err
	}
	out, err := b.newTensor(name, dyt.shape...)
	if err != nil {
		return nil, err
	}
	enc, err := b.encoder()
	if err == nil {
		err = enc.CopyBufferToBuffer(dyt.buf, 0, out.buf, 0, uint64(p.N)*4)
	}
	if err != nil {
		b.deferred = append(b.deferred, func() { b.destroy(out) })
		return nil, fmt.Errorf("%s: copy: %w", name, err)
	}
	b.recorded++
	return out, nil
}
