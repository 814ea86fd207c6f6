//go:build !js

package bench

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/slak-web/slak/engine/cpu"
	"github.com/slak-web/slak/engine/gpu"
	"github.com/slak-web/slak/engine/model"
)

func newBackend(t *testing.T) *gpu.Backend {
	if os.Getenv("XDG_RUNTIME_DIR") == "" {
		os.Setenv("XDG_RUNTIME_DIR", os.TempDir())
	}
	b, err := gpu.New()
	if err != nil {
		if os.Getenv("CI") == "true" || os.Getenv("SLAK_REQUIRE_GPU") == "1" || !errors.Is(err, gpu.ErrNoAdapter) {
			t.Fatalf("gpu.New: %v", err)
		}
		t.Skipf("no WebGPU adapter: %v", err)
	}
	t.Cleanup(b.Close)
	return b
}

// TestRunSmall runs the benchmark on the smallest real layers (stage 3 pointwise, 1 sample) and
// checks the report: the peak row, one measured row per selected layer with positive times, a
// fast/direct ratio, GFLOP/s = 2·MACs/median and % of peak consistent, and JSON that round-trips.
func TestRunSmall(t *testing.T) {
	b := newBackend(t)
	rep, err := Run(b, Config{Reps: 1, Filter: "s3_pw"}, Machine{NProc: 2, CPUModel: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if rep.PeakGFLOPs <= 0 || rep.Rows[0].Name != "fmapeak" {
		t.Fatalf("peak row missing or zero: %+v", rep.Rows[0])
	}
	if len(rep.Rows) != 3 {
		t.Fatalf("%d rows, want fmapeak + slak_t_s3_pw1_ln_gelu + slak_t_s3_pw2_scale_res", len(rep.Rows))
	}
	for _, r := range rep.Rows[1:] {
		if !strings.Contains(r.Name, "s3_pw") || r.MedianMs <= 0 || r.DirectMedianMs <= 0 || r.Speedup <= 0 || r.MACs != 998*3992*49 {
			t.Errorf("row %s: %+v (want positive times and ratio, MACs 998·3992·49)", r.Name, r)
		}
		if g := 2 * r.MACs / (r.MedianMs * 1e6); g/r.GFLOPs < 0.999 || g/r.GFLOPs > 1.001 {
			t.Errorf("row %s: GFLOP/s %g, want 2·MACs/median = %g", r.Name, r.GFLOPs, g)
		}
		if p := 100 * r.GFLOPs / rep.PeakGFLOPs; p/r.PctPeak < 0.999 || p/r.PctPeak > 1.001 {
			t.Errorf("row %s: %% of peak %g, want %g", r.Name, r.PctPeak, p)
		}
		t.Logf("%s: fast %.1f ms, direct %.1f ms (x%.2f)", r.Name, r.MedianMs, r.DirectMedianMs, r.Speedup)
	}
	if b.Direct {
		t.Error("Run left the backend on the direct kernels")
	}
	raw, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(raw, &back); err != nil || back.Adapter != rep.Adapter || len(back.Rows) != len(rep.Rows) {
		t.Fatalf("JSON round trip: %v", err)
	}
}

// TestForwardTiny runs the whole-forward row on the tiny SLaK test configuration (both paths,
// through the MAC-counting wrapper) and checks it produced a count and two timings.
func TestForwardTiny(t *testing.T) {
	b := newBackend(t)
	r, err := measureForward(b, "slak_tiny", 1, 0.4, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.MACs <= 0 || r.MedianMs <= 0 || r.DirectMedianMs <= 0 {
		t.Fatalf("forward row %+v", r)
	}
	t.Logf("slak_tiny 224²: %.3g MACs, fast %.1f ms, direct %.1f ms", r.MACs, r.MedianMs, r.DirectMedianMs)
}

// TestRowsHitTunedKeys: every row of a configuration the tuner decides for SLaK-T (the fused
// large-kernel sums, pw1, pw2) calls the backend with the configuration key the tuner records
// (gpu.Backend.TuneChoice on the row's call parameters against model.Net.Configs), so that a row
// measured after tuning runs the tuned kernel.
func TestRowsHitTunedKeys(t *testing.T) {
	b := newBackend(t)
	v, err := model.Lookup("slak_t")
	if err != nil {
		t.Fatal(err)
	}
	sd, err := model.RandomWeights(v, 1, 0.4)
	if err != nil {
		t.Fatal(err)
	}
	net, err := model.Load(cpu.NewBackend(), v, sd) // shapes only: Configs runs no kernel
	if err != nil {
		t.Fatal(err)
	}
	defer net.Free()
	cs, err := net.Configs(224, 224)
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]bool{}
	for _, c := range cs {
		key, _, _, err := b.TuneChoice(gpu.TuneLayer(c))
		if err != nil {
			t.Fatal(err)
		}
		keys[key] = true
	}
	hit := 0
	for _, l := range slakTLayers() {
		if l.tune == nil || l.tune.Kind == "dwconv" { // single branches: SLaK-T runs them fused
			continue
		}
		key, _, _, err := b.TuneChoice(*l.tune)
		if err != nil {
			t.Fatal(err)
		}
		if !keys[key] {
			t.Errorf("row %s runs configuration %q, which SLaK-T's tuning does not decide", l.name, key)
		}
		hit++
	}
	if hit != 16 { // 4 stages × (dense and sparse large-kernel sums, pw1, pw2)
		t.Errorf("%d rows of tuned configurations, want 16", hit)
	}
}

// TestRunTuned: Config.Tune tunes the selected rows' configurations first; the row then runs the
// tuned candidate and says so (Row.Kernel).
func TestRunTuned(t *testing.T) {
	b := newBackend(t)
	defer b.ClearTuning()
	rep, err := Run(b, Config{Reps: 1, Filter: "s2_lk_sum_47", Tune: "slak_t", TuneSamples: 1}, Machine{NProc: 2})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Tune == nil || len(rep.Tune.Results) != 1 || rep.Tune.Results[0].Winner == "" {
		t.Fatalf("tune report %+v, want the one configuration of slak_t_s2_lk_sum_47x5+5x47+5x5 decided", rep.Tune)
	}
	win := rep.Tune.Results[0].Winner
	if len(rep.Rows) != 2 || rep.Rows[1].Kernel != win+" (tuned)" {
		t.Fatalf("rows %+v, want the s2 large-kernel row on %s (tuned)", rep.Rows, win)
	}
	t.Logf("%s%s: %s, fast %.1f ms, direct %.1f ms", rep.Tune, rep.Rows[1].Name, rep.Rows[1].Kernel, rep.Rows[1].MedianMs, rep.Rows[1].DirectMedianMs)
}
