package model

import (
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"
)

// TestSchemaMatchesGoldenCheckpoints compares Schema(v) with the key order
// and shapes of the checkpoints written by the PyTorch reference
// (tools/golden, official module names). Entry counts from
// testdata/golden/README.md: 145, 65, 297.
func TestSchemaMatchesGoldenCheckpoints(t *testing.T) {
	wantEntries := map[string]int{"slak_tiny": 145, "convnext_tiny": 65, "replknet_tiny": 297}
	for _, cfg := range goldenConfigs {
		v, err := Lookup(cfg)
		if err != nil {
			t.Fatal(err)
		}
		ck := readPTH(t, filepath.Join(goldenDir, cfg, "checkpoint.pth"))
		s := Schema(v)
		if len(s) != wantEntries[cfg] || len(ck) != wantEntries[cfg] {
			t.Errorf("%s: schema %d entries, checkpoint %d, want %d", cfg, len(s), len(ck), wantEntries[cfg])
		}
		for i := 0; i < len(s) && i < len(ck); i++ {
			if s[i].Key != ck[i].Key || !sameShape(s[i].Shape, ck[i].P.Shape) {
				t.Errorf("%s entry %d: schema %s %v, checkpoint %s %v", cfg, i, s[i].Key, s[i].Shape, ck[i].Key, ck[i].P.Shape)
				break
			}
		}
	}
}

// zeros backs synthetic official state_dicts: every tensor is a prefix of it,
// so building SLaK-B's 158M-parameter schema costs no memory per tensor.
var zeros = make([]float32, 8<<20)

// synthetic builds an official state_dict with v's schema, all zeros except
// BN running_var = 1 (so folding is finite) where data can be private.
func synthetic(v Variant) StateDict {
	sd := StateDict{}
	for _, e := range Schema(v) {
		n := numel(e.Shape)
		sd[e.Key] = Param{Shape: e.Shape, Data: zeros[:n:n]}
	}
	return sd
}

func wantErr(t *testing.T, what string, err error, subs ...string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error, want one containing %q", what, subs)
		return
	}
	for _, s := range subs {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("%s: error\n\t%v\ndoes not contain %q", what, err, s)
		}
	}
}

func mustLookup(t testing.TB, name string) Variant {
	t.Helper()
	v, err := Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestConvertTraps(t *testing.T) {
	slakT, slakT31 := mustLookup(t, "slak_t"), mustLookup(t, "slak_t31")

	// A SLaK-T 31×31 checkpoint given as slak_t (SLaK#16).
	_, err := Convert(slakT, synthetic(slakT31))
	wantErr(t, "slak_t31 as slak_t", err,
		"stages.0.0.large_kernel.LoRA1.conv.weight has shape [124 1 31 5], want [124 1 51 5]: the kernel list does not match slak_t (51,49,47,13,5)",
		"the checkpoint's kernels are (31,29,27,13)",
		"this looks like a SLaK-T (31×31) checkpoint: use variant slak_t31")

	// ConvNeXt-T and RepLKNet-31B given as slak_t.
	_, err = Convert(slakT, synthetic(mustLookup(t, "convnext_t")))
	wantErr(t, "convnext_t as slak_t", err, "missing key(s)", "unexpected key(s)", "use variant convnext_t")
	_, err = Convert(mustLookup(t, "slak_s"), synthetic(mustLookup(t, "replknet_31b")))
	wantErr(t, "replknet_31b as slak_s", err, "use variant replknet_31b")

	// SLaK-S given as SLaK-T: the extra stage-2 blocks are unexpected.
	_, err = Convert(slakT, synthetic(mustLookup(t, "slak_s")))
	wantErr(t, "slak_s as slak_t", err, "396 unexpected key(s): stages.2.10.gamma", "use variant slak_s")

	// Missing keys: listed (up to 5) with the count.
	sd := synthetic(slakT)
	for _, k := range []string{"head.bias", "norm.weight", "stages.0.0.gamma", "stages.1.2.pwconv1.weight",
		"stages.3.0.norm.bias", "downsample_layers.2.1.weight", "stages.2.8.large_kernel.LoRA2.bn.running_var"} {
		delete(sd, k)
	}
	_, err = Convert(slakT, sd)
	wantErr(t, "missing", err, "7 missing key(s): ", "… (2 more)", "stages.2.8.large_kernel.LoRA2.bn.running_var")

	// An unexpected key.
	sd = synthetic(slakT)
	sd["head.extra"] = Param{Shape: []int{1}, Data: []float32{0}}
	_, err = Convert(slakT, sd)
	wantErr(t, "unexpected", err, "1 unexpected key(s): head.extra")

	// lkb_origin: a Decom=False model (SLaK#5, SLaK#19).
	sd = synthetic(slakT)
	for k, p := range sd {
		if strings.Contains(k, ".LoRA1.") {
			delete(sd, k)
			sd[strings.Replace(k, ".LoRA1.", ".lkb_origin.", 1)] = p
		}
	}
	_, err = Convert(slakT, sd)
	wantErr(t, "lkb_origin", err, "lkb_origin", "Decom=False", "not a released SLaK checkpoint")

	// Decom1/Decom2: July-2022 naming.
	sd = synthetic(slakT)
	for k, p := range sd {
		if strings.Contains(k, ".LoRA") {
			delete(sd, k)
			sd[strings.Replace(k, ".LoRA", ".Decom", 1)] = p
		}
	}
	_, err = Convert(slakT, sd)
	wantErr(t, "Decom", err, "July-2022", "Decom1", "LoRA1/LoRA2")

	// lkb_reparam: the merged deploy form (SLaK and RepLKNet).
	r31 := mustLookup(t, "replknet_31b")
	sd = synthetic(r31)
	sd["stages.0.blocks.0.large_kernel.lkb_reparam.weight"] = Param{Shape: []int{128, 1, 31, 31}, Data: zeros[:128*31*31]}
	_, err = Convert(r31, sd)
	wantErr(t, "lkb_reparam", err, "lkb_reparam", "merged", "unmerged")

	// --bn False and no layer scale (SLAK.md §8): said clearly.
	sd = synthetic(slakT)
	for k := range sd {
		if strings.Contains(k, ".large_kernel.") && strings.Contains(k, ".bn.") {
			delete(sd, k)
		}
	}
	_, err = Convert(slakT, sd)
	wantErr(t, "bn=False", err, "--bn False", "does not support")
	sd = synthetic(mustLookup(t, "convnext_t"))
	for k := range sd {
		if strings.HasSuffix(k, ".gamma") {
			delete(sd, k)
		}
	}
	_, err = Convert(mustLookup(t, "convnext_t"), sd)
	wantErr(t, "no gamma", err, "layer_scale_init_value <= 0")

	// A truncated tensor.
	sd = synthetic(slakT)
	sd["head.weight"] = Param{Shape: []int{1000, 998}, Data: zeros[:100]}
	_, err = Convert(slakT, sd)
	wantErr(t, "truncated", err, "head.weight has 100 values for shape [1000 998]")

	// module./backbone. prefixes and num_batches_tracked are accepted.
	sd = StateDict{}
	for k, p := range synthetic(slakT31) {
		if strings.HasSuffix(k, "num_batches_tracked") && strings.HasPrefix(k, "stages.1") {
			continue // absent num_batches_tracked is fine too
		}
		sd["module.backbone."+k] = p
	}
	if _, err := Convert(slakT31, sd); err != nil {
		t.Errorf("prefixed slak_t31: %v", err)
	}
	// …but the same key with and without a prefix is ambiguous.
	sd["head.bias"] = sd["module.backbone.head.bias"]
	_, err = Convert(slakT31, sd)
	wantErr(t, "duplicate", err, `"head.bias" twice`)
}

// TestConvertGoldenVariants runs Convert on the hostile layouts of
// testdata/golden/variants.
func TestConvertGoldenVariants(t *testing.T) {
	v := mustLookup(t, "slak_tiny")
	ref, err := Convert(v, toStateDict(readPTH(t, filepath.Join(goldenDir, "slak_tiny", "checkpoint.pth"))))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(goldenDir, "variants")
	// Same weights as slak_tiny: the deploy form must be bit-identical.
	for _, f := range []string{"slak_tiny_module_prefix.pth", "slak_tiny_model_ema.pth", "slak_tiny_cuda_location.pth"} {
		got, err := Convert(v, toStateDict(readPTH(t, filepath.Join(dir, f))))
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		for _, e := range DeployKeys(v) {
			a, b := got[e.Key].Data, ref[e.Key].Data
			for i := range b {
				if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
					t.Errorf("%s: %s[%d] = %g, want %g", f, e.Key, i, a[i], b[i])
					break
				}
			}
		}
	}
	_, err = Convert(v, toStateDict(readPTH(t, filepath.Join(dir, "slak_tiny_decom.pth"))))
	wantErr(t, "slak_tiny_decom.pth", err, "July-2022", "Decom1")
	_, err = Convert(v, toStateDict(readPTH(t, filepath.Join(dir, "slak_tiny_lkb_origin.pth"))))
	wantErr(t, "slak_tiny_lkb_origin.pth", err, "Decom=False")
	_, err = Convert(v, toStateDict(readPTH(t, filepath.Join(dir, "slak_tiny_k_mismatch.pth"))))
	wantErr(t, "slak_tiny_k_mismatch.pth", err,
		"stages.0.0.large_kernel.LoRA1.conv.weight has shape [7 1 9 5], want [7 1 13 5]",
		"does not match slak_tiny (13,11,9,7,5)", "the checkpoint's kernels are (9,9,7,7)")

	// The K-mismatch file is a valid SLaK with kernels 9,9,7,7: a variant row
	// with those kernels converts and runs it (the table is data).
	k9 := v
	k9.Name, k9.Kernels = "slak_tiny_k9977", [4]int{9, 9, 7, 7}
	dk, err := Convert(k9, toStateDict(readPTH(t, filepath.Join(dir, "slak_tiny_k_mismatch.pth"))))
	if err != nil {
		t.Fatalf("k mismatch as a 9,9,7,7 variant: %v", err)
	}
	runVariantGolden(t, k9, dk, "slak_tiny_k_mismatch")

	// f16 storage: widened to float32, the golden logits are those of the
	// widened weights in float64 (tolerance as for the f32 goldens).
	d16, err := Convert(v, toStateDict(readPTH(t, filepath.Join(dir, "slak_tiny_f16.pth"))))
	if err != nil {
		t.Fatal(err)
	}
	runVariantGolden(t, v, d16, "slak_tiny_f16")
}

// runVariantGolden compares the logits of deploy weights d with
// variants/golden.safetensors "<name>/{rand64,odd71x53}/logits" (inputs from
// slak_tiny/golden.safetensors; tolerance as for the f32 goldens).
func runVariantGolden(t *testing.T, v Variant, d StateDict, name string) {
	t.Helper()
	g, _ := readSafetensors(t, filepath.Join(goldenDir, "slak_tiny", "golden.safetensors"))
	gv, _ := readSafetensors(t, filepath.Join(goldenDir, "variants", "golden.safetensors"))
	net, err := Load(newCPU(), v, d)
	if err != nil {
		t.Fatal(err)
	}
	defer net.Free()
	for _, x := range []string{"rand64", "odd71x53"} {
		in := g[x+"/input"]
		out, err := net.Forward(in.Data, in.Shape[1], in.Shape[2])
		if err != nil {
			t.Fatal(err)
		}
		want, ok := gv[name+"/"+x+"/logits"]
		if !ok {
			t.Fatalf("variants/golden.safetensors has no %s/%s/logits", name, x)
		}
		compareRel(t, name+"/"+x+" logits", []int{len(want.Data)}, out.Logits, want.Data, tolLogit, 1)
		checkTop5(t, name+"/"+x, out.Logits, want.Data, tolLogit*math.Max(1, maxAbs(want.Data)))
	}
}

func TestFoldBN(t *testing.T) {
	// conv [2,1,1,3] then BN over 2 channels: compare with conv→BN per channel.
	w := []float32{1, -2, 0.5, 3, 0, -1}
	bias := []float32{0.25, -0.5}
	gamma, beta := []float32{1.5, -0.75}, []float32{0.1, 0.2}
	mean, variance := []float32{0.3, -0.4}, []float32{0.64, 2.25}
	const eps = 1e-5
	wf, bf := FoldBN(w, bias, gamma, beta, mean, variance, eps)
	x := []float64{0.7, -1.1, 2.0}
	for o := 0; o < 2; o++ {
		conv := float64(bias[o])
		fold := float64(bf[o])
		for i := 0; i < 3; i++ {
			conv += float64(w[o*3+i]) * x[i]
			fold += float64(wf[o*3+i]) * x[i]
		}
		want := (conv-float64(mean[o]))/math.Sqrt(float64(variance[o])+eps)*float64(gamma[o]) + float64(beta[o])
		if math.Abs(fold-want) > 1e-6*math.Max(1, math.Abs(want)) { // float32 storage of w', b'
			t.Errorf("FoldBN channel %d: folded conv %g, conv→BN %g", o, fold, want)
		}
	}
}

func TestDeployKeys(t *testing.T) {
	for _, v := range Variants() {
		dk := DeployKeys(v)
		seen := map[string]bool{}
		n, buffers := 0, 0
		for _, e := range dk {
			if e.Kind == Buffer {
				buffers += numel(e.Shape) // running stats of RepLKNet's standalone BNs
			}
			if seen[e.Key] {
				t.Errorf("%s: deploy key %s twice", v.Name, e.Key)
			}
			seen[e.Key] = true
			if strings.Contains(e.Key, "num_batches_tracked") || strings.Contains(e.Key, ".conv.") ||
				(v.Family == SLaK && strings.Contains(e.Key, "running_")) {
				t.Errorf("%s: deploy key %s should have been folded or dropped", v.Name, e.Key)
			}
			n += numel(e.Shape)
		}
		// Folding turns a conv's BN weight and bias into one bias vector and
		// drops its running stats; standalone BNs keep their running stats.
		var folded int
		for _, e := range Schema(v) {
			if _, ok := convOf(e.Key); ok && v.Family != ConvNeXt {
				folded += e.Shape[0]
			}
		}
		params := ParamCount(v)
		if want := params - folded + buffers; n != want {
			t.Errorf("%s: deploy holds %d floats, want params %d − one BN vector per folded conv %d + kept BN buffers %d = %d",
				v.Name, n, params, folded, buffers, want)
		}
	}
	// Spot checks of the documented names.
	v := mustLookup(t, "slak_t")
	want := map[string][]int{
		"stages.0.0.large_kernel.LoRA1.weight":      {124, 1, 51, 5},
		"stages.0.0.large_kernel.LoRA1.bias":        {124},
		"stages.3.2.large_kernel.small_conv.weight": {998, 1, 5, 5},
		"downsample_layers.0.0.weight":              {124, 3, 4, 4},
	}
	r := mustLookup(t, "replknet_31b")
	wantR := map[string][]int{
		"stem.0.weight": {128, 3, 3, 3}, "stem.0.bias": {128},
		"stages.2.blocks.35.pw1.weight":                   {2048, 512, 1, 1},
		"stages.2.blocks.34.large_kernel.lkb_origin.bias": {512},
		"stages.2.blocks.34.prelkb_bn.running_var":        {512},
		"norm.running_mean":                               {1024},
		"transitions.2.1.weight":                          {1024, 1, 3, 3},
	}
	for _, c := range []struct {
		v    Variant
		want map[string][]int
	}{{v, want}, {r, wantR}} {
		got := map[string][]int{}
		for _, e := range DeployKeys(c.v) {
			got[e.Key] = e.Shape
		}
		for k, s := range c.want {
			if !sameShape(got[k], s) {
				t.Errorf("%s: deploy %s has shape %v, want %v", c.v.Name, k, got[k], s)
			}
		}
	}
}

func TestLookup(t *testing.T) {
	for _, v := range Variants() {
		got, err := Lookup(strings.ToUpper(strings.ReplaceAll(v.Name, "_", "-")))
		if err != nil || got.Name != v.Name {
			t.Errorf("Lookup(%s) = %v, %v", v.Name, got.Name, err)
		}
		if v.Label == "" || v.Preprocess.Size != 224 || v.Classes <= 0 || v.Source == "" {
			t.Errorf("%s: incomplete row %+v", v.Name, v)
		}
	}
	if _, err := Lookup("slak_xl"); err == nil || !strings.Contains(err.Error(), "slak_t31") {
		t.Errorf("Lookup(slak_xl) error %v should list the known variants", err)
	}
	// §1.1: dims int(d·1.3).
	want := map[string][4]int{"slak_t": {124, 249, 499, 998}, "slak_b": {166, 332, 665, 1331}, "slak_tiny": {7, 13, 18, 26}}
	for name, d := range want {
		if got := mustLookup(t, name).Dims; got != d {
			t.Errorf("%s dims %v, want %v", name, got, d)
		}
	}
	if got := mustLookup(t, "slak_t").KernelList(); got != "51,49,47,13,5" {
		t.Errorf("slak_t kernel list %q", got)
	}
}

func ExampleLookup() {
	v, _ := Lookup("slak_t")
	fmt.Println(v.Label, v.Dims, v.KernelList(), ParamCount(v))
	// Output: SLaK-T (51×51) [124 249 499 998] 51,49,47,13,5 50703838
}
