//go:build !js

package model_test

import (
	"errors"
	"fmt"
	"math"
	"math/rand"
	"os"
	"strings"
	"testing"

	"github.com/slak-web/slak/engine/cpu"
	"github.com/slak-web/slak/engine/erf"
	"github.com/slak-web/slak/engine/gpu"
	"github.com/slak-web/slak/engine/model"
	"github.com/slak-web/slak/engine/op"
)

// remaskInput is a deterministic 3×37×45 image (odd sizes; the tiny configs accept them).
func remaskInput() []float32 {
	r := rand.New(rand.NewSource(11))
	x := make([]float32, 3*37*45)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	return x
}

// logits loads deploy on b, optionally re-masks with RemaskLK, and returns the logits.
func logits(t *testing.T, b op.Backend, v model.Variant, deploy model.StateDict) []float32 {
	t.Helper()
	n, err := model.Load(b, v, deploy)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Free()
	out, err := n.Forward(remaskInput(), 37, 45)
	if err != nil {
		t.Fatal(err)
	}
	return out.Logits
}

// sameBits compares two logit vectors bit for bit: the same backend running the same weights
// through the same kernels is deterministic, so no tolerance.
func sameBits(t *testing.T, what string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d logits, want %d", what, len(got), len(want))
	}
	for i := range got {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Errorf("%s: logit %d: got %g, want %g (Load of erf.Remask's weights)", what, i, got[i], want[i])
			return
		}
	}
}

// checkRemaskLK re-masks one loaded net through a sequence of sparsities (up, down below the
// trained 40% — which must regrow from the originals — up again, and back to 0) and compares the
// logits after each step with a fresh Load of erf.Remask(deploy) on the same backend.
func checkRemaskLK(t *testing.T, b op.Backend, name string) {
	v, err := model.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	deploy, err := model.RandomWeights(v, 3, 0.4)
	if err != nil {
		t.Fatal(err)
	}
	net, err := model.Load(b, v, deploy)
	if err != nil {
		t.Fatal(err)
	}
	defer net.Free()
	changed := false
	base := logits(t, b, v, deploy)
	for _, s := range []float64{0.8, 0.3, 0.9, 0.55, 0} {
		if err := net.RemaskLK(s); err != nil {
			t.Fatalf("%s %s RemaskLK(%g): %v", b.Name(), name, s, err)
		}
		if got := net.RemaskSparsity(); got != s {
			t.Errorf("%s %s: RemaskSparsity %g after RemaskLK(%g)", b.Name(), name, got, s)
		}
		masked, err := erf.Remask(deploy, v, s)
		if err != nil {
			t.Fatal(err)
		}
		out, err := net.Forward(remaskInput(), 37, 45)
		if err != nil {
			t.Fatal(err)
		}
		sameBits(t, fmt.Sprintf("%s %s s=%g", b.Name(), name, s), out.Logits, logits(t, b, v, masked))
		for i := range base {
			if s >= 0.8 && out.Logits[i] != base[i] {
				changed = true
			}
		}
	}
	if !changed {
		t.Errorf("%s %s: logits at 80/90%% sparsity equal the original ones: nothing was re-masked", b.Name(), name)
	}
}

// TestRemaskLKCPU: RemaskLK on engine/cpu (download, mask on the host, upload) equals loading
// erf.Remask's weights, for the three families' tiny configs.
func TestRemaskLKCPU(t *testing.T) {
	for _, name := range []string{"slak_tiny", "convnext_tiny", "replknet_tiny"} {
		checkRemaskLK(t, cpu.NewBackend(), name)
	}
}

// TestRemaskLKGPU: RemaskLK on engine/gpu (the weights never leave the device) equals loading
// erf.Remask's weights on the same device, and the re-masked net's logits agree with the CPU
// backend's re-masked net. Skipped without an adapter unless CI=true or SLAK_REQUIRE_GPU=1.
func TestRemaskLKGPU(t *testing.T) {
	b, err := gpu.New()
	if err != nil {
		if os.Getenv("CI") == "true" || os.Getenv("SLAK_REQUIRE_GPU") == "1" || !errors.Is(err, gpu.ErrNoAdapter) {
			t.Fatalf("gpu.New: %v", err)
		}
		t.Skipf("no WebGPU adapter: %v", err)
	}
	defer b.Close()
	for _, name := range []string{"slak_tiny", "convnext_tiny", "replknet_tiny"} {
		checkRemaskLK(t, b, name)
	}
	// Across backends: both re-mask the same entries, so the logits differ only by the forward's
	// float reassociation: tolerance 1e-4·max(1, max|logit|), golden_test.go's tolLogit for either
	// backend against the float64 reference.
	v, _ := model.Lookup("slak_tiny")
	deploy, err := model.RandomWeights(v, 3, 0.4)
	if err != nil {
		t.Fatal(err)
	}
	var outs [2][]float32
	for i, be := range []op.Backend{b, cpu.NewBackend()} {
		n, err := model.Load(be, v, deploy)
		if err != nil {
			t.Fatal(err)
		}
		if err := n.RemaskLK(0.85); err != nil {
			t.Fatal(err)
		}
		o, err := n.Forward(remaskInput(), 37, 45)
		if err != nil {
			t.Fatal(err)
		}
		outs[i] = o.Logits
		n.Free()
	}
	scale := 1.0
	for _, x := range outs[1] {
		scale = math.Max(scale, math.Abs(float64(x)))
	}
	for i := range outs[0] {
		if d := math.Abs(float64(outs[0][i] - outs[1][i])); d > 1e-4*scale {
			t.Errorf("slak_tiny s=0.85: logit %d: gpu %g, cpu %g (|diff| %g > 1e-4·%g)", i, outs[0][i], outs[1][i], d, scale)
		}
	}
}

// TestRemaskLKErrors: sparsity outside [0, 0.9] and a freed net are refused.
func TestRemaskLKErrors(t *testing.T) {
	v, _ := model.Lookup("slak_tiny")
	deploy, err := model.RandomWeights(v, 3, 0.4)
	if err != nil {
		t.Fatal(err)
	}
	n, err := model.Load(cpu.NewBackend(), v, deploy)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []float64{-0.01, 0.95, math.NaN()} {
		if err := n.RemaskLK(s); err == nil || !strings.Contains(err.Error(), "RemaskLK") {
			t.Errorf("RemaskLK(%g): got %v, want an error naming RemaskLK", s, err)
		}
	}
	n.Free()
	if err := n.RemaskLK(0.5); err == nil {
		t.Error("RemaskLK on a freed net: no error")
	}
}

// TestLKKeys: the keys RemaskLK re-masks are those erf.LKLayers lists (what erf.Remask covers).
func TestLKKeys(t *testing.T) {
	for _, name := range []string{"slak_t", "slak_tiny", "convnext_t", "replknet_31b", "replknet_tiny"} {
		v, _ := model.Lookup(name)
		var want []string
		for _, l := range erf.LKLayers(v) {
			want = append(want, l.Branches...)
		}
		got := model.LKKeys(v)
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s: LKKeys %v, erf.LKLayers %v", name, got, want)
		}
	}
}
