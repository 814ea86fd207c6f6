//go:build !js

package convert

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/slak-web/slak/engine/cpu"
	"github.com/slak-web/slak/engine/gpu"
	"github.com/slak-web/slak/engine/imagenet"
	"github.com/slak-web/slak/engine/model"
	"github.com/slak-web/slak/engine/op"
	"github.com/slak-web/slak/weights"
)

// TestPipelineGolden is issue 3's whole path, as a user runs it: the official
// .pth (each family's layout) → Convert (f32 and f16) → the bytes of a model
// file → ParseSafetensors → LoadModelFile (every check) → model.Load on the
// CPU reference and the native GPU backend → logits equal to PyTorch's
// float64 goldens.
//
// Tolerances: f32 files hold the checkpoint's exact float32 weights, so the
// float32-engine bound of SLAK.md §8 applies: max|Δlogit| ≤ 1e-4·max(1, max|logit|)
// and identical top-5. f16 files round every weight to half precision
// (relative 2⁻¹¹ ≈ 4.9e-4 each); through ~10 layers the logits move by a few
// 1e-3 of their scale, so they get 1e-2·max(1, max|logit|) and an identical
// top-1 (the golden generator keeps adjacent logits ≥ 1e-2 apart, and it
// checks the f16 bound is not loose: the measured error is printed).
func TestPipelineGolden(t *testing.T) {
	var gb *gpu.Backend
	if g, err := gpu.New(); err == nil {
		gb = g
		t.Cleanup(g.Close)
		t.Logf("gpu: %s", g.Info().Name)
	} else if os.Getenv("CI") == "true" || os.Getenv("SLAK_REQUIRE_GPU") == "1" {
		t.Fatalf("gpu.New: %v (a GPU adapter is required under CI=true / SLAK_REQUIRE_GPU=1)", err)
	} else if !errors.Is(err, gpu.ErrNoAdapter) {
		t.Fatalf("gpu.New: %v", err)
	} else {
		t.Logf("no GPU adapter (%v): CPU only", err)
	}
	backends := []op.Backend{cpu.NewBackend()}
	if gb != nil {
		backends = append(backends, gb)
	}
	for _, cfg := range []string{"slak_tiny", "convnext_tiny", "replknet_tiny"} {
		golden := readGolden(t, filepath.Join(goldenDir, cfg, "golden.safetensors"))
		path := filepath.Join(goldenDir, cfg, "checkpoint.pth")
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, dtype := range []string{"f32", "f16"} {
			f, err := Convert(bytes.NewReader(raw), int64(len(raw)), Options{Variant: cfg, DType: dtype, SourceFile: "checkpoint.pth"})
			if err != nil {
				t.Fatalf("%s %s: Convert: %v", cfg, dtype, err)
			}
			var buf bytes.Buffer
			if err := weights.WriteSafetensors(&buf, f); err != nil {
				t.Fatal(err)
			}
			parsed, err := weights.ParseSafetensors(buf.Bytes())
			if err != nil {
				t.Fatalf("%s %s: ParseSafetensors: %v", cfg, dtype, err)
			}
			v, deploy, err := LoadModelFile(parsed)
			if err != nil {
				t.Fatalf("%s %s: LoadModelFile: %v", cfg, dtype, err)
			}
			rel, top := 1e-4, 5
			if dtype == "f16" {
				rel, top = 1e-2, 1
			}
			nHalf := 0
			for _, e := range model.DeployKeys(v) {
				if p := deploy[e.Key]; p.Half != nil {
					nHalf++
					if dtype != "f16" || !model.HalfKey(e) || p.Data != nil {
						t.Errorf("%s %s: %s is half", cfg, dtype, e.Key)
					}
				} else if dtype == "f16" && model.HalfKey(e) {
					t.Errorf("%s %s: %s is not half", cfg, dtype, e.Key)
				}
			}
			if dtype == "f16" && nHalf == 0 {
				t.Fatalf("%s f16: no half weights", cfg)
			}
			_, wantHalf := model.WeightBytes(v, deploy, true)
			for _, b := range backends {
				var m0 gpu.Memory
				if b == gb {
					if err := gb.Flush(); err != nil {
						t.Fatal(err)
					}
					m0 = gb.Memory()
				}
				net, err := model.Load(b, v, deploy)
				if err != nil {
					t.Fatalf("%s %s %s: Load: %v", cfg, dtype, b.Name(), err)
				}
				if b == gb {
					// the half path: the GEMM weights of an f16 file stay half on the GPU
					m := gb.Memory()
					if m.HalfTensors-m0.HalfTensors != nHalf || m.HalfBytes-m0.HalfBytes != uint64(wantHalf) {
						t.Errorf("%s %s gpu: %d half tensors (%d bytes) after Load, want %d (%d bytes)", cfg, dtype,
							m.HalfTensors-m0.HalfTensors, m.HalfBytes-m0.HalfBytes, nHalf, wantHalf)
					}
					if nHalf > 0 {
						// tolerance 0: the same kernels on the exactly widened weights
						wide, err := model.Load(gb, v, model.Widen(deploy))
						if err != nil {
							t.Fatal(err)
						}
						x := golden["rand64/input"]
						a, err := net.Forward(x.data, x.shape[1], x.shape[2])
						if err != nil {
							t.Fatal(err)
						}
						w, err := wide.Forward(x.data, x.shape[1], x.shape[2])
						if err != nil {
							t.Fatal(err)
						}
						for i := range w.Logits {
							if math.Float32bits(a.Logits[i]) != math.Float32bits(w.Logits[i]) {
								t.Fatalf("%s %s gpu: logit %d with half weights %g, with their f32 widening %g (want bit-equal)", cfg, dtype, i, a.Logits[i], w.Logits[i])
							}
						}
						// the ERF's input gradient (linear_grad, conv2d_grad on f32 expansions)
						ga, _, err := net.InputGradient(x.data, x.shape[1], x.shape[2])
						if err != nil {
							t.Fatal(err)
						}
						gw, _, err := wide.InputGradient(x.data, x.shape[1], x.shape[2])
						if err != nil {
							t.Fatal(err)
						}
						wide.Free()
						for i := range gw {
							if math.Float32bits(ga[i]) != math.Float32bits(gw[i]) {
								t.Fatalf("%s %s gpu: input gradient %d with half weights %g, with their f32 widening %g (want bit-equal)", cfg, dtype, i, ga[i], gw[i])
							}
						}
						t.Logf("%s f16 gpu: %d half tensors, %d bytes; logits and input gradient bit-equal to the widened weights'", cfg, nHalf, wantHalf)
					}
				}
				for _, in := range []string{"rand64", "odd71x53", "photo224"} {
					x := golden[in+"/input"]
					want := golden[in+"/logits"]
					out, err := net.Forward(x.data, x.shape[1], x.shape[2])
					if err != nil {
						t.Fatalf("%s %s %s %s: Forward: %v", cfg, dtype, b.Name(), in, err)
					}
					name := fmt.Sprintf("%s/%s/%s/%s", cfg, dtype, b.Name(), in)
					checkLogits(t, name, out.Logits, want.data, rel, top)
				}
				net.Free()
			}
		}
	}
}

func checkLogits(t *testing.T, name string, got, want []float32, rel float64, top int) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d logits, want %d", name, len(got), len(want))
	}
	var scale, maxErr float64 = 1, 0
	at := 0
	for i := range want {
		scale = math.Max(scale, math.Abs(float64(want[i])))
		if d := math.Abs(float64(got[i] - want[i])); d > maxErr {
			maxErr, at = d, i
		}
	}
	tol := rel * scale
	if maxErr > tol {
		t.Errorf("%s: logit %d = %g, want %g (max error %.3g > tolerance %.3g)", name, at, got[at], want[at], maxErr, tol)
	}
	g, w := imagenet.TopK(got, top), imagenet.TopK(want, top)
	for i := range w {
		if g[i] != w[i] {
			t.Errorf("%s: top-%d order %v, want %v", name, top, g, w)
			break
		}
	}
	t.Logf("%s: max|Δlogit| %.2g (tolerance %.2g)", name, maxErr, tol)
}

type goldenTensor struct {
	shape []int
	data  []float32
}

func readGolden(t *testing.T, path string) map[string]goldenTensor {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := weights.ParseSafetensors(raw)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	out := map[string]goldenTensor{}
	for name, tt := range f.Tensors {
		d, err := tt.Float32()
		if err != nil {
			t.Fatalf("%s: %s: %v", path, name, err)
		}
		out[name] = goldenTensor{tt.Shape, d}
	}
	return out
}
