package model

import (
	"fmt"
	"sort"
	"strings"
)

// Family is the network family; it fixes the module structure and key names.
type Family int

const (
	// SLaK is ConvNeXt's macro design with the 7×7 depthwise conv replaced by
	// three BN'd depthwise branches K×N + N×K + N×N (Decom=True), §1.
	SLaK Family = iota + 1
	// ConvNeXt is the official ConvNeXt: a 7×7 depthwise conv with bias, §5.1.
	ConvNeXt
	// RepLKNet is RepLKNet-31B's structure: RepLKBlock + ConvFFN pairs, §5.2.
	RepLKNet
)

func (f Family) String() string {
	switch f {
	case SLaK:
		return "SLaK"
	case ConvNeXt:
		return "ConvNeXt"
	case RepLKNet:
		return "RepLKNet"
	}
	return fmt.Sprintf("Family(%d)", int(f))
}

// Preprocess is the eval transform of §1.6: resize the shorter side to
// int(Size/CropPct) with Interp, centre-crop Size×Size (offsets rounded half
// to even, §8), scale to [0, 1], normalise per channel by Mean and Std.
type Preprocess struct {
	Size    int
	CropPct float64
	Interp  string
	Mean    [3]float32
	Std     [3]float32
}

// imagenet is the transform shared by every released model we show (§1.6:
// timm IMAGENET_DEFAULT_MEAN/STD, 224, crop 0.875, bicubic).
var imagenet = Preprocess{
	Size:    224,
	CropPct: 0.875,
	Interp:  "bicubic",
	Mean:    [3]float32{0.485, 0.456, 0.406},
	Std:     [3]float32{0.229, 0.224, 0.225},
}

// Variant is one row of the model table.
type Variant struct {
	Name   string // the id used by Lookup, e.g. "slak_t"
	Label  string // for people, e.g. "SLaK-T (51×51)"
	Family Family

	Depths [4]int // blocks per stage (RepLKNet: RepLKBlock+ConvFFN pairs)
	// BaseDims are the widths before the width factor; Dims = int(BaseDims·WidthFactor)
	// (Python's int() truncation, §1.1). For ConvNeXt and RepLKNet they are equal.
	BaseDims    [4]int
	WidthFactor float64
	Dims        [4]int
	// Kernels is the large kernel per stage: SLaK's K (branches K×N, N×K),
	// RepLKNet's K×K, ConvNeXt's 7.
	Kernels [4]int
	// N is SLaK's short kernel edge and small square kernel; RepLKNet's
	// small_kernel; 0 for ConvNeXt.
	N int
	// FFNRatio is the hidden expansion of the MLP (pwconv1 / ConvFFN): 4.
	FFNRatio int
	Classes  int
	LNEps    float32 // LayerNorm eps (SLaK, ConvNeXt): 1e-6
	BNEps    float32 // BatchNorm eps (SLaK, RepLKNet): 1e-5 (PyTorch default)

	Preprocess Preprocess
	// Source says where the row's numbers come from.
	Source string
	// Test marks the tiny configurations shared with the golden generator.
	Test bool
}

// KernelList is the official --kernel_size form for SLaK ("51,49,47,13,5"),
// the per-stage kernels otherwise.
func (v Variant) KernelList() string {
	parts := make([]string, 0, 5)
	for _, k := range v.Kernels {
		parts = append(parts, fmt.Sprint(k))
	}
	if v.Family == SLaK {
		parts = append(parts, fmt.Sprint(v.N))
	}
	return strings.Join(parts, ",")
}

func scaled(base [4]int, f float64) [4]int {
	var d [4]int
	for i, b := range base {
		d[i] = int(float64(b) * f) // Python int(): truncation toward zero
	}
	return d
}

func slakRow(name, label string, depths, base, kernels [4]int, classes int, src string, test bool) Variant {
	return Variant{
		Name: name, Label: label, Family: SLaK,
		Depths: depths, BaseDims: base, WidthFactor: 1.3, Dims: scaled(base, 1.3),
		Kernels: kernels, N: 5, FFNRatio: 4, Classes: classes,
		LNEps: 1e-6, BNEps: 1e-5, Preprocess: imagenet, Source: src, Test: test,
	}
}

// variants is the table, one row per variant, in display order.
var variants = []Variant{
	slakRow("slak_t", "SLaK-T (51×51)", [4]int{3, 3, 9, 3}, [4]int{96, 192, 384, 768}, [4]int{51, 49, 47, 13}, 1000,
		"SLAK.md §1.1, VITA-Group/SLaK README: --Decom True --width_factor 1.3 --kernel_size 51 49 47 13 5", false),
	slakRow("slak_s", "SLaK-S (51×51)", [4]int{3, 3, 27, 3}, [4]int{96, 192, 384, 768}, [4]int{51, 49, 47, 13}, 1000,
		"SLAK.md §1.1, VITA-Group/SLaK README", false),
	slakRow("slak_b", "SLaK-B (51×51)", [4]int{3, 3, 27, 3}, [4]int{128, 256, 512, 1024}, [4]int{51, 49, 47, 13}, 1000,
		"SLAK.md §1.1, VITA-Group/SLaK README", false),
	slakRow("slak_t31", "SLaK-T (31×31)", [4]int{3, 3, 9, 3}, [4]int{96, 192, 384, 768}, [4]int{31, 29, 27, 13}, 1000,
		"SLAK.md §1.1, SLaK#16: --kernel_size 31 29 27 13 5 (120-epoch checkpoint)", false),
	{
		Name: "convnext_t", Label: "ConvNeXt-T (7×7)", Family: ConvNeXt,
		Depths: [4]int{3, 3, 9, 3}, BaseDims: [4]int{96, 192, 384, 768}, WidthFactor: 1, Dims: [4]int{96, 192, 384, 768},
		Kernels: [4]int{7, 7, 7, 7}, FFNRatio: 4, Classes: 1000, LNEps: 1e-6,
		Preprocess: imagenet, Source: "SLAK.md §5.1, facebookresearch/ConvNeXt models/convnext.py",
	},
	{
		Name: "replknet_31b", Label: "RepLKNet-31B (31×31)", Family: RepLKNet,
		Depths: [4]int{2, 2, 18, 2}, BaseDims: [4]int{128, 256, 512, 1024}, WidthFactor: 1, Dims: [4]int{128, 256, 512, 1024},
		Kernels: [4]int{31, 29, 27, 13}, N: 5, FFNRatio: 4, Classes: 1000, BNEps: 1e-5,
		Preprocess: imagenet, Source: "SLAK.md §5.2, DingXiaoH/RepLKNet-pytorch replknet.py create_RepLKNet31B",
	},
	// The tiny configurations are shared with the PyTorch golden generator
	// (tools/golden/gen.py); keep them exactly so.
	slakRow("slak_tiny", "SLaK tiny test config", [4]int{1, 1, 2, 1}, [4]int{6, 10, 14, 20}, [4]int{13, 11, 9, 7}, 10,
		"test configuration shared with tools/golden/gen.py", true),
	{
		Name: "convnext_tiny", Label: "ConvNeXt tiny test config", Family: ConvNeXt,
		Depths: [4]int{1, 1, 2, 1}, BaseDims: [4]int{8, 12, 16, 24}, WidthFactor: 1, Dims: [4]int{8, 12, 16, 24},
		Kernels: [4]int{7, 7, 7, 7}, FFNRatio: 4, Classes: 10, LNEps: 1e-6,
		Preprocess: imagenet, Source: "test configuration shared with tools/golden/gen.py", Test: true,
	},
	{
		Name: "replknet_tiny", Label: "RepLKNet tiny test config", Family: RepLKNet,
		Depths: [4]int{1, 1, 2, 1}, BaseDims: [4]int{8, 12, 16, 24}, WidthFactor: 1, Dims: [4]int{8, 12, 16, 24},
		Kernels: [4]int{13, 11, 9, 7}, N: 5, FFNRatio: 4, Classes: 10, BNEps: 1e-5,
		Preprocess: imagenet, Source: "test configuration shared with tools/golden/gen.py", Test: true,
	},
}

// Variants returns a copy of the table in display order.
func Variants() []Variant {
	return append([]Variant(nil), variants...)
}

// Lookup returns the variant named name (case-insensitive; '-' and '_' are
// interchangeable).
func Lookup(name string) (Variant, error) {
	key := strings.ReplaceAll(strings.ToLower(strings.TrimSpace(name)), "-", "_")
	for _, v := range variants {
		if v.Name == key {
			return v, nil
		}
	}
	names := make([]string, len(variants))
	for i, v := range variants {
		names[i] = v.Name
	}
	sort.Strings(names)
	return Variant{}, fmt.Errorf("model: unknown variant %q (known: %s)", name, strings.Join(names, ", "))
}
