// Package weights reads and writes the tensors SLaK-web runs on:
//
//   - ReadPTH: the zip-based torch.save format (PyTorch ≥ 1.6) of the official
//     SLaK, ConvNeXt and RepLKNet checkpoints, through a restricted unpickler
//     that only knows the handful of classes a tensor checkpoint contains and
//     refuses everything else (a .pth is a pickle: loading one must never run
//     or even name arbitrary code).
//   - ReadSafetensors / ParseSafetensors / WriteSafetensors: the standard
//     safetensors container (u64 LE header length, JSON header, raw
//     little-endian data), strictly validated.
//   - The converted model file ("slak-web/1"): a safetensors file in deploy
//     form whose __metadata__ records the variant, kernel sizes, eps values,
//     preprocessing and a sha256 of the tensors (see model.go).
//   - Float16Bits / Float32FromBits: IEEE binary16 with round-to-nearest-even.
//
// Every size read from a file (header lengths, zip entries, storage element
// counts, tensor shapes) is checked against the real file size before
// anything is allocated, and malformed input yields an error, never a panic.
//
// The package compiles for GOOS=js GOARCH=wasm: the browser converts a
// dropped .pth with the same code. It must not import engine/model; the
// variant-aware conversion lives in weights/convert.
package weights
