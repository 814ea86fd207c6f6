package model

import (
	"fmt"
	"math"
	"sort"
	"strings"
)

// Param is one tensor of a state_dict: a shape and float32 data in row-major
// (PyTorch contiguous) order. num_batches_tracked, an int64 scalar in
// PyTorch, may be given with any data; it is ignored.
type Param struct {
	Shape []int
	Data  []float32
	// Half, where Data is nil, holds the values as IEEE 754 binary16 bits
	// (a deploy weight of an F16 model file kept half: see half.go).
	Half []uint16
}

// StateDict maps keys to tensors.
type StateDict map[string]Param

func numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

func sameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// StripPrefix removes the wrapper prefixes "module." (DataParallel) and
// "backbone." (segmentation / mmpretrain), repeated, from a key.
func StripPrefix(key string) string {
	for {
		switch {
		case strings.HasPrefix(key, "module."):
			key = key[len("module."):]
		case strings.HasPrefix(key, "backbone."):
			key = key[len("backbone."):]
		default:
			return key
		}
	}
}

// ConvertError is what Convert returns for a checkpoint that does not fit the
// variant. Error() names the keys and says what is wrong.
type ConvertError struct {
	Variant    string
	Deploy     bool     // the dict was deploy weights (ValidateDeploy), not an official checkpoint
	Trap       string   // a known pitfall of SLAK.md §6 (lkb_origin, Decom1/2, lkb_reparam), or ""
	Missing    []string // expected keys absent from the checkpoint (num_batches_tracked not required)
	Unexpected []string // checkpoint keys the variant does not have
	Shapes     []string // one message per key with a wrong shape or data length
	Hint       string   // "this looks like a … checkpoint: use variant …", or ""
}

func listKeys(keys []string) string {
	const show = 5
	if len(keys) <= show {
		return strings.Join(keys, ", ")
	}
	return fmt.Sprintf("%s, … (%d more)", strings.Join(keys[:show], ", "), len(keys)-show)
}

func (e *ConvertError) Error() string {
	var parts []string
	if e.Trap != "" {
		parts = append(parts, e.Trap)
	}
	if n := len(e.Shapes); n > 0 {
		msg := e.Shapes
		if n > 3 {
			msg = append(append([]string(nil), e.Shapes[:3]...), fmt.Sprintf("… (%d wrong shapes in all)", n))
		}
		parts = append(parts, strings.Join(msg, "; "))
	}
	if n := len(e.Missing); n > 0 {
		parts = append(parts, fmt.Sprintf("%d missing key(s): %s", n, listKeys(e.Missing)))
	}
	if n := len(e.Unexpected); n > 0 {
		parts = append(parts, fmt.Sprintf("%d unexpected key(s): %s", n, listKeys(e.Unexpected)))
	}
	if e.Hint != "" {
		parts = append(parts, e.Hint)
	}
	what := "checkpoint does"
	if e.Deploy {
		what = "deploy weights do"
	}
	return fmt.Sprintf("model: %s not fit %s: %s", what, e.Variant, strings.Join(parts, "; "))
}

// normalize strips wrapper prefixes and drops num_batches_tracked.
func normalize(official StateDict) (StateDict, error) {
	sd := make(StateDict, len(official))
	keys := sortedKeys(official)
	for _, k := range keys {
		s := StripPrefix(k)
		if strings.HasSuffix(s, "num_batches_tracked") {
			continue
		}
		if _, dup := sd[s]; dup {
			return nil, fmt.Errorf("model: checkpoint has key %q twice (with and without a module./backbone. prefix)", s)
		}
		sd[s] = official[k]
	}
	return sd, nil
}

func sortedKeys(sd StateDict) []string {
	keys := make([]string, 0, len(sd))
	for k := range sd {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// firstWith returns the first key (sorted) containing sub, or "".
func firstWith(keys []string, sub string) string {
	for _, k := range keys {
		if strings.Contains(k, sub) {
			return k
		}
	}
	return ""
}

// trap names the pitfalls of SLAK.md §2.2 and §6.
func trap(v Variant, keys []string) string {
	if k := firstWith(keys, ".lkb_reparam."); k != "" {
		return fmt.Sprintf("it holds merged lkb_reparam keys (e.g. %s): this is the reparameterised deploy form "+
			"(structural_reparam/merge_kernel), not a training checkpoint; convert the unmerged checkpoint", k)
	}
	if v.Family == SLaK {
		if k := firstWith(keys, ".lkb_origin."); k != "" {
			return fmt.Sprintf("it holds lkb_origin keys (e.g. %s): this is a Decom=False model with one "+
				"non-decomposed K×K kernel per block, not a released SLaK checkpoint (those have LoRA1/LoRA2/small_conv; SLaK#5, SLaK#19)", k)
		}
		if k := firstWith(keys, ".Decom1."); k != "" {
			return fmt.Sprintf("it uses the July-2022 branch names Decom1/Decom2 (e.g. %s); released SLaK checkpoints "+
				"name them LoRA1/LoRA2 (SLaK#5): rename Decom1→LoRA1 and Decom2→LoRA2 or use a released file", k)
		}
		if k := firstWith(keys, ".Decom2."); k != "" {
			return fmt.Sprintf("it uses the July-2022 branch name Decom2 (e.g. %s); released SLaK checkpoints "+
				"name it LoRA2 (SLaK#5)", k)
		}
		// SLAK.md §8: --bn False drops the branch BNs, layer_scale_init_value ≤ 0 drops gamma.
		if firstWith(keys, ".large_kernel.LoRA1.conv.weight") != "" && firstWith(keys, ".large_kernel.LoRA1.bn.") == "" {
			return "its large-kernel branches have no BatchNorm keys: a model trained with --bn False, which this converter does not support"
		}
	}
	if v.Family == SLaK || v.Family == ConvNeXt {
		if firstWith(keys, ".pwconv1.weight") != "" && firstWith(keys, ".gamma") == "" {
			return "its blocks have no layer-scale gamma: a model with layer_scale_init_value <= 0, which this converter does not support"
		}
	}
	return ""
}

// fits reports whether sd (normalised) has exactly the keys and shapes of u.
func fits(u Variant, sd StateDict) bool {
	n := 0
	for _, e := range Schema(u) {
		if e.Kind == Counter {
			continue
		}
		p, ok := sd[e.Key]
		if !ok || !sameShape(p.Shape, e.Shape) {
			return false
		}
		n++
	}
	return n == len(sd)
}

// guess names another variant whose schema the checkpoint fits exactly.
func guess(v Variant, sd StateDict) string {
	for _, u := range variants {
		if u.Name != v.Name && fits(u, sd) {
			return fmt.Sprintf("this looks like a %s checkpoint: use variant %s", u.Label, u.Name)
		}
	}
	return ""
}

// checkpointKernels reads the per-stage large kernels of a SLaK or RepLKNet
// checkpoint from its first block of each stage ("" when absent).
func checkpointKernels(v Variant, sd StateDict) string {
	var ks []string
	for st := 0; st < 4; st++ {
		var key string
		var axis int
		switch v.Family {
		case SLaK:
			key, axis = fmt.Sprintf("stages.%d.0.large_kernel.LoRA1.conv.weight", st), 2
		case RepLKNet:
			key, axis = fmt.Sprintf("stages.%d.blocks.0.large_kernel.lkb_origin.conv.weight", st), 2
		case ConvNeXt:
			key, axis = fmt.Sprintf("stages.%d.0.dwconv.weight", st), 2
		}
		p, ok := sd[key]
		if !ok || len(p.Shape) != 4 {
			return ""
		}
		ks = append(ks, fmt.Sprint(p.Shape[axis]))
	}
	return strings.Join(ks, ",")
}

func isKernelKey(key string) bool {
	return strings.Contains(key, ".LoRA1.") || strings.Contains(key, ".LoRA2.") ||
		strings.Contains(key, ".lkb_origin.") || strings.Contains(key, ".dwconv.weight")
}

// Validate checks a normalised state_dict (prefixes stripped,
// num_batches_tracked dropped) against the entries want and returns a
// *ConvertError naming every problem, or nil.
func validate(v Variant, want []Entry, sd StateDict) error {
	ce := &ConvertError{Variant: v.Name}
	keys := sortedKeys(sd)
	ce.Trap = trap(v, keys)
	expected := make(map[string]bool, len(want))
	kernelNoted := false
	for _, e := range want {
		if e.Kind == Counter {
			continue
		}
		expected[e.Key] = true
		p, ok := sd[e.Key]
		if !ok {
			ce.Missing = append(ce.Missing, e.Key)
			continue
		}
		if !sameShape(p.Shape, e.Shape) {
			msg := fmt.Sprintf("%s has shape %v, want %v", e.Key, p.Shape, e.Shape)
			if isKernelKey(e.Key) && !kernelNoted {
				kernelNoted = true
				msg += fmt.Sprintf(": the kernel list does not match %s (%s)", v.Name, v.KernelList())
				if got := checkpointKernels(v, sd); got != "" {
					msg += fmt.Sprintf("; the checkpoint's kernels are (%s)", got)
				}
			}
			ce.Shapes = append(ce.Shapes, msg)
			continue
		}
		if p.Len() != numel(p.Shape) {
			ce.Shapes = append(ce.Shapes, fmt.Sprintf("%s has %d values for shape %v (want %d): truncated or corrupt",
				e.Key, p.Len(), p.Shape, numel(p.Shape)))
		}
	}
	for _, k := range keys {
		if !expected[k] {
			ce.Unexpected = append(ce.Unexpected, k)
		}
	}
	if ce.Trap == "" && len(ce.Missing) == 0 && len(ce.Unexpected) == 0 && len(ce.Shapes) == 0 {
		return nil
	}
	ce.Hint = guess(v, sd)
	return ce
}

// FoldBN folds an eval BatchNorm into the conv before it (the official
// fuse_bn, SLAK.md §1.4): with t[o] = γ[o]/sqrt(var[o]+eps),
//
//	w'[o, …] = w[o, …]·t[o]        b'[o] = bias[o]·t[o] + β[o] − mean[o]·t[o]
//
// w is [Cout, …] (any per-output-channel layout); bias may be nil (a
// bias-free conv). The arithmetic is in float64, rounded once to float32.
func FoldBN(w, bias, gamma, beta, mean, variance []float32, eps float32) (wf, bf []float32) {
	cout := len(gamma)
	per := len(w) / cout
	wf = make([]float32, len(w))
	bf = make([]float32, cout)
	for o := 0; o < cout; o++ {
		t := float64(gamma[o]) / math.Sqrt(float64(variance[o])+float64(eps))
		for i := o * per; i < (o+1)*per; i++ {
			wf[i] = float32(float64(w[i]) * t)
		}
		b0 := 0.0
		if bias != nil {
			b0 = float64(bias[o])
		}
		bf[o] = float32(b0*t + float64(beta[o]) - float64(mean[o])*t)
	}
	return wf, bf
}

// Convert turns an official state_dict of variant v (the caller unwraps the
// top-level model / model_ema / state_dict / module key) into the deploy form
// listed by DeployKeys(v):
//   - "module." and "backbone." prefixes are stripped, num_batches_tracked is ignored;
//   - keys and shapes are checked against Schema(v) first; a mismatch returns a
//     *ConvertError naming the keys, the known traps (lkb_origin, Decom1/2,
//     lkb_reparam) and, when the checkpoint fits another variant, that variant;
//   - every conv-BN pair is folded (SLaK's three LK branches separately,
//     RepLKNet's conv_bn modules); standalone BNs stay.
//
// Unchanged tensors share their Data with official.
func Convert(v Variant, official StateDict) (StateDict, error) {
	sd, err := normalize(official)
	if err != nil {
		return nil, err
	}
	entries := Schema(v)
	if err := validate(v, entries, sd); err != nil {
		return nil, err
	}
	out := make(StateDict, len(entries))
	for i := 0; i < len(entries); i++ {
		e := entries[i]
		if e.Kind == Counter {
			continue
		}
		if base, ok := convOf(e.Key); ok && v.Family != ConvNeXt {
			bn := base + ".bn."
			wf, bf := FoldBN(sd[e.Key].Data, nil, sd[bn+"weight"].Data, sd[bn+"bias"].Data,
				sd[bn+"running_mean"].Data, sd[bn+"running_var"].Data, v.BNEps)
			out[base+".weight"] = Param{Shape: append([]int(nil), e.Shape...), Data: wf}
			out[base+".bias"] = Param{Shape: []int{e.Shape[0]}, Data: bf}
			i += 5
			continue
		}
		out[e.Key] = sd[e.Key]
	}
	return out, nil
}

// ValidateDeploy checks a deploy state_dict against DeployKeys(v): every key
// present with its shape and data length, no extra keys.
func ValidateDeploy(v Variant, deploy StateDict) error {
	sd := make(StateDict, len(deploy))
	for k, p := range deploy {
		sd[k] = p
	}
	err := validate(v, DeployKeys(v), sd)
	if ce, ok := err.(*ConvertError); ok {
		ce.Deploy = true
		ce.Hint = ""
		for _, u := range variants {
			if u.Name != v.Name && fitsDeploy(u, sd) {
				ce.Hint = fmt.Sprintf("these look like %s weights: use variant %s", u.Label, u.Name)
				break
			}
		}
	}
	return err
}

func fitsDeploy(u Variant, sd StateDict) bool {
	want := DeployKeys(u)
	if len(want) != len(sd) {
		return false
	}
	for _, e := range want {
		p, ok := sd[e.Key]
		if !ok || !sameShape(p.Shape, e.Shape) {
			return false
		}
	}
	return true
}
