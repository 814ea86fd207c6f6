package cpu

import (
	"math/rand"
	"testing"

	"github.com/slak-web/slak/engine/op"
)

// BenchmarkSLaKT224Forward runs the ops of a SLaK-T 224² forward (stem,
// 3/3/9/3 blocks of K×5 + 5×K + 5×5 depthwise branches, LN, pw1, GELU, pw2,
// layer scale, downsamplers, head; shapes from SLAK.md §1) with random
// weights, one weight set per stage (the cost does not depend on values).
func BenchmarkSLaKT224Forward(b *testing.B) {
	r := rand.New(rand.NewSource(1))
	dims := []int{124, 249, 499, 998}
	depths := []int{3, 3, 9, 3}
	ks := []int{51, 49, 47, 13}
	type stage struct {
		dw                    [3][]float32
		ps                    [3]op.DWConv
		dwb, lng, lnb         []float32
		w1, b1, w2, b2, gam   []float32
		dsW, dsB, dsG, dsBeta []float32
	}
	st := make([]stage, 4)
	hw := 56
	for i, c := range dims {
		s := &st[i]
		k := ks[i]
		s.ps = [3]op.DWConv{
			{C: c, H: hw, W: hw, KH: k, KW: 5, Stride: 1, PadH: k / 2, PadW: 2},
			{C: c, H: hw, W: hw, KH: 5, KW: k, Stride: 1, PadH: 2, PadW: k / 2},
			{C: c, H: hw, W: hw, KH: 5, KW: 5, Stride: 1, PadH: 2, PadW: 2},
		}
		for j, p := range s.ps {
			s.dw[j] = randSlice(r, c*p.KH*p.KW, 0.05)
		}
		s.dwb, s.lng, s.lnb = randSlice(r, c, 0.1), randSlice(r, c, 1), randSlice(r, c, 0.1)
		s.w1, s.b1 = randSlice(r, 4*c*c, 0.05), randSlice(r, 4*c, 0.1)
		s.w2, s.b2, s.gam = randSlice(r, 4*c*c, 0.05), randSlice(r, c, 0.1), randSlice(r, c, 0.1)
		cin := 3
		if i > 0 {
			cin = dims[i-1]
		}
		kk := 2
		if i == 0 {
			kk = 4
		}
		s.dsW, s.dsB = randSlice(r, c*cin*kk*kk, 0.05), randSlice(r, c, 0.1)
		s.dsG, s.dsBeta = randSlice(r, c, 1), randSlice(r, c, 0.1)
		hw /= 2
	}
	img := randSlice(r, 3*224*224, 1)
	headW, headB := randSlice(r, 1000*998, 0.03), randSlice(r, 1000, 0.1)
	cb := NewBackend()
	b.ResetTimer()
	for it := 0; it < b.N; it++ {
		x := img
		h, cin := 224, 3
		for i, c := range dims {
			s := &st[i]
			var err error
			if i == 0 {
				p := op.Conv2D{Cin: 3, H: h, W: h, Cout: c, KH: 4, KW: 4, Stride: 4, Bias: true}
				x, err = Conv2D(x, s.dsW, s.dsB, p)
				h = p.OutH()
				x, _ = LayerNorm(x, s.dsG, s.dsBeta, op.LayerNorm{C: c, HW: h * h, Eps: 1e-6})
			} else {
				x, _ = LayerNorm(x, make([]float32, cin), make([]float32, cin), op.LayerNorm{C: cin, HW: h * h, Eps: 1e-6})
				p := op.Conv2D{Cin: cin, H: h, W: h, Cout: c, KH: 2, KW: 2, Stride: 2, Bias: true}
				x, err = Conv2D(x, s.dsW, s.dsB, p)
				h = p.OutH()
			}
			if err != nil {
				b.Fatal(err)
			}
			n := h * h
			for d := 0; d < depths[i]; d++ {
				var ts []op.Tensor
				X, _ := cb.Upload(x, c, h, h)
				for j := range s.dw {
					T, _ := cb.Upload(s.dw[j], len(s.dw[j]))
					ts = append(ts, T)
				}
				Bt, _ := cb.Upload(s.dwb, c)
				Y, err := cb.DWConvSum(X, ts, Bt, s.ps[:])
				if err != nil {
					b.Fatal(err)
				}
				y, _ := cb.Download(Y)
				y, _ = LayerNorm(y, s.lng, s.lnb, op.LayerNorm{C: c, HW: n, Eps: 1e-6})
				y, _ = Linear(y, s.w1, s.b1, op.Linear{In: c, Out: 4 * c, HW: n, Bias: true})
				y, _ = GELU(y, op.Elementwise{N: len(y)})
				y, _ = Linear(y, s.w2, s.b2, op.Linear{In: 4 * c, Out: c, HW: n, Bias: true})
				x, _ = ScaleResidual(x, y, s.gam, op.ScaleResidual{C: c, HW: n})
			}
			cin = c
		}
		p, _ := AvgPool(x, op.AvgPool{C: 998, HW: h * h})
		p, _ = LayerNorm(p, st[3].lng, st[3].lnb, op.LayerNorm{C: 998, HW: 1, Eps: 1e-6})
		l, _ := Linear(p, headW, headB, op.Linear{In: 998, Out: 1000, HW: 1, Bias: true})
		if _, err := Softmax(l, op.Softmax{N: 1000}); err != nil {
			b.Fatal(err)
		}
	}
}
