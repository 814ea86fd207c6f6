//go:build !js

package model

import (
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/slak-web/slak/engine/gpu"
)

// newGPU opens the native WebGPU backend (lavapipe on our machines). Without
// an adapter the test is skipped, except under CI=true or SLAK_REQUIRE_GPU=1.
func newGPU(t *testing.T) *gpu.Backend {
	t.Helper()
	b, err := gpu.New()
	if err != nil {
		if os.Getenv("CI") == "true" || os.Getenv("SLAK_REQUIRE_GPU") == "1" {
			t.Fatalf("gpu.New: %v (a GPU adapter is required under CI=true / SLAK_REQUIRE_GPU=1)", err)
		}
		if errors.Is(err, gpu.ErrNoAdapter) {
			t.Skipf("no WebGPU adapter: %v", err)
		}
		t.Fatalf("gpu.New: %v", err)
	}
	t.Cleanup(b.Close)
	t.Logf("gpu: %v", b.Info())
	return b
}

// isolated runs the calling test in a child process (the same test binary,
// -test.run ^name$) so that a crash inside the native driver (a segfault in
// wgpu-native or lavapipe) fails this test with its output instead of
// killing the whole package. It returns true in the child, which then runs
// the test body.
func isolated(t *testing.T) bool {
	t.Helper()
	if os.Getenv("SLAK_MODEL_CHILD") == t.Name() {
		return true
	}
	cmd := exec.Command(os.Args[0], "-test.run", "^"+t.Name()+"$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "SLAK_MODEL_CHILD="+t.Name())
	out, err := cmd.CombinedOutput()
	t.Logf("child process output:\n%s", out)
	if err == nil && strings.Contains(string(out), "--- SKIP: "+t.Name()) {
		t.Skip("skipped in the child process (no adapter)")
	}
	if err != nil {
		t.Fatalf("%s in a child process: %v (a signal here is a crash inside engine/gpu, wgpu-native or the Vulkan driver)", t.Name(), err)
	}
	return false
}

// TestGoldenGPU: the golden checks of TestGoldenCPU on the WebGPU backend,
// same tolerances (SLAK.md §8; see golden_test.go).
func TestGoldenGPU(t *testing.T) {
	if !isolated(t) {
		return
	}
	b := newGPU(t)
	for _, cfg := range goldenConfigs {
		t.Run(cfg, func(t *testing.T) {
			v, deploy, g := goldenDeploy(t, cfg)
			net, err := Load(b, v, deploy)
			if err != nil {
				t.Fatal(err)
			}
			defer net.Free()
			checkGolden(t, net, g, true)
			if net.fused != nil {
				net.UseFused = false
				checkGolden(t, net, g, false)
			}
		})
	}
}

// fullSizeInput is a deterministic 3×224×224 input with roughly unit
// variance (a normalised image has |x| ≲ 2.6).
func fullSizeInput(h, w int) []float32 {
	x := make([]float32, 3*h*w)
	s := xorshift64star(splitmix64(42) | 1)
	for i := range x {
		r := s.next()
		sum := int64(r&0xffff) + int64(r>>16&0xffff) + int64(r>>32&0xffff)
		x[i] = float32(2*sum-3*65535) / (2 * 32768)
	}
	return x
}

// TestFullSizeSLaKTGPU runs SLaK-T (51×51, 50.7M random weights, seed 1) at
// 224² on the GPU and on the CPU reference and compares logits and stage
// maps. Tolerance: both are float32 with different summation orders over up
// to 3992-term dot products and 18 residual blocks; logits within
// 1e-4·max(1, max|logit|) (SLAK.md §8) and maps within 1e-4 of their max-abs.
func TestFullSizeSLaKTGPU(t *testing.T) {
	if !isolated(t) {
		return
	}
	b := newGPU(t)
	v := mustLookup(t, "slak_t")
	sd, err := RandomWeights(v, 1, 0.4)
	if err != nil {
		t.Fatal(err)
	}
	x := fullSizeInput(224, 224)
	run := func(name string, net *Net) *Output {
		t0 := time.Now()
		out, err := net.Forward(x, 224, 224)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		t.Logf("%s: SLaK-T 224² forward %v", name, time.Since(t0))
		return out
	}
	cnet, err := Load(newCPU(), v, sd)
	if err != nil {
		t.Fatal(err)
	}
	want := run("cpu", cnet)
	cnet.Free()
	gnet, err := Load(b, v, sd)
	if err != nil {
		t.Fatal(err)
	}
	defer gnet.Free()
	got := run("gpu (first run: includes pipeline compilation)", gnet)
	worst := compareRel(t, "slak_t/224 logits", []int{len(want.Logits)}, got.Logits, want.Logits, tolLogit, 1)
	checkTop5(t, "slak_t/224", got.Logits, want.Logits, tolLogit*math.Max(1, maxAbs(want.Logits)))
	for s := 0; s < 4; s++ {
		m := want.Stages[s]
		e := compareRel(t, fmt.Sprintf("slak_t/224 stage%d [%d %d %d]", s, m.C, m.H, m.W), []int{m.C, m.H, m.W}, got.Stages[s].Data, m.Data, tolMap, 0)
		worst = math.Max(worst, e)
	}
	t.Logf("slak_t 224² gpu vs cpu: worst error relative to max-abs %.2e", worst)
}
