// Package convert turns an official PyTorch checkpoint into a slak-web model
// file (see weights/model.go for the format) and loads such a file back into
// an engine/model deploy state dict, checking everything on the way: the
// format tag, the variant, the kernel sizes, every key and shape, and the
// data checksum. A file that fails any check is rejected as a whole, so the
// engine never runs a partially loaded model.
//
// It is the only part of weights/ (besides the CLI) that imports
// engine/model; it compiles for GOOS=js GOARCH=wasm.
package convert

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"path"
	"strconv"
	"strings"

	"github.com/slak-web/slak/engine/model"
	"github.com/slak-web/slak/weights"
)

// Options says what to convert to.
type Options struct {
	Variant string // engine/model variant name, e.g. "slak_t"
	// DType is "f16" (default, half the download) or "f32".
	DType string
	// SourceFile is recorded as source_file (base name only).
	SourceFile string
	// Progress, if set, is called with (done, total) as the conversion
	// advances: hashing the source is the first half, converting tensors the
	// second.
	Progress func(done, total int64)
}

func (o Options) dtype() (weights.DType, error) {
	switch strings.ToLower(o.DType) {
	case "", "f16", "float16", "half":
		return weights.F16, nil
	case "f32", "float32", "float":
		return weights.F32, nil
	}
	return "", fmt.Errorf("convert: dtype %q: want f16 or f32", o.DType)
}

// Convert reads a torch.save checkpoint of the given size from r, hashes it
// (source_sha256) and converts its state dict (see ConvertCheckpoint).
func Convert(r io.ReaderAt, size int64, opt Options) (*weights.File, error) {
	h := sha256.New()
	const chunk = 4 << 20
	buf := make([]byte, min(chunk, max(size, 1)))
	for off := int64(0); off < size; {
		n := min(int64(len(buf)), size-off)
		if _, err := r.ReadAt(buf[:n], off); err != nil {
			return nil, fmt.Errorf("convert: reading %s: %w", opt.SourceFile, err)
		}
		h.Write(buf[:n])
		off += n
		if opt.Progress != nil {
			opt.Progress(off, 2*size)
		}
	}
	ck, err := weights.ReadPTH(r, size)
	if err != nil {
		return nil, err
	}
	inner := opt
	if opt.Progress != nil {
		inner.Progress = func(done, total int64) {
			if total > 0 {
				opt.Progress(size+int64(float64(done)/float64(total)*float64(size)), 2*size)
			}
		}
	}
	// ck is ours: release each tensor's bytes once converted to float32,
	// which lowers the peak memory by the size of the checkpoint's tensors.
	return convertCheckpoint(ck, hex.EncodeToString(h.Sum(nil)), inner, true)
}

// preprocessing is the JSON stored in the preprocessing metadata entry.
type preprocessing struct {
	Resize        int        `json:"resize"`
	Interpolation string     `json:"interpolation"`
	Crop          int        `json:"crop"`
	Mean          [3]float32 `json:"mean"`
	Std           [3]float32 `json:"std"`
}

func kernelString(v model.Variant) string {
	parts := make([]string, 4)
	for i, k := range v.Kernels {
		parts[i] = strconv.Itoa(k)
	}
	return strings.Join(parts, ",")
}

// Metadata returns the metadata entries that describe variant v (everything
// except dtype, the source and the checksum).
func Metadata(v model.Variant) map[string]string {
	p := v.Preprocess
	pj, _ := json.Marshal(preprocessing{
		Resize: int(float64(p.Size) / p.CropPct), Interpolation: p.Interp, Crop: p.Size, Mean: p.Mean, Std: p.Std,
	})
	classes := "imagenet1k-wordnet-sorted" // torchvision ImageFolder order, SLAK.md §1.2
	if v.Classes != 1000 {
		classes = "indices-" + strconv.Itoa(v.Classes)
	}
	n := ""
	if v.N > 0 {
		n = strconv.Itoa(v.N)
	}
	eps := func(e float32) string {
		if e == 0 {
			return ""
		}
		return strconv.FormatFloat(float64(e), 'g', -1, 32)
	}
	return map[string]string{
		weights.MetaFormat:        weights.FormatV1,
		weights.MetaVariant:       v.Name,
		weights.MetaFamily:        v.Family.String(),
		weights.MetaLabel:         v.Label,
		weights.MetaKernels:       kernelString(v),
		weights.MetaN:             n,
		weights.MetaLNEps:         eps(v.LNEps),
		weights.MetaBNEps:         eps(v.BNEps),
		weights.MetaPreprocessing: string(pj),
		weights.MetaClassOrder:    classes,
		weights.MetaConvertedBy:   "slakweights",
	}
}

// ConvertCheckpoint converts the state dict of ck (already read) to the
// deploy form of opt.Variant with engine/model.Convert and packs it as a
// slak-web model file. sourceSHA256 is recorded as source_sha256.
func ConvertCheckpoint(ck *weights.Checkpoint, sourceSHA256 string, opt Options) (*weights.File, error) {
	return convertCheckpoint(ck, sourceSHA256, opt, false)
}

func convertCheckpoint(ck *weights.Checkpoint, sourceSHA256 string, opt Options, release bool) (*weights.File, error) {
	v, err := model.Lookup(opt.Variant)
	if err != nil {
		return nil, err
	}
	dt, err := opt.dtype()
	if err != nil {
		return nil, err
	}
	// Dry run with every tensor backed by one shared zero buffer: a
	// checkpoint that does not fit v fails here, with model.Convert's own
	// messages, before any tensor is widened to float32 (the app tries
	// several variants in turn on a dropped .pth).
	maxN := 0
	for _, k := range ck.Order {
		t := ck.StateDict[k]
		if t == nil {
			return nil, fmt.Errorf("convert: checkpoint lists %s but holds no tensor for it", k)
		}
		if err := t.Validate(); err != nil {
			return nil, fmt.Errorf("convert: %w", err)
		}
		maxN = max(maxN, t.NumElements())
	}
	zeros := make([]float32, maxN)
	dry := make(model.StateDict, len(ck.Order))
	for _, k := range ck.Order {
		t := ck.StateDict[k]
		dry[k] = model.Param{Shape: t.Shape, Data: zeros[:t.NumElements()]}
	}
	if _, err := model.Convert(v, dry); err != nil {
		return nil, err
	}
	zeros, dry = nil, nil

	official := make(model.StateDict, len(ck.StateDict))
	for _, k := range ck.Order {
		t := ck.StateDict[k]
		d, err := t.Float32()
		if err != nil {
			return nil, fmt.Errorf("convert: %w", err)
		}
		official[k] = model.Param{Shape: t.Shape, Data: d}
		if release {
			t.Data = nil
		}
	}
	deploy, err := model.Convert(v, official)
	if err != nil {
		return nil, err
	}
	keys := model.DeployKeys(v)
	var total, done int64
	for _, e := range keys {
		total += int64(len(deploy[e.Key].Data))
	}
	f := weights.NewFile()
	for _, e := range keys {
		p := deploy[e.Key]
		var t *weights.Tensor
		if dt == weights.F16 {
			t, err = weights.NewF16(e.Key, p.Shape, p.Data)
		} else {
			t, err = weights.NewF32(e.Key, p.Shape, p.Data)
		}
		if err != nil {
			return nil, fmt.Errorf("convert: %w", err)
		}
		if err := f.Add(t); err != nil {
			return nil, fmt.Errorf("convert: %w", err)
		}
		done += int64(len(p.Data))
		if opt.Progress != nil {
			opt.Progress(done, total)
		}
	}
	for k, val := range Metadata(v) {
		f.Metadata[k] = val
	}
	f.Metadata[weights.MetaDType] = string(dt)
	f.Metadata[weights.MetaSourceSHA256] = sourceSHA256
	f.Metadata[weights.MetaSourceFile] = path.Base(strings.ReplaceAll(opt.SourceFile, "\\", "/"))
	if opt.SourceFile == "" {
		f.Metadata[weights.MetaSourceFile] = ""
	}
	f.Metadata[weights.MetaSourceKey] = ck.From
	f.Metadata[weights.MetaDataSHA256] = weights.DataSHA256(f)
	return f, nil
}

// LoadModelFile validates a slak-web model file completely and returns its
// variant and deploy state dict: float32, except that the GEMM weights of an
// F16 file (model.HalfKey: pointwise, stem/downsample/1×1 convs, the head)
// stay binary16 in Param.Half (Data nil; Param.Float32 or model.Widen widen
// them exactly), which model.Load uploads half on a backend with
// op.HalfUploader. Every other F16 tensor is widened exactly. Nothing is
// returned unless every check passes: format, known variant with matching
// family and kernels, data checksum, every deploy key with its shape and no
// extra tensors.
func LoadModelFile(f *weights.File) (model.Variant, model.StateDict, error) {
	return load(f, "", nil)
}

// LoadModelFileProgress is LoadModelFile (variant "") or LoadModelFileAs
// reporting progress(done, total): verifying the checksum is the first half,
// widening the tensors to float32 the second.
func LoadModelFileProgress(f *weights.File, variant string, progress func(done, total int64)) (model.Variant, model.StateDict, error) {
	want := ""
	if variant != "" {
		v, err := model.Lookup(variant)
		if err != nil {
			return model.Variant{}, nil, err
		}
		want = v.Name
	}
	return load(f, want, progress)
}

// LoadModelFileAs is LoadModelFile that also requires the file to hold the
// named variant ("this file is a ConvNeXt-T (7×7) conversion, not SLaK-T (51×51)").
func LoadModelFileAs(f *weights.File, variant string) (model.Variant, model.StateDict, error) {
	want, err := model.Lookup(variant)
	if err != nil {
		return model.Variant{}, nil, err
	}
	return load(f, want.Name, nil)
}

func load(f *weights.File, want string, progress func(done, total int64)) (model.Variant, model.StateDict, error) {
	var zero model.Variant
	if f == nil || f.Metadata == nil {
		return zero, nil, fmt.Errorf("not a slak-web model file: missing metadata %s", weights.MetaFormat)
	}
	var dataBytes int64
	for _, t := range f.Tensors {
		dataBytes += int64(len(t.Data))
	}
	var hashProgress func(done, total int64)
	if progress != nil {
		hashProgress = func(done, _ int64) { progress(done, 2*dataBytes) }
	}
	if err := weights.VerifyModelFileProgress(f, hashProgress); err != nil {
		return zero, nil, err
	}
	name := f.Metadata[weights.MetaVariant]
	v, err := model.Lookup(name)
	if err != nil {
		return zero, nil, fmt.Errorf("slak-web model file for variant %q, which this build does not know: %w", name, err)
	}
	if want != "" && v.Name != want {
		w, _ := model.Lookup(want)
		return zero, nil, fmt.Errorf("this file is a %s conversion, not %s", v.Label, w.Label)
	}
	if fam := f.Metadata[weights.MetaFamily]; fam != v.Family.String() {
		return zero, nil, fmt.Errorf("slak-web model file: family %q does not match variant %s (%s)", fam, v.Name, v.Family)
	}
	if k := f.Metadata[weights.MetaKernels]; k != kernelString(v) {
		return zero, nil, fmt.Errorf("slak-web model file: kernels %q, but variant %s has %s", k, v.Name, kernelString(v))
	}
	keys := model.DeployKeys(v)
	var widened int64
	seen := make(map[string]bool, len(keys))
	sd := make(model.StateDict, len(keys))
	for _, e := range keys {
		t, ok := f.Tensors[e.Key]
		if !ok {
			return zero, nil, fmt.Errorf("slak-web model file: tensor %s missing for %s", e.Key, v.Name)
		}
		if !equal(t.Shape, e.Shape) {
			return zero, nil, fmt.Errorf("tensor %s: shape %v does not match %s's %v", e.Key, t.Shape, v.Name, e.Shape)
		}
		seen[e.Key] = true
		if t.DType == weights.F16 && model.HalfKey(e) {
			// kept half (engine/model/half.go): 2 bytes a value in memory and, through
			// op.HalfUploader, on the device
			if err := t.Validate(); err != nil {
				return zero, nil, err
			}
			h := make([]uint16, t.NumElements())
			for i := range h {
				h[i] = binary.LittleEndian.Uint16(t.Data[2*i:])
			}
			sd[e.Key] = model.Param{Shape: append([]int(nil), t.Shape...), Half: h}
		} else {
			d, err := t.Float32()
			if err != nil {
				return zero, nil, err
			}
			sd[e.Key] = model.Param{Shape: append([]int(nil), t.Shape...), Data: d}
		}
		if progress != nil {
			widened += int64(len(t.Data))
			progress(dataBytes+widened, 2*dataBytes)
		}
	}
	for _, k := range f.Order {
		if !seen[k] {
			return zero, nil, fmt.Errorf("slak-web model file: unexpected tensor %s for %s", k, v.Name)
		}
	}
	if err := model.ValidateDeploy(v, sd); err != nil {
		return zero, nil, err
	}
	return v, sd, nil
}

func equal(a, b []int) bool {
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

// HalfWeights returns deploy with the entries that model.HalfKey accepts rounded
// to binary16 (weights.Float16Bits, nearest-even) and kept half (Param.Half), as
// LoadModelFile returns an F16 file's: for float32 deploy weights (random or
// converted in memory) that should take the half path. Other entries are
// shared with deploy. A value beyond binary16's range is an error.
func HalfWeights(v model.Variant, deploy model.StateDict) (model.StateDict, error) {
	out := make(model.StateDict, len(deploy))
	for k, p := range deploy {
		out[k] = p
	}
	for _, e := range model.DeployKeys(v) {
		p, ok := deploy[e.Key]
		if !ok {
			continue
		}
		h, err := HalfParam(e, p)
		if err != nil {
			return nil, err
		}
		out[e.Key] = h
	}
	return out, nil
}

// HalfParam is HalfWeights for one entry: p rounded to binary16 and kept half
// when model.HalfKey(e) and p is float32, else p itself (the keep function of
// model.RandomWeightsEach).
func HalfParam(e model.Entry, p model.Param) (model.Param, error) {
	if !model.HalfKey(e) || p.Data == nil {
		return p, nil
	}
	h := make([]uint16, len(p.Data))
	for i, x := range p.Data {
		h[i] = weights.Float16Bits(x)
		if h[i]&0x7c00 == 0x7c00 && !(x != x) && !math.IsInf(float64(x), 0) {
			return model.Param{}, fmt.Errorf("convert: HalfWeights: %s[%d] = %g is beyond binary16's range", e.Key, i, x)
		}
	}
	return model.Param{Shape: p.Shape, Half: h}, nil
}
