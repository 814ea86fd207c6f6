package erf

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/slak-web/slak/engine/cpu"
	"github.com/slak-web/slak/engine/gpu"
	"github.com/slak-web/slak/engine/model"
	"github.com/slak-web/slak/engine/op"
	"github.com/slak-web/slak/weights"
)

// Golden ERF maps of the three tiny families (testdata/golden/README.md:
// tools/golden/gen.py, float64 PyTorch cast to float32).
//
// Tolerance tolMap: max|Δ| ≤ 1e-4·max|golden| per tensor, the README's bound
// for float32 engines (PyTorch's own float32 run is within 5.5e-7 of each
// tensor's max; 1e-4 leaves room for other summation orders and the erf
// approximation in GELU, and still catches a wrong padding or a flipped
// kernel, which move the map by O(1) of its max).
const tolMap = 1e-4

var goldenDir = filepath.Join("..", "..", "testdata", "golden")

var goldenConfigs = []string{"slak_tiny", "convnext_tiny", "replknet_tiny"}

// goldenInputs are the inputs of golden.safetensors (README "Inputs").
var goldenInputs = []string{"rand64", "odd71x53", "photo224"}

func readFile(t testing.TB, path string) *os.File {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// goldenDeploy converts cfg's official checkpoint and reads its golden tensors.
func goldenDeploy(t testing.TB, cfg string) (model.Variant, model.StateDict, map[string]model.Param) {
	t.Helper()
	v, err := model.Lookup(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f := readFile(t, filepath.Join(goldenDir, cfg, "checkpoint.pth"))
	defer f.Close()
	st, _ := f.Stat()
	ck, err := weights.ReadPTH(f, st.Size())
	if err != nil {
		t.Fatalf("%s: ReadPTH: %v", cfg, err)
	}
	official := model.StateDict{}
	for name, ten := range ck.StateDict {
		data, err := ten.Float32()
		if err != nil {
			t.Fatalf("%s: %s: %v", cfg, name, err)
		}
		official[model.StripPrefix(name)] = model.Param{Shape: ten.Shape, Data: data}
	}
	deploy, err := model.Convert(v, official)
	if err != nil {
		t.Fatalf("%s: Convert: %v", cfg, err)
	}
	g := readFile(t, filepath.Join(goldenDir, cfg, "golden.safetensors"))
	defer g.Close()
	st, _ = g.Stat()
	sf, err := weights.ReadSafetensors(g, st.Size())
	if err != nil {
		t.Fatalf("%s: golden.safetensors: %v", cfg, err)
	}
	gold := map[string]model.Param{}
	for name, ten := range sf.Tensors {
		data, err := ten.Float32()
		if err != nil {
			t.Fatal(err)
		}
		gold[name] = model.Param{Shape: ten.Shape, Data: data}
	}
	return v, deploy, gold
}

func maxAbs(x []float32) float64 {
	var m float64
	for _, v := range x {
		m = math.Max(m, math.Abs(float64(v)))
	}
	return m
}

// compareMap checks got against want with max|Δ| ≤ rel·max|want| and names
// the worst coordinate (y, x) of the w-wide map.
func compareMap(t *testing.T, what string, w int, got, want []float32, rel float64) float64 {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d values, want %d", what, len(got), len(want))
		return math.Inf(1)
	}
	scale := maxAbs(want)
	worst, at := 0.0, 0
	for i := range want {
		if d := math.Abs(float64(got[i]) - float64(want[i])); !(d <= worst) {
			worst, at = d, i
		}
	}
	if !(worst <= rel*scale) {
		t.Errorf("%s: max|Δ| = %.3g at (y=%d, x=%d): got %g, want %g; tolerance %.1e·max|want| = %.3g",
			what, worst, at/w, at%w, got[at], want[at], rel, rel*scale)
	}
	return worst / scale
}

// requireGPU is true where a missing adapter must fail the run.
func requireGPU() bool { return os.Getenv("CI") == "true" || os.Getenv("SLAK_REQUIRE_GPU") == "1" }

var (
	gpuOnce sync.Once
	gpuB    *gpu.Backend
	gpuErr  error
)

// gpuBackend opens the native adapter once (lavapipe here), or skips.
func gpuBackend(t *testing.T) *gpu.Backend {
	t.Helper()
	gpuOnce.Do(func() { gpuB, gpuErr = gpu.New() })
	if gpuErr != nil {
		if requireGPU() {
			t.Fatalf("no WebGPU device (CI=true or SLAK_REQUIRE_GPU=1 requires one): %v", gpuErr)
		}
		t.Skipf("no WebGPU adapter: %v", gpuErr)
	}
	return gpuB
}

// TestComputeGolden: erf.Compute (the API the page calls, with its memory
// check) on each tiny family and square golden input equals the golden
// erf_map, on the CPU reference and on the native GPU backend; then the area
// ratios of our map match those of the golden map (the plain analyze_erf.py
// loop on the golden), threshold by threshold. The raw model-level ERF
// comparisons live in engine/model (golden_test.go, gpu_test.go).
func TestComputeGolden(t *testing.T) {
	backends := []struct {
		name string
		get  func(t *testing.T) op.Backend
	}{
		{"cpu", func(*testing.T) op.Backend { return cpu.NewBackend() }},
		{"gpu", func(t *testing.T) op.Backend { return gpuBackend(t) }},
	}
	for _, cfg := range goldenConfigs {
		v, deploy, g := goldenDeploy(t, cfg)
		for _, be := range backends {
			t.Run(cfg+"/"+be.name, func(t *testing.T) {
				b := be.get(t)
				net, err := model.Load(b, v, deploy)
				if err != nil {
					t.Fatal(err)
				}
				defer net.Free()
				for _, x := range goldenInputs {
					in, want := g[x+"/input"], g[x+"/erf_map"]
					h, w := in.Shape[1], in.Shape[2]
					if h != w {
						// Compute takes square images (the ERF protocol warps to
						// S×S); the non-square input's erf_grad and erf_map are
						// checked on both backends by engine/model's TestGoldenCPU
						// and TestGoldenGPU, which this test does not repeat.
						continue
					}
					m, err := Compute(net, in.Data, h)
					if err != nil {
						t.Fatalf("%s: Compute: %v", x, err)
					}
					name := fmt.Sprintf("%s/%s/%s erf_map", cfg, be.name, x)
					e := compareMap(t, name, w, m.Data, want.Data, tolMap)
					checkRatiosAgree(t, name, m.Data, want.Data, h, w)
					t.Logf("%s: max|Δ| = %.2e of max", name, e)
				}
			})
		}
	}
}

// checkRatiosAgree compares AreaRatios(Normalize(got)) with the plain loop on
// Normalize(want). The sides must be equal unless the golden's window sum is
// within 1e-4 of the threshold there (then a float32 difference may
// legitimately move the window by one step; none of the golden maps is that
// close, and the test reports it if one becomes so).
func checkRatiosAgree(t *testing.T, name string, got, want []float32, h, w int) {
	t.Helper()
	pg, pw := Normalize(got, Log), Normalize(want, Log)
	rg, err := AreaRatios(pg, h, w, Thresholds)
	if err != nil {
		t.Fatalf("%s: AreaRatios: %v", name, err)
	}
	rw := plainAreaRatios(pw, h, w, Thresholds)
	for i := range rw {
		if rg[i].Found != rw[i].Found || rg[i].Side != rw[i].Side || math.Abs(rg[i].R-rw[i].R) > 1e-12 {
			t.Errorf("%s: t=%g: ours %v, golden (plain analyze_erf loop) %v", name, rw[i].T, rg[i], rw[i])
		}
	}
	t.Logf("%s: r = %v", name, rg)
}

// TestAveraged: Averaged over three images equals the mean of the
// per-image Compute maps, reports progress, skips a NaN image, and stops
// on a cancelled context with the partial mean.
func TestAveraged(t *testing.T) {
	v, deploy, g := goldenDeploy(t, "slak_tiny")
	net, err := model.Load(cpu.NewBackend(), v, deploy)
	if err != nil {
		t.Fatal(err)
	}
	defer net.Free()
	const s = 64
	base := g["rand64/input"].Data
	// Images: the golden input, its negative, and a mirror (not the same map).
	imgs := [][]float32{base, make([]float32, len(base)), make([]float32, len(base))}
	for i, x := range base {
		imgs[1][i] = -x
		c, y, xx := i/(s*s), i/s%s, i%s
		imgs[2][c*s*s+y*s+(s-1-xx)] = x
	}
	var want []float64
	for _, im := range imgs {
		m, err := Compute(net, im, s)
		if err != nil {
			t.Fatal(err)
		}
		if want == nil {
			want = make([]float64, len(m.Data))
		}
		for i, x := range m.Data {
			want[i] += float64(x) / 3
		}
	}
	var calls [][2]int
	got, err := Averaged(context.Background(), net, s, 3, func(i int) ([]float32, error) { return imgs[i], nil },
		func(done, n int) { calls = append(calls, [2]int{done, n}) })
	if err != nil {
		t.Fatal(err)
	}
	if got.Images != 3 || got.Skipped != 0 || len(calls) != 3 || calls[2] != [2]int{3, 3} {
		t.Errorf("Averaged: images %d, skipped %d, progress %v; want 3, 0, [[1 3] [2 3] [3 3]]", got.Images, got.Skipped, calls)
	}
	for i := range want {
		// Float64 mean of the same float32 maps, rounded once: equal to 1 ulp.
		if d := math.Abs(float64(got.Data[i]) - want[i]); d > 1e-6*math.Abs(want[i])+1e-30 {
			t.Fatalf("Averaged at (y=%d, x=%d): got %g, want %g", i/s, i%s, got.Data[i], want[i])
		}
	}

	// A NaN image is skipped (the network propagates the NaN into its map).
	nan := append([]float32(nil), base...)
	nan[0] = float32(math.NaN())
	got, err = Averaged(context.Background(), net, s, 2, func(i int) ([]float32, error) { return [][]float32{nan, base}[i], nil }, nil)
	if err != nil || got.Images != 1 || got.Skipped != 1 {
		t.Errorf("Averaged with a NaN image: images %d, skipped %d, err %v; want 1, 1, nil", got.Images, got.Skipped, err)
	}

	// Cancel after the first image: the partial mean of one image comes back.
	ctx, cancel := context.WithCancel(context.Background())
	got, err = Averaged(ctx, net, s, 3, func(i int) ([]float32, error) { return imgs[i], nil },
		func(done, n int) {
			if done == 1 {
				cancel()
			}
		})
	if !errors.Is(err, context.Canceled) || got.Images != 1 {
		t.Errorf("cancelled Averaged: images %d, err %v; want 1, context.Canceled", got.Images, err)
	}
	one, _ := Compute(net, imgs[0], s)
	compareMap(t, "cancelled Averaged partial mean", s, got.Data, one.Data, 0)

	// An image source error is returned with its index.
	_, err = Averaged(context.Background(), net, s, 2, func(i int) ([]float32, error) { return nil, errors.New("no such image") }, nil)
	if err == nil {
		t.Error("Averaged with a failing image source: no error")
	}
}
