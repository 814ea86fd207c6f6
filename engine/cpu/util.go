package cpu

import (
	"fmt"
	"runtime"
	"sync"
)

// check returns the first non-nil error among errs.
func check(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// wrapParam names the op on a parameter error that names a generic op
// (op.Elementwise reports "elementwise").
func wrapParam(opName string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", opName, err)
}

// parallelFor runs body(lo, hi) over [0, n) split into contiguous chunks on up
// to GOMAXPROCS goroutines. Each index is handled by exactly one call, so a
// body that writes only rows it owns gives the same bits as a serial loop.
// Small n (below minPer per goroutine) runs serially.
func parallelFor(n, minPer int, body func(lo, hi int)) {
	workers := runtime.GOMAXPROCS(0)
	if minPer < 1 {
		minPer = 1
	}
	if m := n / minPer; m < workers {
		workers = m
	}
	if workers <= 1 {
		body(0, n)
		return
	}
	var wg sync.WaitGroup
	chunk := (n + workers - 1) / workers
	for lo := 0; lo < n; lo += chunk {
		hi := min(lo+chunk, n)
		wg.Add(1)
		go func() {
			defer wg.Done()
			body(lo, hi)
		}()
	}
	wg.Wait()
}

// validRange returns the output indices [lo, hi) for which the input index
// o*stride + k - pad lies in [0, n), clipped to [0, out).
func validRange(out, n, stride, k, pad int) (lo, hi int) {
	// o*stride >= pad-k  →  o >= ceil((pad-k)/stride)
	lo = ceilDiv(pad-k, stride)
	if lo < 0 {
		lo = 0
	}
	// o*stride <= n-1+pad-k  →  o <= floor((n-1+pad-k)/stride)
	hi = floorDiv(n-1+pad-k, stride) + 1
	if hi > out {
		hi = out
	}
	if hi < lo {
		hi = lo
	}
	return lo, hi
}

func floorDiv(a, b int) int {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

func ceilDiv(a, b int) int { return -floorDiv(-a, b) }
