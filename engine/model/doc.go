// Package model holds the networks of the demo as data and code, on top of
// the op.Backend interface (engine/op), so that the same code runs on the CPU
// reference (engine/cpu) and on WebGPU (engine/gpu).
//
// Reading order:
//
//   - variant.go: the table, one row per variant (SLaK-T/S/B 51×51, SLaK-T
//     31×31, ConvNeXt-T 7×7, RepLKNet-31B 31×31, and the tiny test
//     configurations shared with tools/golden/gen.py); Lookup, Variants.
//   - schema.go: Schema(v), the official state_dict (key, shape, kind) in
//     PyTorch registration order; ParamCount; DeployKeys(v), the converted
//     layout that Load expects and weights files hold.
//   - convert.go: Convert (prefix stripping, key/shape validation with errors
//     that name the key and the known traps, BatchNorm folding), FoldBN,
//     ValidateDeploy.
//   - net.go: Load, Forward/ForwardTensor (logits and the four stage maps),
//     InputGradient (the ERF input gradient), Free. convnext.go (SLaK and
//     ConvNeXt) and replknet.go hold the per-family segments: each segment
//     has a forward and an input gradient that recomputes its internals from
//     the saved segment input (activation checkpointing), so the ERF backward
//     keeps one map per block instead of every intermediate.
//   - random.go: RandomWeights, the built-in untrained weights.
//
// Facts and numbers come from /work/shared/SLAK.md (sections named as §n.m),
// which reads them from VITA-Group/SLaK models/SLaK.py,
// facebookresearch/ConvNeXt models/convnext.py and DingXiaoH/RepLKNet-pytorch
// replknet.py.
//
// Tests: go test ./engine/model compares every family against the PyTorch
// goldens of testdata/golden (logits within 1e-4·max(1, max|logit|), stage
// maps and ERF gradients within 1e-4 of their max-abs, SLAK.md §8) on the CPU
// reference and, natively, on the GPU backend; see golden_test.go.
package model
