package imgprep

import "testing"

// BenchmarkPreprocess12MP is the CPU reference on a 4032×3024 RGBA photo-sized image (eval mode):
// the cost a browser would pay in a Go loop without the GPU path.
func BenchmarkPreprocess12MP(b *testing.B) {
	w, h := 4032, 3024
	rgb := synth(w, h)
	pix := make([]uint8, w*h*4)
	for i := 0; i < w*h; i++ {
		copy(pix[i*4:], rgb[i*3:i*3+3])
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, err := Preprocess(pix, w, h, Eval); err != nil {
			b.Fatal(err)
		}
	}
}
