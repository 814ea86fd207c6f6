package main

import "github.com/slak-web/slak/engine/imgprep"

// preprocessRGBA is the ImageNet eval transform (engine/imgprep: PIL bicubic
// short side 256, centre crop 224, normalise) on RGBA8 pixels, shared by the
// page's CPU engine and the native reference of the browser test.
func preprocessRGBA(pix []byte, w, h int) ([]float32, imgprep.Crop, error) {
	return imgprep.Preprocess(pix, w, h, imgprep.Eval)
}

// cropFractions is the crop rectangle as fractions of the original image
// (x, y, w, h), for the overlay on the photo.
func cropFractions(c imgprep.Crop, w, h int) [4]float64 {
	fw, fh := float64(w), float64(h)
	return [4]float64{c.X0 / fw, c.Y0 / fh, (c.X1 - c.X0) / fw, (c.Y1 - c.Y0) / fh}
}

// The built-in default model: seeded random weights with SLaK's 40%
// unstructured sparsity (model.RandomWeights).
const (
	builtinSeed     = 1
	builtinSparsity = 0.4
)
