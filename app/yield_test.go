//go:build !wasm

package main

import (
	"fmt"
	"testing"

	"github.com/slak-web/slak/engine/cpu"
	"github.com/slak-web/slak/engine/op"
)

func fill(n int, seed uint32) []float32 {
	v := make([]float32, n)
	for i := range v {
		seed = seed*1664525 + 1013904223
		v[i] = float32(int32(seed>>8)%2001-1000) / 1000
	}
	return v
}

// The chunked ops of yieldBackend (split by output row/channel, a yield
// between chunks) must give exactly the CPU reference's values: each output
// is computed by the same loop over the same inputs, so the check is bitwise.
// Shapes are hostile (odd, not multiples of the chunk) and above chunkMACs.
func TestYieldBackendChunksExact(t *testing.T) {
	ref := cpu.NewBackend()
	y := yieldBackend{ref}
	up := func(d []float32, s ...int) op.Tensor {
		t.Helper()
		x, err := ref.Upload(d, s...)
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	check := func(name string, got, want op.Tensor, err1, err2 error) {
		t.Helper()
		if err1 != nil || err2 != nil {
			t.Fatalf("%s: errors %v / %v", name, err1, err2)
		}
		g, _ := ref.Download(got)
		w, _ := ref.Download(want)
		if fmt.Sprint(got.Shape()) != fmt.Sprint(want.Shape()) || len(g) != len(w) {
			t.Fatalf("%s: shape %v, want %v", name, got.Shape(), want.Shape())
		}
		for i := range g {
			if g[i] != w[i] {
				t.Fatalf("%s: element %d = %g, want %g (bitwise)", name, i, g[i], w[i])
			}
		}
	}

	lp := op.Linear{In: 249, Out: 499, HW: 37, Bias: true} // 4.6 M MAC > chunkMACs
	x, w, b := up(fill(lp.In*lp.HW, 1), lp.In, lp.HW), up(fill(lp.Out*lp.In, 2), lp.Out, lp.In), up(fill(lp.Out, 3), lp.Out)
	g, e1 := y.Linear(x, w, b, lp)
	r, e2 := ref.Linear(x, w, b, lp)
	check("linear 249→499 ×37", g, r, e1, e2)

	dp := op.DWConv{C: 131, H: 29, W: 23, KH: 51, KW: 5, Stride: 1, PadH: 25, PadW: 2, Bias: true} // 22 M MAC
	x, w, b = up(fill(dp.C*dp.H*dp.W, 4), dp.C, dp.H, dp.W), up(fill(dp.C*dp.KH*dp.KW, 5), dp.C, dp.KH, dp.KW), up(fill(dp.C, 6), dp.C)
	g, e1 = y.DWConv(x, w, b, dp)
	r, e2 = ref.DWConv(x, w, b, dp)
	check("dwconv 131ch 29×23 51×5", g, r, e1, e2)
	dp.Bias = false
	g, e1 = y.DWConv(x, w, nil, dp)
	r, e2 = ref.DWConv(x, w, nil, dp)
	check("dwconv without bias", g, r, e1, e2)

	cp := op.Conv2D{Cin: 13, H: 57, W: 55, Cout: 249, KH: 2, KW: 2, Stride: 2, Bias: true} // 10 M MAC
	x, w, b = up(fill(cp.Cin*cp.H*cp.W, 7), cp.Cin, cp.H, cp.W), up(fill(cp.Cout*cp.Cin*4, 8), cp.Cout, cp.Cin, 2, 2), up(fill(cp.Cout, 9), cp.Cout)
	g, e1 = y.Conv2D(x, w, b, cp)
	r, e2 = ref.Conv2D(x, w, b, cp)
	check("conv2d 13→249 k2 s2 on 57×55", g, r, e1, e2)

	// A wrong weight length is reported, not sliced past its end.
	short := up(fill(10, 1), 10)
	if _, err := y.Linear(up(fill(lp.In*lp.HW, 1), lp.In, lp.HW), short, nil, op.Linear{In: 249, Out: 499, HW: 37}); err == nil {
		t.Errorf("linear with a 10-element weight: no error")
	}
}
