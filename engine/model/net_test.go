package model

import (
	"errors"
	"hash/fnv"
	"math"
	"strings"
	"testing"

	"github.com/slak-web/slak/engine/op"
)

// randomChecksum is FNV-1a over the bits of RandomWeights(slak_tiny, 1, 0.4)
// in DeployKeys order, recorded on linux/amd64. The generator uses integer
// arithmetic and one float32 multiply per value, so every GOOS/GOARCH must
// reproduce it (the browser and native must show the same untrained net).
const randomChecksum = 0x3b9d78ccf3845df3

func TestRandomWeights(t *testing.T) {
	v := mustLookup(t, "slak_tiny")
	a, err := RandomWeights(v, 1, 0.4)
	if err != nil {
		t.Fatal(err)
	}
	if err := ValidateDeploy(v, a); err != nil {
		t.Fatal(err)
	}
	h := fnv.New64a()
	var buf [4]byte
	for _, e := range DeployKeys(v) {
		for _, x := range a[e.Key].Data {
			u := math.Float32bits(x)
			buf[0], buf[1], buf[2], buf[3] = byte(u), byte(u>>8), byte(u>>16), byte(u>>24)
			h.Write(buf[:])
		}
	}
	if got := h.Sum64(); got != randomChecksum {
		t.Errorf("RandomWeights(slak_tiny, 1, 0.4) checksum %#x, want %#x (generator changed or not portable)", got, uint64(randomChecksum))
	}
	b, _ := RandomWeights(v, 2, 0.4)
	if a["head.weight"].Data[0] == b["head.weight"].Data[0] && a["head.weight"].Data[1] == b["head.weight"].Data[1] {
		t.Error("seeds 1 and 2 give the same head weights")
	}
	calls, last := 0, 0
	if _, err := RandomWeightsProgress(v, 1, 0.4, func(done, total int) {
		calls++
		if done < last || done > total {
			t.Errorf("progress %d of %d after %d", done, total, last)
		}
		last = done
	}); err != nil || calls != len(DeployKeys(v)) || last != ParamCount(v)-folded(v) {
		t.Errorf("progress: %d calls, last %d, err %v", calls, last, err)
	}
	if _, err := RandomWeights(v, 1, 1); err == nil {
		t.Error("sparsity 1 accepted")
	}
}

// TestRandomWeightsStatistics checks on SLaK-T's largest tensors that the
// zero fraction is the sparsity and the non-zero values have std
// 1/sqrt(fan_in) and mean 0. Bounds: with n ≥ 10⁶ samples the standard
// errors are ~5e-4 (fraction) and ~1e-3 relative (std), so 1e-2 is ≥ 10σ.
func TestRandomWeightsStatistics(t *testing.T) {
	if testing.Short() {
		t.Skip("generates SLaK-T's 50.7M weights")
	}
	v := mustLookup(t, "slak_t")
	sd, err := RandomWeights(v, 1, 0.4)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"stages.2.4.pwconv1.weight", "stages.3.2.pwconv2.weight", "head.weight"} {
		p := sd[key]
		fanIn := numel(p.Shape[1:])
		var zeros, n int
		var sum, sq float64
		for _, x := range p.Data {
			if x == 0 {
				zeros++
				continue
			}
			n++
			sum += float64(x)
			sq += float64(x) * float64(x)
		}
		frac := float64(zeros) / float64(len(p.Data))
		std := math.Sqrt(sq / float64(n))
		want := 1 / math.Sqrt(float64(fanIn))
		if math.Abs(frac-0.4) > 1e-2 {
			t.Errorf("%s: zero fraction %.4f, want 0.4", key, frac)
		}
		if math.Abs(std/want-1) > 1e-2 {
			t.Errorf("%s: std %.5g, want 1/sqrt(%d) = %.5g", key, std, fanIn, want)
		}
		if mean := sum / float64(n); math.Abs(mean) > 1e-2*want {
			t.Errorf("%s: mean %.3g, want 0", key, mean)
		}
	}
	for _, key := range []string{"stages.0.0.gamma", "norm.weight", "stages.1.1.norm.weight"} {
		for _, x := range sd[key].Data {
			if x != 1 {
				t.Fatalf("%s holds %g, want 1", key, x)
			}
		}
	}
	for _, key := range []string{"head.bias", "stages.0.0.large_kernel.LoRA1.bias", "norm.bias"} {
		for _, x := range sd[key].Data {
			if x != 0 {
				t.Fatalf("%s holds %g, want 0", key, x)
			}
		}
	}
}

func BenchmarkRandomWeightsSLaKT(b *testing.B) {
	v, _ := Lookup("slak_t")
	for i := 0; i < b.N; i++ {
		if _, err := RandomWeights(v, uint64(i), 0.4); err != nil {
			b.Fatal(err)
		}
	}
}

// countingBackend counts live tensors and can fail the n-th upload.
type countingBackend struct {
	op.Backend
	live     map[op.Tensor]bool
	uploads  int
	failAt   int // 0: never
	failures int
}

func (c *countingBackend) Upload(data []float32, shape ...int) (op.Tensor, error) {
	c.uploads++
	if c.failAt > 0 && c.uploads == c.failAt {
		c.failures++
		return nil, errors.New("simulated out of memory")
	}
	t, err := c.Backend.Upload(data, shape...)
	if err == nil {
		c.live[t] = true
	}
	return t, err
}

func (c *countingBackend) Free(t op.Tensor) {
	delete(c.live, t)
	c.Backend.Free(t)
}

func TestLoadErrorsLeaveNothing(t *testing.T) {
	v := mustLookup(t, "replknet_tiny")
	sd, err := RandomWeights(v, 3, 0.4)
	if err != nil {
		t.Fatal(err)
	}
	// A missing key and a wrong shape are reported before any upload.
	cb := &countingBackend{Backend: newCPU(), live: map[op.Tensor]bool{}}
	bad := StateDict{}
	for k, p := range sd {
		bad[k] = p
	}
	delete(bad, "stages.1.blocks.1.pw2.bias")
	bad["stem.0.weight"] = Param{Shape: []int{8, 3, 5, 5}, Data: make([]float32, 8*3*5*5)}
	_, err = Load(cb, v, bad)
	wantErr(t, "Load with bad keys", err, "deploy weights do not fit replknet_tiny", "stages.1.blocks.1.pw2.bias", "stem.0.weight has shape [8 3 5 5], want [8 3 3 3]")
	if cb.uploads != 0 {
		t.Errorf("Load uploaded %d tensors before rejecting the weights", cb.uploads)
	}
	// An upload failure half way frees everything uploaded so far.
	cb = &countingBackend{Backend: newCPU(), live: map[op.Tensor]bool{}, failAt: 40}
	if _, err := Load(cb, v, sd); err == nil || !strings.Contains(err.Error(), "simulated") {
		t.Errorf("Load with a failing upload: %v", err)
	}
	if len(cb.live) != 0 {
		t.Errorf("%d tensors left allocated after a failed Load", len(cb.live))
	}
	// A good load, forward and ERF leave only the weights; Free leaves nothing.
	cb = &countingBackend{Backend: newCPU(), live: map[op.Tensor]bool{}}
	net, err := Load(cb, v, sd)
	if err != nil {
		t.Fatal(err)
	}
	weights := len(cb.live)
	x := make([]float32, 3*37*45)
	for i := range x {
		x[i] = float32(i%23)/11 - 1
	}
	if _, err := net.Forward(x, 37, 45); err != nil {
		t.Fatal(err)
	}
	if _, _, err := net.InputGradient(x, 37, 45); err != nil {
		t.Fatal(err)
	}
	if len(cb.live) != weights {
		t.Errorf("forward + ERF leaked %d tensors", len(cb.live)-weights)
	}
	net.Free()
	if len(cb.live) != 0 {
		t.Errorf("Free left %d tensors", len(cb.live))
	}
	if _, err := net.Forward(x, 37, 45); err == nil {
		t.Error("Forward after Free succeeded")
	}
}

func TestInputSizeErrors(t *testing.T) {
	v := mustLookup(t, "slak_tiny")
	sd, _ := RandomWeights(v, 1, 0.4)
	cb := &countingBackend{Backend: newCPU(), live: map[op.Tensor]bool{}}
	net, err := Load(cb, v, sd)
	if err != nil {
		t.Fatal(err)
	}
	defer net.Free()
	weights := len(cb.live)
	_, err = net.Forward(make([]float32, 3*31*64), 31, 64)
	wantErr(t, "31×64 input", err, "too small", "32×32")
	_, err = net.Forward(make([]float32, 10), 31, 64)
	wantErr(t, "short input", err, "10 values")
	_, _, err = net.InputGradient(make([]float32, 3*16*16), 16, 16)
	wantErr(t, "16×16 ERF", err, "too small")
	// The smallest size works: every stage 1×1.
	out, err := net.Forward(make([]float32, 3*32*35), 32, 35)
	if err != nil {
		t.Fatal(err)
	}
	if s := out.Stages[3]; s.H != 1 || s.W != 1 || s.C != 26 {
		t.Errorf("32×35 input: stage 3 is %d×%d×%d, want 26×1×1", s.C, s.H, s.W)
	}
	if len(cb.live) != weights {
		t.Errorf("failed forwards leaked %d tensors", len(cb.live)-weights)
	}
}

// folded is the number of bias values that BN folding adds minus the BN
// vectors it removes (one per folded conv), i.e. ParamCount − deploy floats
// for SLaK (no standalone BNs).
func folded(v Variant) int {
	n := 0
	for _, e := range Schema(v) {
		if _, ok := convOf(e.Key); ok && v.Family != ConvNeXt {
			n += e.Shape[0]
		}
	}
	return n
}

// flushBackend counts Flush calls (engine/gpu's lazy submission).
type flushBackend struct {
	op.Backend
	flushes int
}

func (f *flushBackend) Flush() error { f.flushes++; return nil }

func TestFlushEvery(t *testing.T) {
	v := mustLookup(t, "convnext_tiny")
	sd, _ := RandomWeights(v, 5, 0)
	fb := &flushBackend{Backend: newCPU()}
	net, err := Load(fb, v, sd)
	if err != nil {
		t.Fatal(err)
	}
	defer net.Free()
	segs, _ := net.plan(64, 64)
	x := fullSizeInputCPU(64, 64)
	ref, err := net.Forward(x, 64, 64)
	if err != nil {
		t.Fatal(err)
	}
	if fb.flushes != len(segs) {
		t.Errorf("FlushEvery 1: %d flushes for %d segments", fb.flushes, len(segs))
	}
	fb.flushes, net.FlushEvery = 0, 3
	out, _ := net.Forward(x, 64, 64)
	if fb.flushes != len(segs)/3 {
		t.Errorf("FlushEvery 3: %d flushes for %d segments", fb.flushes, len(segs))
	}
	for i := range out.Logits {
		if out.Logits[i] != ref.Logits[i] {
			t.Fatalf("FlushEvery changed logit %d: %g vs %g", i, out.Logits[i], ref.Logits[i])
		}
	}
	fb.flushes, net.FlushEvery = 0, 1
	if _, _, err := net.InputGradient(x, 64, 64); err != nil {
		t.Fatal(err)
	}
	if fb.flushes != 2*len(segs) {
		t.Errorf("InputGradient: %d flushes, want %d (forward and backward)", fb.flushes, 2*len(segs))
	}
}

// fullSizeInputCPU is a deterministic input in [-1, 1).
func fullSizeInputCPU(h, w int) []float32 {
	x := make([]float32, 3*h*w)
	s := xorshift64star(splitmix64(7) | 1)
	for i := range x {
		x[i] = float32(int64(s.next()>>48)-32768) / 32768
	}
	return x
}
