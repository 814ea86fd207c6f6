package gpu

import (
	"strings"
	"testing"

	"github.com/slak-web/slak/wgsl"
)

// TestSourceInclude: every shader that uses erf_as gets exactly one copy of it from
// wgsl/lib_erf.wgsl, no include line survives in any registered kernel's source, and library
// files are not kernels.
func TestSourceInclude(t *testing.T) {
	for _, name := range []string{"gelu", "gelu_grad", "matmul_fast", "matmul_fast_v4", "matmul_sg", "matmul_lane"} {
		raw, err := wgsl.FS.ReadFile(name + ".wgsl")
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(raw), "fn erf_as(") {
			t.Errorf("%s.wgsl defines erf_as itself instead of including lib_erf", name)
		}
		if (name == "matmul_fast_v4" || name == "matmul_lane") && strings.Contains(string(raw), "fn store4(") {
			t.Errorf("%s.wgsl defines store4 itself instead of including lib_gemm_io", name)
		}
	}
	for name := range kernels {
		subst := map[string]string{}
		raw, _ := wgsl.FS.ReadFile(name + ".wgsl")
		for _, lib := range []string{"lib_erf", "lib_gemm_access", "lib_gemm_io"} {
			text, _ := wgsl.FS.ReadFile(lib + ".wgsl")
			raw = append(raw, text...)
		}
		for _, f := range strings.Split(string(raw), "{{")[1:] {
			if k, _, ok := strings.Cut(f, "}}"); ok {
				subst[k] = "0"
			}
		}
		src, err := Source(name, subst)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if strings.Contains(src, "//!include") {
			t.Errorf("%s: an include line survived Source", name)
		}
		uses := strings.Contains(src, "erf_as(")
		if n := strings.Count(src, "fn erf_as("); uses && n != 1 {
			t.Errorf("%s: %d definitions of erf_as after Source, want 1", name, n)
		}
		if strings.HasPrefix(name, "lib_") {
			t.Errorf("%s is registered as a kernel: lib_*.wgsl files are include-only", name)
		}
	}
}
