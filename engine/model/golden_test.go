package model

import (
	"fmt"
	"math"
	"path/filepath"
	"testing"

	"github.com/slak-web/slak/engine/cpu"
	"github.com/slak-web/slak/engine/op"
)

// Tolerances (SLAK.md §8 and our own measurements, see the report):
//
//   - logits: max|Δ| ≤ 1e-4·max(1, max|logit|). The float64 PyTorch reference
//     cast to float32 vs our float32 arithmetic; §8 measured the reference's own
//     f32-vs-f64 gap at ~2e-6 (SLaK, ConvNeXt) to ~1.4e-4 at logits ~40 (RepLKNet),
//     i.e. below 1e-4 relative.
//   - stage maps, erf_grad, erf_map: max|Δ| ≤ 1e-4·max|want| (relative to the
//     tensor's max-abs, since values near zero carry no relative accuracy). The
//     same float32 rounding argument; the backward adds one pass of the same depth.
const (
	tolLogit = 1e-4
	tolMap   = 1e-4
	// f16-rounded weights: each weight carries a relative error ≤ 2⁻¹¹ ≈ 4.9e-4;
	// measured ≤ 1e-3 of max(1, max|logit|) on the three tiny configs (2026-11-28),
	// so 5e-3 leaves a 5× margin while still catching a wrong rounding (2⁻⁸ ≈ 4e-3 per weight).
	// The reference is the float64 golden of the unrounded weights.
	tolF16 = 5e-3
)

var goldenConfigs = []string{"slak_tiny", "convnext_tiny", "replknet_tiny"}

// goldenNet loads a tiny config's official checkpoint, converts it and
// returns the deploy weights with the golden tensors.
func goldenDeploy(t testing.TB, cfg string) (Variant, StateDict, map[string]Param) {
	t.Helper()
	v, err := Lookup(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ck := readPTH(t, filepath.Join(goldenDir, cfg, "checkpoint.pth"))
	deploy, err := Convert(v, toStateDict(ck))
	if err != nil {
		t.Fatalf("%s: Convert: %v", cfg, err)
	}
	g, meta := readSafetensors(t, filepath.Join(goldenDir, cfg, "golden.safetensors"))
	if meta["config"] != cfg {
		t.Fatalf("%s: golden.safetensors metadata config = %q", cfg, meta["config"])
	}
	return v, deploy, g
}

// checkGolden runs every golden input of cfg through net and compares.
func checkGolden(t *testing.T, net *Net, g map[string]Param, withERF bool) {
	xs := goldenInputs(g)
	if len(xs) < 3 {
		t.Fatalf("golden has inputs %v, want rand64, odd71x53, photo224", xs)
	}
	for _, x := range xs {
		in := g[x+"/input"]
		h, w := in.Shape[1], in.Shape[2]
		name := fmt.Sprintf("%s/%s/%s", net.V.Name, net.b.Name(), x)
		out, err := net.Forward(in.Data, h, w)
		if err != nil {
			t.Fatalf("%s: Forward: %v", name, err)
		}
		want := g[x+"/logits"].Data
		scale := math.Max(1, maxAbs(want))
		e := compareRel(t, name+" logits", []int{len(want)}, out.Logits, want, tolLogit, 1)
		checkTop5(t, name+" logits", out.Logits, want, tolLogit*scale)
		worst := e
		for s := 0; s < 4; s++ {
			ws := g[fmt.Sprintf("%s/stage%d", x, s)]
			m := out.Stages[s]
			if !sameShape([]int{m.C, m.H, m.W}, ws.Shape) {
				t.Errorf("%s stage%d: shape [%d %d %d], want %v", name, s, m.C, m.H, m.W, ws.Shape)
				continue
			}
			worst = math.Max(worst, compareRel(t, fmt.Sprintf("%s stage%d", name, s), ws.Shape, m.Data, ws.Data, tolMap, 0))
		}
		if withERF {
			grad, emap, err := net.InputGradient(in.Data, h, w)
			if err != nil {
				t.Fatalf("%s: InputGradient: %v", name, err)
			}
			wg, wm := g[x+"/erf_grad"], g[x+"/erf_map"]
			worst = math.Max(worst, compareRel(t, name+" erf_grad", wg.Shape, grad, wg.Data, tolMap, 0))
			worst = math.Max(worst, compareRel(t, name+" erf_map", wm.Shape, emap, wm.Data, tolMap, 0))
		}
		t.Logf("%s: worst error relative to max-abs %.2e", name, worst)
	}
}

func TestGoldenCPU(t *testing.T) {
	for _, cfg := range goldenConfigs {
		t.Run(cfg, func(t *testing.T) {
			v, deploy, g := goldenDeploy(t, cfg)
			b := cpu.NewBackend()
			net, err := Load(b, v, deploy)
			if err != nil {
				t.Fatal(err)
			}
			defer net.Free()
			checkGolden(t, net, g, true)
			// The plain (unfused) path too: Fused is only used by Forward.
			net.UseFused = false
			checkGolden(t, net, g, false)
			// LogitsOnly: same logits, no stage maps.
			net.UseFused, net.LogitsOnly = true, true
			for _, x := range goldenInputs(g) {
				in := g[x+"/input"]
				out, err := net.Forward(in.Data, in.Shape[1], in.Shape[2])
				if err != nil {
					t.Fatal(err)
				}
				if out.Stages[0].Data != nil {
					t.Errorf("%s/%s: LogitsOnly downloaded stage maps", cfg, x)
				}
				compareRel(t, cfg+"/LogitsOnly/"+x+" logits", []int{len(out.Logits)}, out.Logits, g[x+"/logits"].Data, tolLogit, 1)
			}
		})
	}
}

// roundF16 rounds x to the nearest IEEE half (ties to even) and back; values
// beyond the half range saturate to ±Inf as a cast would.
func roundF16(x float32) float32 {
	if x == 0 || math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
		return x
	}
	a := math.Abs(float64(x))
	e := math.Floor(math.Log2(a))
	if e < -14 {
		e = -14 // subnormal: fixed spacing 2^-24
	}
	ulp := math.Exp2(e - 10)
	r := math.RoundToEven(a/ulp) * ulp
	if r > 65504 {
		r = math.Inf(1)
	}
	return float32(math.Copysign(r, float64(x)))
}

func TestRoundF16(t *testing.T) {
	cases := []struct{ in, want float32 }{
		{1, 1}, {1 + 1.0/4096, 1}, {1 + 1.0/2048, 1}, {1 + 3.0/2048, 1 + 1.0/512}, {1 + 3.0/4096, 1 + 1.0/1024}, {65504, 65504}, {-2.5, -2.5},
		{1e-8, 0}, {6e-8, 5.9604645e-08}, {0.1, 0.0999755859375},
	}
	for _, c := range cases {
		if got := roundF16(c.in); got != c.want {
			t.Errorf("roundF16(%g) = %g, want %g", c.in, got, c.want)
		}
	}
}

// f16Deploy rounds every deploy tensor to float16 and back (what a half
// precision weights file delivers).
func f16Deploy(d StateDict) StateDict {
	out := StateDict{}
	for k, p := range d {
		q := make([]float32, len(p.Data))
		for i, x := range p.Data {
			q[i] = roundF16(x)
		}
		out[k] = Param{Shape: p.Shape, Data: q}
	}
	return out
}

// TestGoldenF16Weights: the golden logits from f16-rounded weights, with
// tolF16 relative to max(1, max|logit|) and the same top-1.
func TestGoldenF16Weights(t *testing.T) {
	for _, cfg := range goldenConfigs {
		t.Run(cfg, func(t *testing.T) {
			v, deploy, g := goldenDeploy(t, cfg)
			net, err := Load(cpu.NewBackend(), v, f16Deploy(deploy))
			if err != nil {
				t.Fatal(err)
			}
			defer net.Free()
			for _, x := range goldenInputs(g) {
				in := g[x+"/input"]
				out, err := net.Forward(in.Data, in.Shape[1], in.Shape[2])
				if err != nil {
					t.Fatal(err)
				}
				want := g[x+"/logits"].Data
				e := compareRel(t, cfg+"/f16/"+x+" logits", []int{len(want)}, out.Logits, want, tolF16, 1)
				if argmax(out.Logits) != argmax(want) {
					t.Errorf("%s/f16/%s: top-1 %d, want %d", cfg, x, argmax(out.Logits), argmax(want))
				}
				t.Logf("%s/f16/%s: logit error %.2e of max(1, max|logit|)", cfg, x, e)
			}
		})
	}
}

func argmax(x []float32) int {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return best
}

// The ConvNeXt/SLaK forward uses op.Fused when offered; a backend that does
// not implement it must give the same answer (compile-time check that the
// wrapper hides Fused).
type plainOnly struct{ op.Backend }

func TestGoldenPlainBackend(t *testing.T) {
	v, deploy, g := goldenDeploy(t, "slak_tiny")
	net, err := Load(plainOnly{cpu.NewBackend()}, v, deploy)
	if err != nil {
		t.Fatal(err)
	}
	defer net.Free()
	if net.fused != nil {
		t.Fatal("plainOnly exposes op.Fused")
	}
	checkGolden(t, net, g, false)
}

func newCPU() op.Backend { return cpu.NewBackend() }
