package model

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// Dense parameter counts and state_dict entry counts from SLAK.md §1.1, §2.2,
// §2.4, §5.1, §5.2 and §8 (reproduced there by an independent PyTorch
// reimplementation; SLaK-T/S/B match what users printed in SLaK#12).
func TestParamAndEntryCounts(t *testing.T) {
	cases := []struct {
		name    string
		params  int
		entries int // -1: not stated in SLAK.md
	}{
		{"slak_t", 50703838, 470},
		{"slak_s", 91131820, 920},
		{"slak_b", 157950792, 920},
		{"slak_t31", 49581838, 470},
		{"convnext_t", 28589128, 182},
		{"replknet_31b", 79864168, 1171},
	}
	for _, c := range cases {
		v, err := Lookup(c.name)
		if err != nil {
			t.Fatal(err)
		}
		if got := ParamCount(v); got != c.params {
			t.Errorf("%s: dense parameter count %d, want %d", c.name, got, c.params)
		}
		if got := len(Schema(v)); c.entries >= 0 && got != c.entries {
			t.Errorf("%s: %d state_dict entries, want %d", c.name, got, c.entries)
		}
	}
}

// TestCountsJSON cross-checks the table against testdata/golden/counts.json,
// printed by tools/golden/check_counts.py from an independent PyTorch build
// of the full variants.
func TestCountsJSON(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(goldenDir, "counts.json"))
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Variants map[string]struct {
			Params  int `json:"dense_params"`
			Entries int `json:"state_dict_entries"`
		} `json:"variants"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	names := map[string]string{"SLaK-T": "slak_t", "SLaK-S": "slak_s", "SLaK-B": "slak_b",
		"SLaK-T31": "slak_t31", "ConvNeXt-T": "convnext_t", "RepLKNet-31B": "replknet_31b"}
	if len(c.Variants) != len(names) {
		t.Errorf("counts.json has %d variants, want %d", len(c.Variants), len(names))
	}
	for label, want := range c.Variants {
		v := mustLookup(t, names[label])
		if got := ParamCount(v); got != want.Params {
			t.Errorf("%s: %d params, counts.json %d", v.Name, got, want.Params)
		}
		if got := len(Schema(v)); got != want.Entries {
			t.Errorf("%s: %d entries, counts.json %d", v.Name, got, want.Entries)
		}
	}
}
