//go:build !js

package model

import (
	"testing"

	"github.com/slak-web/slak/engine/cpu"
	"github.com/slak-web/slak/engine/gpu"
)

// TestConfigs: Net.Configs lists one entry per distinct depthwise / pointwise configuration,
// with counts that add up to the blocks of the variant, the Net's own depthwise weights, and
// the unfused ops when UseFused is off; it allocates nothing on the backend.
func TestConfigs(t *testing.T) {
	for _, name := range goldenConfigs {
		v, err := Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		sd, err := RandomWeights(v, 3, 0.4)
		if err != nil {
			t.Fatal(err)
		}
		net, err := Load(cpu.NewBackend(), v, sd)
		if err != nil {
			t.Fatal(err)
		}
		blocks := 0
		for _, d := range v.Depths {
			blocks += d
		}
		for _, fused := range []bool{true, false} {
			net.UseFused = fused
			cs, err := net.Configs(71, 53)
			if err != nil {
				t.Fatalf("%s fused=%v: %v", name, fused, err)
			}
			count := map[string]int{}
			for _, c := range cs {
				count[c.Kind] += c.Count
				if len(c.DW) > 0 {
					if len(c.Weights) != len(c.DW) {
						t.Errorf("%s %s: %d weights for %d branches", name, c.Name, len(c.Weights), len(c.DW))
					}
					for i, w := range c.Weights {
						if s := w.Shape(); len(s) != 3 || s[0] != c.DW[i].C || s[1] != c.DW[i].KH || s[2] != c.DW[i].KW {
							t.Errorf("%s %s: branch %d weight shape %v, want [%d %d %d]", name, c.Name, i, s, c.DW[i].C, c.DW[i].KH, c.DW[i].KW)
						}
					}
				}
			}
			t.Logf("%s fused=%v: %d configurations, counts %v", name, fused, len(cs), count)
			lk := count["dwconvsum"] + count["dwconv"]
			switch {
			case v.Family == RepLKNet && count["dwconvsum"]+count["dwconv"] < blocks:
				t.Errorf("%s fused=%v: %d depthwise layers, want ≥ %d (one per RepLK block)", name, fused, lk, blocks)
			case v.Family != RepLKNet && fused && count["dwconvsum"]+count["dwconv"] != blocks:
				t.Errorf("%s: %d depthwise layers, want %d (one per block)", name, lk, blocks)
			}
			if v.Family != RepLKNet && fused && (count["lnlineargelu"] != blocks || count["linearscaleresidual"] != blocks) {
				t.Errorf("%s: pw1 %d, pw2 %d layers, want %d each", name, count["lnlineargelu"], count["linearscaleresidual"], blocks)
			}
			if !fused && (count["dwconvsum"]+count["lnlineargelu"]+count["linearscaleresidual"] != 0 || count["linear"] == 0) {
				t.Errorf("%s unfused: counts %v, want only dwconv and linear", name, count)
			}
		}
	}
}

// TestTuneGoldenGPU: a real short tune of the tiny nets on this device (every input size of
// the golden fixtures), then the golden checks of TestGoldenGPU with the tuned choices, same
// tolerances (SLAK.md §8; golden_test.go).
func TestTuneGoldenGPU(t *testing.T) {
	if !isolated(t) {
		return
	}
	b := newGPU(t)
	defer b.ClearTuning()
	for _, cfg := range goldenConfigs {
		t.Run(cfg, func(t *testing.T) {
			v, deploy, g := goldenDeploy(t, cfg)
			net, err := Load(b, v, deploy)
			if err != nil {
				t.Fatal(err)
			}
			defer net.Free()
			var layers []gpu.TuneLayer
			for _, x := range goldenInputs(g) {
				in := g[x+"/input"]
				cs, err := net.Configs(in.Shape[1], in.Shape[2])
				if err != nil {
					t.Fatal(err)
				}
				for _, c := range cs {
					layers = append(layers, gpu.TuneLayer(c))
				}
			}
			rep, err := b.Tune(layers, gpu.TuneOptions{Samples: 1})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s", rep)
			checkGolden(t, net, g, false)
		})
	}
}
