package optest

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/slak-web/slak/engine/op"
)

// Result is the outcome of one case in one direction.
type Result struct {
	Op, Case string
	Dir      Dir
	N        int     // elements compared
	MaxErr   float64 // max |got − want|
	MaxRatio float64 // max |got − want| / tol (≤ 1 passes; 0/0 counts as 0)
	Worst    string  // coordinate of MaxRatio
	Rule     string  // the tolerance and its reason
	// Failures names the first few elements out of tolerance: op, case, coordinate, got, want.
	Failures []string
	Bad      int   // elements out of tolerance
	Err      error // a backend or setup error
	RefTime  time.Duration
	GotTime  time.Duration
}

// OK reports a result without error or failing element.
func (r Result) OK() bool { return r.Err == nil && r.Bad == 0 }

func (r Result) String() string {
	head := fmt.Sprintf("%s/%s %s", r.Op, r.Case, r.Dir)
	if r.Err != nil {
		return head + ": error: " + r.Err.Error()
	}
	s := fmt.Sprintf("%s: n=%d max|Δ|=%.3g max|Δ|/tol=%.3g at %s (ref %v, got %v)", head, r.N, r.MaxErr, r.MaxRatio, r.Worst,
		r.RefTime.Round(time.Millisecond), r.GotTime.Round(time.Millisecond))
	if r.Bad > 0 {
		s += fmt.Sprintf("\n  FAIL: %d of %d elements out of tolerance [%s]\n  %s", r.Bad, r.N, r.Rule, strings.Join(r.Failures, "\n  "))
	}
	return s
}

// maxFailures is how many failing elements a Result lists.
const maxFailures = 5

// Run runs case c in direction dir on ref and got from the same inputs and compares got to ref.
func Run(ref, got op.Backend, c Case, dir Dir) Result {
	res := Result{Op: c.Op, Case: c.Name, Dir: dir}
	if dir == Grad {
		res.Op = c.Op + "_grad"
	}
	pr, err := prepare(c, dir)
	if err != nil {
		res.Err = err
		return res
	}
	res.Rule = pr.rule
	in := generate(pr.args, c.Seed*2+uint64(dir))
	if pr.fix != nil {
		pr.fix(in)
	}
	want, wshape, dt, err := exec(ref, pr, in)
	res.RefTime = dt
	if err != nil {
		res.Err = fmt.Errorf("reference %s: %w", ref.Name(), err)
		return res
	}
	have, hshape, dt, err := exec(got, pr, in)
	res.GotTime = dt
	if err != nil {
		res.Err = fmt.Errorf("%s: %w", got.Name(), err)
		return res
	}
	if len(have) != len(want) || fmt.Sprint(hshape) != fmt.Sprint(wshape) {
		res.Err = fmt.Errorf("%s: output shape %v (%d elements), reference %v (%d)", got.Name(), hshape, len(have), wshape, len(want))
		return res
	}
	var tol []float64
	if pr.sum {
		magIn := absAll
		if pr.magIn != nil {
			magIn = pr.magIn
		}
		mag, _, _, err := exec(ref, pr, magIn(in))
		if err != nil {
			res.Err = fmt.Errorf("reference %s on |inputs|: %w", ref.Name(), err)
			return res
		}
		tol = make([]float64, len(mag))
		for i, m := range mag {
			tol[i] = pr.factor * u * math.Abs(float64(m))
		}
	} else {
		tol = pr.tol(in, want)
	}
	compare(&res, wshape, have, want, tol)
	return res
}

// compare fills the error statistics and failures of res.
func compare(res *Result, shape []int, have, want []float32, tol []float64) {
	res.N = len(want)
	for i := range want {
		g, w := float64(have[i]), float64(want[i])
		d := math.Abs(g - w)
		bad := d > tol[i] || math.IsNaN(g) != math.IsNaN(w) || (math.IsInf(g, 0) && g != w)
		if math.IsNaN(d) {
			d = math.Inf(1)
		}
		ratio := 0.0
		if d > 0 {
			ratio = d / tol[i]
		}
		if d > res.MaxErr {
			res.MaxErr = d
		}
		if ratio > res.MaxRatio || (res.Worst == "" && i == 0) {
			res.MaxRatio = ratio
			res.Worst = coord(shape, i)
		}
		if bad {
			res.Bad++
			if len(res.Failures) < maxFailures {
				res.Failures = append(res.Failures, fmt.Sprintf("%s/%s %s at %s: got %.9g, want %.9g (|Δ| %.3g > tol %.3g)",
					res.Op, res.Case, res.Dir, coord(shape, i), g, w, d, tol[i]))
			}
		}
	}
}

// coord names element i of a CHW ([C,H,W]), [C,HW] or [N] tensor.
func coord(shape []int, i int) string {
	switch len(shape) {
	case 3:
		hw := shape[1] * shape[2]
		return fmt.Sprintf("[c=%d y=%d x=%d]", i/hw, i%hw/shape[2], i%shape[2])
	case 2:
		return fmt.Sprintf("[c=%d p=%d]", i/shape[1], i%shape[1])
	default:
		return fmt.Sprintf("[%d]", i)
	}
}

// exec uploads in to b, runs the op, downloads the output and frees every tensor.
func exec(b op.Backend, pr prepared, in [][]float32) ([]float32, []int, time.Duration, error) {
	start := time.Now()
	ts := make([]op.Tensor, len(in))
	defer func() {
		for _, t := range ts {
			if t != nil {
				b.Free(t)
			}
		}
	}()
	for i, a := range pr.args {
		if in[i] == nil {
			continue
		}
		t, err := b.Upload(in[i], a.shape...)
		if err != nil {
			return nil, nil, 0, fmt.Errorf("upload %s: %w", a.name, err)
		}
		ts[i] = t
	}
	out, err := pr.call(b, ts)
	if err != nil {
		return nil, nil, 0, err
	}
	defer b.Free(out)
	data, err := b.Download(out)
	if err != nil {
		return nil, nil, 0, err
	}
	return data, out.Shape(), time.Since(start), nil
}

// generate builds the inputs of args from seed (splitmix64), the same on every machine.
func generate(args []arg, seed uint64) [][]float32 {
	s := seed*0x9E3779B97F4A7C15 + 1
	next := func() float64 {
		s += 0x9E3779B97F4A7C15
		z := s
		z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
		z = (z ^ (z >> 27)) * 0x94D049BB133111EB
		z ^= z >> 31
		return float64(z>>11) / (1 << 53)
	}
	out := make([][]float32, len(args))
	for i, a := range args {
		if a.kind == absent {
			continue
		}
		n := 1
		for _, d := range a.shape {
			n *= d
		}
		v := make([]float32, n)
		for j := range v {
			r := next()
			switch a.kind {
			case wide:
				v[j] = float32(8*r - 4)
			case positive:
				v[j] = float32(0.1 + r)
			default:
				v[j] = float32(2*r - 1)
			}
		}
		out[i] = v
	}
	return out
}

// RunAll runs every case that keep accepts (all when keep is nil) in both directions.
func RunAll(ref, got op.Backend, keep func(Case) bool) []Result {
	var out []Result
	for _, c := range Cases() {
		if keep != nil && !keep(c) {
			continue
		}
		for _, d := range []Dir{Forward, Grad} {
			out = append(out, Run(ref, got, c, d))
		}
	}
	return out
}
