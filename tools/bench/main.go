//go:build !js

// Command bench runs engine/bench natively (wgpu-native: Vulkan, lavapipe on CPU-only machines)
// and prints the report as JSON on stdout; progress goes to stderr.
//
//	go run ./tools/bench                      # layers of SLaK-T at 224² + whole forwards
//	go run ./tools/bench -reps 20 -forwards=false -filter s0_
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"

	"github.com/slak-web/slak/engine/bench"
	"github.com/slak-web/slak/engine/gpu"
)

func main() {
	reps := flag.Int("reps", 10, "timed samples per layer row (after one warm-up)")
	freps := flag.Int("forward-reps", 1, "timed samples per whole forward, fast and direct each (a direct forward takes tens of seconds on lavapipe)")
	forwards := flag.Bool("forwards", true, "include whole forwards of SLaK-T, ConvNeXt-T, RepLKNet-31B")
	filter := flag.String("filter", "", "run only rows whose name contains this")
	sparsity := flag.Float64("sparsity", 0.4, "fraction of zero weights in the random forwards (SLaK trains at 0.4)")
	quiet := flag.Bool("q", false, "no progress on stderr")
	zeroSkip := flag.Bool("zeroskip", false, "compile the fast depthwise kernel with the zero-tap skip (gpu.DWZeroSkip; the *_sparse40 rows measure both either way)")
	v4 := flag.Bool("v4", true, "pointwise layers on matmul_fast_v4.wgsl (gpu.GEMMVec4)")
	ab := flag.String("ab", "", "measure layer rows as an interleaved A/B of a fast-kernel switch instead of fast vs direct: v4 (gpu.GEMMVec4), long (gpu.GEMMLong), tall (gpu.GEMMTall), square (gpu.GEMMSquare), wide (gpu.GEMMWide), lane (gpu.GEMMLane: matmul_lane.wgsl vs matmul_fast_v4.wgsl on CPU adapters), laneblock (matmul_lane.wgsl's block -lane-r × -lane-pb vs -lane-r-b × -lane-pb-b), laneln (gpu.GEMMLaneLN: pw1's LayerNorm as a pass before matmul_lane.wgsl vs in its loader), laneflat (gpu.GEMMLaneFlat: matmul_lane.wgsl's loads without control flow), lanekinner (gpu.GEMMLaneKInner: its FMAs accumulator by accumulator), lanewr (gpu.GEMMLaneWR: W rows with In % 4 != 0 read as realigned vec4), lanenp (laneNP's 2 invocations along the pixels where HW <= 64 vs 8), laneln4 (gpu.GEMMLaneLN4: that pass on layernorm_lane.wgsl vs layernorm.wgsl), lanehoist (gpu.GEMMLaneHoist: bias and layer scale loaded once per row), lanev2 (all four), s2d (gpu.ConvS2D: stem/downsample as space_to_depth.wgsl + matmul_lane.wgsl vs matmul_fast.wgsl's im2col loader), half (gpu.HalfKernels: half GEMM weights read as they are vs their cached f32 expansion; implies -half), f16 (gpu.HalfNative: shader-f16 vs unpack2x16float; implies -half), tune (the -tune choices vs the static rules: gpu.Backend.UseTuning)")
	half := flag.Bool("half", false, "GEMM weights (pw1/pw2, stem/downsample convs; in forwards every model.HalfKey weight) as half tensors, rounded to binary16 like an F16 model file")
	fab := flag.Bool("forward-ab", true, "with -ab: forward rows are an interleaved A/B of the switch too (instead of fast vs direct)")
	tune := flag.String("tune", "", "first run the run-time kernel tuner (gpu.Backend.Tune) on this model's layer configurations at 224² (random weights at -sparsity; e.g. slak_t; with -filter and no forward selected, only the selected rows' configurations): the rows then run with the tuned choices, and the JSON gets a \"tune\" report")
	tuneSamples := flag.Int("tune-samples", 3, "with -tune: timed samples per candidate (after one warm-up each)")
	laneR := flag.Int("lane-r", 0, "matmul_lane.wgsl's output rows per invocation (gpu.GEMMLaneR; 0: its rule)")
	lanePB := flag.Int("lane-pb", 0, "matmul_lane.wgsl's 4-pixel groups per invocation (gpu.GEMMLanePB; 0: its rule)")
	laneRB := flag.Int("lane-r-b", 0, "with -ab laneblock: the B side's -lane-r")
	lanePBB := flag.Int("lane-pb-b", 0, "with -ab laneblock: the B side's -lane-pb")
	flag.Parse()
	gpu.GEMMLaneR, gpu.GEMMLanePB = *laneR, *lanePB
	gpu.GEMMVec4 = *v4
	if os.Getenv("XDG_RUNTIME_DIR") == "" {
		os.Setenv("XDG_RUNTIME_DIR", os.TempDir()) // quiets the Vulkan loader
	}
	gpu.DWZeroSkip = *zeroSkip
	b, err := gpu.New()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	defer b.Close()
	cfg := bench.Config{Reps: *reps, ForwardReps: *freps, Forwards: *forwards, Filter: *filter, Sparsity: *sparsity, HalfWeights: *half, ForwardAB: *fab}
	switch *ab {
	case "":
	case "v4":
		cfg.AB = &bench.AB{Name: "GEMMVec4", Set: func(on bool) { gpu.GEMMVec4 = on }}
	case "long":
		cfg.AB = &bench.AB{Name: "GEMMLong", Set: func(on bool) { gpu.GEMMLong = on }}
	case "tall":
		cfg.AB = &bench.AB{Name: "GEMMTall", Set: func(on bool) { gpu.GEMMTall = on }}
	case "square":
		cfg.AB = &bench.AB{Name: "GEMMSquare", Set: func(on bool) { gpu.GEMMSquare = on }}
	case "lane":
		cfg.AB = &bench.AB{Name: "GEMMLane", Set: func(on bool) { gpu.GEMMLane = on }}
	case "laneblock":
		cfg.AB = &bench.AB{Name: "GEMMLaneBlock", Set: func(on bool) {
			gpu.GEMMLaneR, gpu.GEMMLanePB = *laneRB, *lanePBB
			if on {
				gpu.GEMMLaneR, gpu.GEMMLanePB = *laneR, *lanePB
			}
		}}
	case "laneflat":
		cfg.AB = &bench.AB{Name: "GEMMLaneFlat", Set: func(on bool) { gpu.GEMMLaneFlat = on }}
	case "lanekinner":
		cfg.AB = &bench.AB{Name: "GEMMLaneKInner", Set: func(on bool) { gpu.GEMMLaneKInner = on }}
	case "lanewr":
		cfg.AB = &bench.AB{Name: "GEMMLaneWR", Set: func(on bool) { gpu.GEMMLaneWR = on }}
	case "lanev2": // all four of laneflat, lanekinner, lanewr, lanenp
		cfg.AB = &bench.AB{Name: "GEMMLaneFlat+KInner+WR+NP", Set: func(on bool) {
			gpu.GEMMLaneFlat, gpu.GEMMLaneKInner, gpu.GEMMLaneWR, gpu.GEMMLaneNP = on, on, on, 0
			if !on {
				gpu.GEMMLaneNP = 8
			}
		}}
	case "lanenp": // laneNP's rule vs 8 side by side (and PB 2 where HW <= 64, as before)
		cfg.AB = &bench.AB{Name: "GEMMLaneNP", Set: func(on bool) {
			gpu.GEMMLaneNP = 0
			if !on {
				gpu.GEMMLaneNP = 8
			}
		}}
	case "laneln4":
		cfg.AB = &bench.AB{Name: "GEMMLaneLN4", Set: func(on bool) { gpu.GEMMLaneLN4 = on }}
	case "lanehoist":
		cfg.AB = &bench.AB{Name: "GEMMLaneHoist", Set: func(on bool) { gpu.GEMMLaneHoist = on }}
	case "laneln":
		cfg.AB = &bench.AB{Name: "GEMMLaneLN", Set: func(on bool) { gpu.GEMMLaneLN = on }}
	case "s2d":
		cfg.AB = &bench.AB{Name: "ConvS2D", Set: func(on bool) { gpu.ConvS2D = on }}
	case "wide":
		cfg.AB = &bench.AB{Name: "GEMMWide", Set: func(on bool) { gpu.GEMMWide = on }}
	case "tune":
		if *tune == "" {
			fmt.Fprintln(os.Stderr, "bench: -ab tune needs -tune MODEL")
			os.Exit(2)
		}
		cfg.AB = &bench.AB{Name: "tuned", Set: b.UseTuning}
	case "fast2":
		cfg.AB = &bench.AB{Name: "DWFast2", Set: func(on bool) { gpu.DWFast2 = on }}
	case "half":
		cfg.AB, cfg.HalfWeights = &bench.AB{Name: "HalfKernels", Set: func(on bool) { gpu.HalfKernels = on }}, true
	case "f16":
		cfg.AB, cfg.HalfWeights = &bench.AB{Name: "HalfNative", Set: func(on bool) { gpu.HalfNative = on }}, true
		if ok, why := b.HalfNativeStatus(); !ok {
			fmt.Fprintln(os.Stderr, "bench: -ab f16: half weights are not read as f16 here:", why)
		}
	default:
		fmt.Fprintln(os.Stderr, "bench: -ab takes v4, lane, laneblock, laneln, laneflat, lanekinner, lanewr, lanenp, lanev2, laneln4, lanehoist, s2d, long, tall, square, wide, fast2, half, f16 or tune")
		os.Exit(2)
	}
	if !*quiet {
		cfg.Log = func(s string) { fmt.Fprintln(os.Stderr, s) }
	}
	cfg.Tune, cfg.TuneSamples = *tune, *tuneSamples // bench.Run tunes first, its report in the JSON
	rep, err := bench.Run(b, cfg, machine())
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(rep); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func machine() bench.Machine {
	m := bench.Machine{NProc: runtime.NumCPU(), OS: runtime.GOOS + "/" + runtime.GOARCH}
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return m
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if k, v, ok := strings.Cut(s.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			m.CPUModel = strings.TrimSpace(v)
			break
		}
	}
	return m
}
