package imagenet

import (
	"reflect"
	"testing"
)

func TestNames(t *testing.T) {
	// Spot checks of the official index order (torchvision / ImageNet-1K).
	for i, want := range map[int]string{0: "tench", 1: "goldfish", 281: "tabby", 285: "Egyptian cat", 999: "toilet tissue"} {
		if Names[i] != want {
			t.Errorf("Names[%d] = %q, want %q", i, Names[i], want)
		}
	}
	for i, n := range Names {
		if n == "" {
			t.Errorf("Names[%d] is empty", i)
		}
	}
}

func TestTopK(t *testing.T) {
	p := []float32{0.1, 0.5, 0.2, 0.5, 0.05, 0.9}
	if got, want := TopK(p, 3), []int{5, 1, 3}; !reflect.DeepEqual(got, want) {
		t.Errorf("TopK = %v, want %v", got, want)
	}
	if got := TopK(p, 10); len(got) != len(p) || got[0] != 5 || got[len(got)-1] != 4 {
		t.Errorf("TopK(k>n) = %v", got)
	}
	if got := TopK(p, 0); got != nil {
		t.Errorf("TopK(0) = %v", got)
	}
}
