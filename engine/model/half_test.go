package model

import (
	"regexp"
	"testing"
)

// TestHalfKey: exactly the GEMM weights of each family stay half (engine/model/half.go), and
// the weight bytes on a backend with half weights, from the deploy schema (the README's table).
func TestHalfKey(t *testing.T) {
	want := map[Family]*regexp.Regexp{
		SLaK:     regexp.MustCompile(`^(downsample_layers\.0\.0|downsample_layers\.[123]\.1|stages\.\d+\.\d+\.pwconv[12]|head)\.weight$`),
		ConvNeXt: regexp.MustCompile(`^(downsample_layers\.0\.0|downsample_layers\.[123]\.1|stages\.\d+\.\d+\.pwconv[12]|head)\.weight$`),
		RepLKNet: regexp.MustCompile(`^(stem\.[02]|stages\.\d+\.blocks\.\d+\.pw[12]|transitions\.\d\.0|head)\.weight$`),
	}
	for _, name := range []string{"slak_tiny", "convnext_tiny", "replknet_tiny", "slak_t", "slak_s", "slak_b", "convnext_t", "replknet_31b"} {
		v, err := Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		sd := StateDict{}
		var all, halfVals int64
		n := 0
		for _, e := range DeployKeys(v) {
			half := HalfKey(e)
			if half != want[v.Family].MatchString(e.Key) {
				t.Errorf("%s: HalfKey(%s %v) = %v", name, e.Key, e.Shape, half)
			}
			if half {
				n++
				halfVals += int64(e.numel())
				sd[e.Key] = Param{Shape: e.Shape, Half: make([]uint16, e.numel())}
			} else {
				sd[e.Key] = Param{Shape: e.Shape, Data: make([]float32, e.numel())}
			}
			all += int64(e.numel())
		}
		f32b, hb := WeightBytes(v, sd, true)
		wide, none := WeightBytes(v, sd, false)
		if none != 0 || wide != 4*all || hb < 2*halfVals || hb > 2*halfVals+16*int64(n) || f32b != 4*(all-halfVals) {
			t.Errorf("%s: WeightBytes %d + %d half (widened %d + %d) for %d values, %d of them half in %d tensors", name, f32b, hb, wide, none, all, halfVals, n)
		}
		t.Logf("%-13s %3d half tensors: weights %7.1f MB as f32, %7.1f MB with half GEMM weights (%.1f%%)", name, n,
			float64(4*all)/1e6, float64(f32b+hb)/1e6, 100*float64(f32b+hb)/float64(4*all))
	}
}
