package gpu

import (
	"fmt"

	"github.com/slak-web/slak/engine/op"
)

// elementwise runs an elementwise shader over n values of the given tensors.
func (b *Backend) elementwise(name, shader string, p op.Elementwise, what []string, ts ...op.Tensor) (op.Tensor, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	ins := make([]*Tensor, len(ts))
	for i, t := range ts {
		var err error
		if ins[i], err = b.arg(name, what[i], t, p.N); err != nil {
			return nil, err
		}
	}
	return b.run(name, shader, nil, nParams{u(p.N)}, ins, b.grid1D(p.N, 256), ins[0].shape...)
}
