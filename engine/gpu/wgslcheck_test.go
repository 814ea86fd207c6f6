package gpu

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// wgslValidators returns the WGSL validators among want (tint: Chromium's compiler, whose
// uniformity analysis guards barriers; naga) that are on the PATH, and skips t when none is.
func wgslValidators(t *testing.T, want ...string) []string {
	t.Helper()
	var tools []string
	for _, tool := range want {
		if _, err := exec.LookPath(tool); err == nil {
			tools = append(tools, tool)
		}
	}
	if len(tools) == 0 {
		t.Skipf("none of %v on the PATH", want)
	}
	return tools
}

// validateWGSL writes src to a file named after what in t's temporary directory and reports
// every validator of tools that rejects it.
func validateWGSL(t *testing.T, tools []string, what, src string) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "shader.wgsl")
	if err := os.WriteFile(f, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tool := range tools {
		args := []string{f}
		if tool == "tint" {
			args = []string{"--format", "wgsl", "-o", os.DevNull, f}
		}
		if out, err := exec.Command(tool, args...).CombinedOutput(); err != nil {
			t.Errorf("%s rejects %s: %v\n%s", tool, what, err, out)
		}
	}
}
