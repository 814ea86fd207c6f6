package erf

import (
	"context"
	"strings"
	"testing"

	"github.com/slak-web/slak/engine/cpu"
	"github.com/slak-web/slak/engine/gpu"
	"github.com/slak-web/slak/engine/model"
	"github.com/slak-web/slak/engine/op"
)

func mustVariant(t testing.TB, name string) model.Variant {
	t.Helper()
	v, err := model.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestEstimateNumbers checks the SLAK.md §4.6 numbers, derived by hand:
//
//   - SLaK-T at 1024²: stage-0 map 256×256 (1024/4), pre-GELU hidden
//     4·124 channels: 496·256·256·4 B = 130,023,424 B (124 MiB), the largest
//     buffer; at 512² a quarter (32,505,856), at 224² 496·56·56·4 = 6,221,824.
//   - RepLKNet-31B at 1024²: ConvFFN hidden 512·256·256·4 = 134,217,728 B,
//     exactly 128 MiB (the stem's first output 128·512·512·4 ties with it).
//   - ConvNeXt-T at 1024²: 384·256·256·4 = 100,663,296 B (96 MiB).
//   - SLaK-T saved activations at 1024² (segment inputs + F), in floats:
//     3·1024² + 4·124·256² (3 blocks + downsample 1) + 4·249·128² + 10·499·64²
//   - 4·998·32² (3 blocks + F) = 3,145,728 + 32,505,856 + 16,318,464 +
//     20,439,040 + 4,087,808 = 76,496,896 → 305,987,584 B; the largest saved
//     one is a stage-0 block input, 124·256²·4 = 32,505,856 B.
//   - SLaK-T deploy weights: 50,703,838 dense parameters (SLAK.md §1.1) minus
//     the folded LK BatchNorm weights 3·Σ_blocks C = 3·(3·124 + 3·249 +
//     9·499 + 3·998) = 25,812, plus the summed LK biases Σ_blocks C = 8,604:
//     50,686,630 floats = 202,746,520 B.
func TestEstimateNumbers(t *testing.T) {
	cases := []struct {
		v               string
		s               int
		largest         int64
		saved, lsaved   int64
		weights         int64
		whatHasPrefix   string
		fitsWebGPUDeflt bool
	}{
		{"slak_t", 1024, 130023424, 305987584, 32505856, 202746520, "pre-GELU hidden of stage 0, 496×256×256", true},
		{"slak_t", 512, 32505856, 0, 0, 0, "pre-GELU hidden of stage 0, 496×128×128", true},
		{"slak_t", 224, 6221824, 0, 0, 0, "pre-GELU hidden of stage 0, 496×56×56", true},
		{"slak_t", 2048, 4 * 130023424, 0, 0, 0, "pre-GELU hidden of stage 0", false},
		{"replknet_31b", 1024, 134217728, 0, 0, 0, "stem.0 output, 128×512×512", true},
		{"convnext_t", 1024, 100663296, 0, 0, 0, "pre-GELU hidden of stage 0, 384×256×256", true},
	}
	for _, c := range cases {
		m, err := Estimate(mustVariant(t, c.v), c.s)
		if err != nil {
			t.Fatal(err)
		}
		if m.Largest != c.largest || !strings.HasPrefix(m.LargestWhat, c.whatHasPrefix) {
			t.Errorf("%s at %d²: largest %d B (%s), want %d B (%s…)", c.v, c.s, m.Largest, m.LargestWhat, c.largest, c.whatHasPrefix)
		}
		if c.saved != 0 && (m.Saved != c.saved || m.LargestSaved != c.lsaved || m.Weights != c.weights) {
			t.Errorf("%s at %d²: saved %d, largest saved %d, weights %d; want %d, %d, %d", c.v, c.s, m.Saved, m.LargestSaved, m.Weights, c.saved, c.lsaved, c.weights)
		}
		if m.Peak <= m.Weights+m.Saved {
			t.Errorf("%s at %d²: peak %d not above weights+saved %d", c.v, c.s, m.Peak, m.Weights+m.Saved)
		}
		if err := m.Check(DefaultLimits); (err == nil) != c.fitsWebGPUDeflt {
			t.Errorf("%s at %d²: Check(WebGPU defaults) = %v, want fits=%v", c.v, c.s, err, c.fitsWebGPUDeflt)
		}
		t.Log(m)
	}
}

// TestCheckMessage: a device with 120 MiB per binding refuses SLaK-T at 1024²
// (124 MiB) and says which size fits; at 2048² with WebGPU's defaults the
// advice is 1024²; a limit below the 224² buffer has no smaller size to offer.
func TestCheckMessage(t *testing.T) {
	v := mustVariant(t, "slak_t")
	m, _ := Estimate(v, 1024)
	err := m.Check(Limits{MaxStorageBufferBindingSize: 120 << 20, MaxBufferSize: 1 << 30})
	want := "erf: SLaK-T (51×51) at 1024² needs a 124.0 MiB buffer (pre-GELU hidden of stage 0, 496×256×256 float32); " +
		"this device allows 120.0 MiB per storage binding (maxStorageBufferBindingSize): choose 512² or a device with larger limits"
	if err == nil || err.Error() != want {
		t.Errorf("Check:\n got %v\nwant %s", err, want)
	}
	m, _ = Estimate(v, 2048)
	if err := m.Check(DefaultLimits); err == nil || !strings.Contains(err.Error(), "choose 1024²") {
		t.Errorf("2048² with WebGPU defaults: %v, want advice 1024²", err)
	}
	m, _ = Estimate(v, 1024)
	err = m.Check(Limits{MaxStorageBufferBindingSize: 1 << 30, MaxBufferSize: 4 << 20})
	if err == nil || !strings.Contains(err.Error(), "maxBufferSize") || !strings.Contains(err.Error(), "no smaller size fits") {
		t.Errorf("4 MiB maxBufferSize: %v, want a maxBufferSize refusal with no smaller size", err)
	}
	if _, err := Estimate(v, 31); err == nil {
		t.Error("Estimate at 31²: no error (the last stage would be empty)")
	}
}

// TestCheckBackend: the native GPU backend's limits are used (lavapipe grants
// 128 MiB per binding: SLaK-T fits at 1024² and not at 2048²); the CPU
// backend has no limits.
func TestCheckBackend(t *testing.T) {
	v := mustVariant(t, "slak_t")
	b := gpuBackend(t)
	l, ok := LimitsOf(b)
	if !ok || l.MaxStorageBufferBindingSize == 0 {
		t.Fatalf("LimitsOf(gpu) = %+v, %v", l, ok)
	}
	m, _ := Estimate(v, 2048)
	if err := CheckBackend(b, v, 2048); (err == nil) != (uint64(m.Largest) <= min(l.MaxStorageBufferBindingSize, l.MaxBufferSize)) {
		t.Errorf("CheckBackend(gpu, 2048²) = %v with limits %+v and largest %d", err, l, m.Largest)
	}
	t.Logf("gpu limits %+v; 2048²: %v", l, CheckBackend(b, v, 2048))
}

// smallDevice is the CPU reference posing as a GPU with small limits, to see
// Compute refuse before running anything.
type smallDevice struct {
	op.Backend
	uploads int
}

func (s *smallDevice) Info() gpu.Info {
	return gpu.Info{Limits: gpu.Limits{MaxStorageBufferBindingSize: 1 << 20, MaxBufferSize: 1 << 30}}
}

func (s *smallDevice) Upload(data []float32, shape ...int) (op.Tensor, error) {
	s.uploads++
	return s.Backend.Upload(data, shape...)
}

// TestComputeRefuses: with 1 MiB per binding, slak_tiny at 224² fits (its
// largest buffer is the input, 3·224·224·4 B = 602,112 B; the hidden is
// 4·7·56·56·4 = 351,232 B) but at 512² the input alone is 3 MiB: Compute and
// Averaged return the Check message and upload no image.
func TestComputeRefuses(t *testing.T) {
	v, d := randomDeploy(t, "slak_tiny", 1, 0.4)
	dev := &smallDevice{Backend: cpu.NewBackend()}
	net, err := model.Load(dev, v, d)
	if err != nil {
		t.Fatal(err)
	}
	defer net.Free()
	before := dev.uploads
	_, err = Compute(net, make([]float32, 3*512*512), 512)
	if err == nil || !strings.Contains(err.Error(), "needs a 3.0 MiB buffer (input, 3×512×512 float32)") || !strings.Contains(err.Error(), "choose 224²") {
		t.Errorf("Compute at 512² on a 1 MiB device: %v", err)
	}
	_, err = Averaged(context.Background(), net, 512, 3, func(int) ([]float32, error) { return make([]float32, 3*512*512), nil }, nil)
	if err == nil || !strings.Contains(err.Error(), "maxStorageBufferBindingSize") {
		t.Errorf("Averaged at 512² on a 1 MiB device: %v", err)
	}
	if dev.uploads != before {
		t.Errorf("refused runs uploaded %d tensors", dev.uploads-before)
	}
	if _, err := Compute(net, make([]float32, 3*224*224), 224); err != nil {
		t.Errorf("Compute at 224² on a 1 MiB device: %v", err)
	}
}
