// Command slakweights converts official PyTorch checkpoints into slak-web
// model files, inspects checkpoints and converted files, and downloads the
// checkpoints that have a direct link.
//
//	slakweights convert -in checkpoint.pth -variant slak_t [-dtype f16|f32] -out slak_t.safetensors
//	slakweights inspect file.pth|file.safetensors
//	slakweights download -variant convnext_t -out convnext_tiny_1k_224_ema.pth [-url URL]
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/slak-web/slak/weights"
	"github.com/slak-web/slak/weights/convert"
)

const usage = `usage:
  slakweights convert -in checkpoint.pth -variant slak_t [-dtype f16|f32] -out slak_t.safetensors
  slakweights inspect file.pth|file.safetensors
  slakweights download -variant slak_t -out file.pth [-url URL]
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "slakweights:", err)
		if errors.Is(err, errUsage) {
			fmt.Fprint(os.Stderr, usage)
			os.Exit(2)
		}
		os.Exit(1)
	}
}

var errUsage = errors.New("bad usage")

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: no command", errUsage)
	}
	switch args[0] {
	case "convert":
		return cmdConvert(args[1:], stdout, stderr)
	case "inspect":
		return cmdInspect(args[1:], stdout)
	case "download":
		return cmdDownload(ctx, args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	return fmt.Errorf("%w: unknown command %q", errUsage, args[0])
}

// progressPrinter prints "label: 42% (x of y MB)" lines to w at most every
// 500 ms, and only for inputs of 16 MiB or more.
func progressPrinter(w io.Writer, label string, size int64) func(done, total int64) {
	if size < 16<<20 {
		return nil
	}
	var last time.Time
	return func(done, total int64) {
		if total <= 0 || (time.Since(last) < 500*time.Millisecond && done < total) {
			return
		}
		last = time.Now()
		fmt.Fprintf(w, "%s: %3.0f%%\n", label, 100*float64(done)/float64(total))
	}
}

func cmdConvert(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("convert", flag.ContinueOnError)
	fs.SetOutput(stderr)
	in := fs.String("in", "", "official checkpoint (.pth, torch.save zip format)")
	variant := fs.String("variant", "", "model variant (slak_t, slak_s, slak_b, slak_t31, convnext_t, replknet_31b, or a *_tiny test config)")
	dtype := fs.String("dtype", "f16", "tensor type of the output: f16 or f32")
	out := fs.String("out", "", "output model file (.safetensors)")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if *in == "" || *variant == "" || *out == "" || fs.NArg() != 0 {
		return fmt.Errorf("%w: convert needs -in, -variant and -out", errUsage)
	}
	fin, err := os.Open(*in)
	if err != nil {
		return err
	}
	defer fin.Close()
	st, err := fin.Stat()
	if err != nil {
		return err
	}
	f, err := convert.Convert(fin, st.Size(), convert.Options{
		Variant: *variant, DType: *dtype, SourceFile: filepath.Base(*in),
		Progress: progressPrinter(stderr, "converting "+filepath.Base(*in), st.Size()),
	})
	if err != nil {
		return err
	}
	// Write to a temporary name and rename: a failed run leaves no partial output.
	tmp := *out + ".part"
	fo, err := os.Create(tmp)
	if err != nil {
		return err
	}
	h := sha256.New()
	cw := &countWriter{w: io.MultiWriter(fo, h)}
	if err := weights.WriteSafetensors(cw, f); err != nil {
		fo.Close()
		os.Remove(tmp)
		return err
	}
	if err := fo.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, *out); err != nil {
		return err
	}
	var params, zeros, sparseN int64
	for _, name := range f.Order {
		t := f.Tensors[name]
		n := int64(t.NumElements())
		params += n
		if len(t.Shape) == 2 || len(t.Shape) == 4 {
			v, _ := t.Float32()
			for _, x := range v {
				if x == 0 {
					zeros++
				}
			}
			sparseN += n
		}
	}
	m := f.Metadata
	fmt.Fprintf(stdout, "variant:   %s (%s, kernels %s)\n", m[weights.MetaVariant], m[weights.MetaLabel], m[weights.MetaKernels])
	fmt.Fprintf(stdout, "source:    %s [%s] sha256 %s\n", m[weights.MetaSourceFile], sourceKey(m[weights.MetaSourceKey]), m[weights.MetaSourceSHA256])
	fmt.Fprintf(stdout, "tensors:   %d (%s), %d parameters\n", len(f.Order), m[weights.MetaDType], params)
	if sparseN > 0 {
		fmt.Fprintf(stdout, "sparsity:  %.2f%% zeros in the 2-D/4-D weights (%d of %d)\n", 100*float64(zeros)/float64(sparseN), zeros, sparseN)
	}
	fmt.Fprintf(stdout, "output:    %s, %d bytes, sha256 %s\n", *out, cw.n, hex.EncodeToString(h.Sum(nil)))
	return nil
}

func sourceKey(k string) string {
	if k == "" {
		return "bare state_dict"
	}
	return "checkpoint['" + k + "']"
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func cmdInspect(args []string, stdout io.Writer) error {
	if len(args) != 1 {
		return fmt.Errorf("%w: inspect takes one file", errUsage)
	}
	fin, err := os.Open(args[0])
	if err != nil {
		return err
	}
	defer fin.Close()
	st, err := fin.Stat()
	if err != nil {
		return err
	}
	var magic [4]byte
	fin.ReadAt(magic[:], 0)
	if string(magic[:]) == "PK\x03\x04" || magic[0] == 0x80 {
		ck, err := weights.ReadPTH(fin, st.Size())
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: torch.save checkpoint, %d bytes\n", args[0], st.Size())
		fmt.Fprintf(stdout, "top-level keys: %v; state dict from %s, %d tensors\n", ck.TopKeys, sourceKey(ck.From), len(ck.Order))
		printMap(stdout, "extra", ck.Extra)
		printMap(stdout, "args", ck.Args)
		for _, k := range ck.Order {
			t := ck.StateDict[k]
			fmt.Fprintf(stdout, "  %-60s %-5s %v\n", k, t.DType, t.Shape)
		}
		return nil
	}
	f, err := weights.ReadSafetensors(fin, st.Size())
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: safetensors, %d bytes, %d tensors\n", args[0], st.Size(), len(f.Order))
	keys := make([]string, 0, len(f.Metadata))
	for k := range f.Metadata {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(stdout, "  meta %s = %s\n", k, f.Metadata[k])
	}
	if _, ok := f.Metadata[weights.MetaFormat]; ok {
		if err := weights.VerifyModelFile(f); err != nil {
			fmt.Fprintf(stdout, "  CHECK FAILED: %v\n", err)
		} else if _, _, err := convert.LoadModelFile(f); err != nil {
			fmt.Fprintf(stdout, "  CHECK FAILED: %v\n", err)
		} else {
			fmt.Fprintf(stdout, "  check: ok (format, variant, keys, shapes, data_sha256)\n")
		}
	}
	for _, k := range f.Order {
		t := f.Tensors[k]
		fmt.Fprintf(stdout, "  %-60s %-5s %v\n", k, t.DType, t.Shape)
	}
	return nil
}

func printMap(w io.Writer, label string, m map[string]any) {
	if len(m) == 0 {
		return
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%v", k, m[k])
	}
	fmt.Fprintf(w, "%s: %s\n", label, strings.Join(parts, " "))
}
