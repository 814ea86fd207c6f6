// Command erftable reproduces RepLKNet's ERF r-table (the high-contribution
// area ratio r at t = 20/30/50/99 %, SLAK.md §4.3) for the three untrained
// full-size models ConvNeXt-T (7×7), RepLKNet-31B (31×31) and SLaK-T (51×51),
// natively on the WebGPU backend (lavapipe on a CPU-only machine) or on the
// CPU reference:
//
//	go run ./tools/erftable [-size 224] [-seed 1] [-images 1] [-backend gpu|cpu] [-json out.json]
//
// Weights: model.RandomWeights(variant, seed, sparsity) with SLaK's 40 %
// unstructured sparsity for SLaK-T and dense weights for the others (as the
// released checkpoints are). Images: image 0 is testdata/golden/photo.png
// through engine/imgprep's warp transform (bicubic resize to size², no crop,
// ImageNet normalisation, as visualize_erf.py does at 1024²); images 1, 2, …
// are seeded uniform 8-bit noise through the same normalisation. The map is
// the mean of the per-image maps (engine/erf.Averaged), analysed with
// log10(A+1)/max and strict '>' thresholds (erf.AreaRatios). It also prints
// the theoretical receptive field and the kernel-only map's r (erf.KernelOnly).
//
// On lavapipe the full-size backward only runs because model.Load sets
// Net.FlushEvery = 1 (submit after every segment, so freed intermediates are
// released); without it engine/gpu crashed inside wgpu-native at ≥ 96².
//
// Untrained networks: these numbers describe the random initialisation, not
// the trained models of the papers (RepLKNet-pytorch#15 shows how different
// untrained ERFs look).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"image"
	"image/draw"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/slak-web/slak/engine/cpu"
	"github.com/slak-web/slak/engine/erf"
	"github.com/slak-web/slak/engine/gpu"
	"github.com/slak-web/slak/engine/imgprep"
	"github.com/slak-web/slak/engine/model"
	"github.com/slak-web/slak/engine/op"
)

// Row is one model's result.
type Row struct {
	Variant     string      `json:"variant"`
	Label       string      `json:"label"`
	Kernels     string      `json:"kernels"`
	Sparsity    float64     `json:"weight_sparsity"`
	Ratios      []erf.Ratio `json:"ratios"`
	KernelOnly  []erf.Ratio `json:"kernel_only_ratios"`
	TheoRF      int         `json:"theoretical_rf"`
	Images      int         `json:"images"`
	Skipped     int         `json:"skipped"`
	Seconds     float64     `json:"seconds"`
	PeakMiB     float64     `json:"estimated_peak_mib"`
	LargestMiB  float64     `json:"largest_buffer_mib"`
	LargestWhat string      `json:"largest_buffer"`
}

// Report is the JSON output.
type Report struct {
	Size    int     `json:"size"`
	Seed    uint64  `json:"seed"`
	Images  int     `json:"images"`
	Backend string  `json:"backend"`
	Device  string  `json:"device"`
	Source  string  `json:"image_source"`
	Rows    []Row   `json:"rows"`
	Seconds float64 `json:"total_seconds"`
}

func main() {
	size := flag.Int("size", 224, "input side S (the image is warped to S×S)")
	seed := flag.Uint64("seed", 1, "seed of model.RandomWeights and of the noise images")
	images := flag.Int("images", 1, "images averaged: the golden photo, then seeded noise")
	backend := flag.String("backend", "gpu", "gpu (native WebGPU: lavapipe here) or cpu (the plain-Go reference)")
	photo := flag.String("photo", "", "photo path (default: testdata/golden/photo.png of the module)")
	jsonOut := flag.String("json", "", "also write the JSON report to this file")
	models := flag.String("models", "convnext_t,replknet_31b,slak_t", "comma-separated variants")
	direct := flag.Bool("direct", false, "gpu: force the direct kernels (gpu.Backend.Direct)")
	flag.Parse()
	if err := run(*size, *seed, *images, *backend, *photo, *jsonOut, strings.Split(*models, ","), *direct); err != nil {
		fmt.Fprintln(os.Stderr, "erftable:", err)
		os.Exit(1)
	}
}

// findPhoto looks for testdata/golden/photo.png upwards from the working directory.
func findPhoto() (string, error) {
	dir, _ := os.Getwd()
	for {
		p := filepath.Join(dir, "testdata", "golden", "photo.png")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		up := filepath.Dir(dir)
		if up == dir {
			return "", fmt.Errorf("testdata/golden/photo.png not found above the working directory (use -photo)")
		}
		dir = up
	}
}

// loadPhoto decodes a PNG into 8-bit RGBA pixels.
func loadPhoto(path string) ([]uint8, int, int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, 0, err
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("%s: %w", path, err)
	}
	b := img.Bounds()
	rgba := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(rgba, rgba.Bounds(), img, b.Min, draw.Src)
	return rgba.Pix, b.Dx(), b.Dy(), nil
}

// imageSource returns image i as [3, s, s]: the photo, then seeded noise.
func imageSource(photo []uint8, pw, ph, s int, seed uint64) func(i int) ([]float32, error) {
	return func(i int) ([]float32, error) {
		if i == 0 {
			x, _, err := imgprep.Preprocess(photo, pw, ph, imgprep.WarpTo(s))
			return x, err
		}
		rng := rand.New(rand.NewPCG(seed, uint64(i)))
		pix := make([]uint8, 3*s*s) // RGB, row-major
		for j := range pix {
			pix[j] = uint8(rng.IntN(256))
		}
		x, _, err := imgprep.Preprocess(pix, s, s, imgprep.WarpTo(s))
		return x, err
	}
}

func openBackend(kind string, direct bool) (op.Backend, string, func(), error) {
	switch kind {
	case "cpu":
		return cpu.NewBackend(), fmt.Sprintf("engine/cpu reference (GOMAXPROCS %d)", runtime.GOMAXPROCS(0)), func() {}, nil
	case "gpu":
		b, err := gpu.New()
		if err != nil {
			return nil, "", nil, err
		}
		b.Direct = direct
		return b, b.Info().String(), b.Close, nil
	}
	return nil, "", nil, fmt.Errorf("unknown backend %q (gpu or cpu)", kind)
}

func run(s int, seed uint64, n int, backend, photoPath, jsonOut string, names []string, direct bool) error {
	if photoPath == "" {
		p, err := findPhoto()
		if err != nil {
			return err
		}
		photoPath = p
	}
	pix, pw, ph, err := loadPhoto(photoPath)
	if err != nil {
		return err
	}
	rep := Report{Size: s, Seed: seed, Images: n, Backend: backend,
		Source: fmt.Sprintf("image 0: %s (%d×%d) via imgprep.WarpTo(%d); images 1..: seeded uniform 8-bit noise, same normalisation", filepath.Base(photoPath), pw, ph, s)}
	start := time.Now()
	for _, name := range names {
		v, err := model.Lookup(name)
		if err != nil {
			return err
		}
		sparsity := 0.0
		if v.Family == model.SLaK {
			sparsity = 0.4
		}
		deploy, err := model.RandomWeights(v, seed, sparsity)
		if err != nil {
			return err
		}
		mem, err := erf.Estimate(v, s)
		if err != nil {
			return err
		}
		// A fresh device per model keeps one model's buffers from outliving it.
		b, dev, closeB, err := openBackend(backend, direct)
		if err != nil {
			return err
		}
		rep.Device = dev
		net, err := model.Load(b, v, deploy)
		if err != nil {
			closeB()
			return err
		}
		t0 := time.Now()
		m, err := erf.Averaged(context.Background(), net, s, n, imageSource(pix, pw, ph, s, seed), func(done, total int) {
			fmt.Fprintf(os.Stderr, "%s: image %d/%d (%.1f s)\n", v.Label, done, total, time.Since(t0).Seconds())
		})
		secs := time.Since(t0).Seconds()
		net.Free()
		closeB()
		if err != nil {
			return fmt.Errorf("%s: %w", v.Label, err)
		}
		rs, err := m.Ratios()
		if err != nil {
			return fmt.Errorf("%s: %w", v.Label, err)
		}
		ko, err := erf.KernelOnly(v, deploy, s)
		if err != nil {
			return err
		}
		kr, err := ko.Ratios()
		if err != nil {
			return err
		}
		rf, _ := erf.VariantRF(v)
		rep.Rows = append(rep.Rows, Row{Variant: v.Name, Label: v.Label, Kernels: v.KernelList(), Sparsity: sparsity,
			Ratios: rs, KernelOnly: kr, TheoRF: rf, Images: m.Images, Skipped: m.Skipped, Seconds: secs,
			PeakMiB: float64(mem.Peak) / (1 << 20), LargestMiB: float64(mem.Largest) / (1 << 20), LargestWhat: mem.LargestWhat})
	}
	rep.Seconds = time.Since(start).Seconds()
	printTable(os.Stdout, rep)
	js, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	fmt.Println(string(js))
	if jsonOut != "" {
		return os.WriteFile(jsonOut, append(js, '\n'), 0o644)
	}
	return nil
}

func cell(r erf.Ratio) string {
	if !r.Found {
		return "none"
	}
	return fmt.Sprintf("%.1f%% (%d)", r.R*100, r.Side)
}

func printTable(w *os.File, rep Report) {
	fmt.Fprintf(w, "ERF high-contribution area ratio r (side of the square window), untrained, %d², %d image(s), seed %d, backend %s\n",
		rep.Size, rep.Images, rep.Seed, rep.Backend)
	fmt.Fprintf(w, "device: %s\nimages: %s\n\n", rep.Device, rep.Source)
	fmt.Fprintf(w, "| %-22s | %-14s | %-14s | %-14s | %-14s | %-8s | %-19s | %-6s |\n", "model", "t = 20%", "t = 30%", "t = 50%", "t = 99%", "theo. RF", "kernel-only r(50%)", "time")
	fmt.Fprintf(w, "|%s|%s|%s|%s|%s|%s|%s|%s|\n", strings.Repeat("-", 24), strings.Repeat("-", 16), strings.Repeat("-", 16), strings.Repeat("-", 16), strings.Repeat("-", 16), strings.Repeat("-", 10), strings.Repeat("-", 21), strings.Repeat("-", 8))
	for _, r := range rep.Rows {
		fmt.Fprintf(w, "| %-22s | %-14s | %-14s | %-14s | %-14s | %-8d | %-19s | %5.1fs |\n", r.Label,
			cell(r.Ratios[0]), cell(r.Ratios[1]), cell(r.Ratios[2]), cell(r.Ratios[3]), r.TheoRF, cell(r.KernelOnly[2]), r.Seconds)
	}
	fmt.Fprintf(w, "\ntotal %.1f s\n\n", rep.Seconds)
}
