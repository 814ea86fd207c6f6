"""Checks of the PyTorch reference and of the committed fixtures.

    cd tools/golden && /usr/bin/python3 -m unittest -v test_golden      (~10 s)
"""
import copy
import io
import json
import os
import struct
import subprocess
import sys
import tempfile
import unittest
import zipfile

import torch
import torch.nn as nn
import torch.nn.functional as F

from common import golden_pass, read_safetensors
from convnext import ConvNeXt, convnext_tiny_config
from gen import INPUT_SEEDS, build
from layers import LayerNorm
from replknet import RepLKNet, replknet_tiny_config
from slak import SLaK, slak_tiny_config

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN = os.path.normpath(os.path.join(HERE, "..", "..", "testdata", "golden"))
CONFIGS = ("slak_tiny", "convnext_tiny", "replknet_tiny")
INPUT_HW = {"rand64": (64, 64), "odd71x53": (71, 53), "photo224": (224, 224)}
STAGE_C = {"slak_tiny": [7, 13, 18, 26], "convnext_tiny": [8, 12, 16, 24], "replknet_tiny": [8, 12, 16, 24]}


def fuse(seq):
    """BN fold (SLAK.md §1.4): w' = w·γ/√(var+eps), b' = β − mean·γ/√(var+eps)."""
    bn = seq.bn
    s = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    return seq.conv.weight * s[:, None, None, None], bn.bias - bn.running_mean * s


class TestReference(unittest.TestCase):
    def test_tiny_entry_counts(self):
        # slak: 16 stem/ds + 25 per block x 5 + 4 tail; convnext: 16 + 9 x 5 + 4;
        # replknet: stem 24 + 46 per layer x 5 + transitions 36 + norm 5 + head 2.
        want = {"slak_tiny": 145, "convnext_tiny": 65, "replknet_tiny": 297}
        for c, n in want.items():
            self.assertEqual(len(build(c).state_dict()), n, c)

    def test_slak_keys(self):
        keys = list(build("slak_tiny").state_dict())
        self.assertEqual(keys[16], "stages.0.0.gamma")  # own parameter first (SLaK#19 order)
        self.assertIn("stages.2.1.large_kernel.LoRA2.bn.num_batches_tracked", keys)
        self.assertFalse([k for k in keys if "lkb_origin" in k or "Decom" in k or "lkb_reparam" in k])
        sd = build("slak_tiny").state_dict()
        self.assertEqual(tuple(sd["stages.1.0.large_kernel.LoRA1.conv.weight"].shape), (13, 1, 11, 5))
        self.assertEqual(tuple(sd["stages.1.0.large_kernel.LoRA2.conv.weight"].shape), (13, 1, 5, 11))
        self.assertEqual(tuple(sd["head.weight"].shape), (10, 26))

    def test_replknet_order_is_not_forward_order(self):
        keys = [k for k in build("replknet_tiny").state_dict() if k.startswith("stages.0.blocks.0.")]
        self.assertTrue(keys[0].startswith("stages.0.blocks.0.pw1.conv"), keys[0])
        self.assertTrue(keys[-1].startswith("stages.0.blocks.0.prelkb_bn."), keys[-1])

    def test_decomposed_equals_merged(self):
        # The three BN-folded branches merged into one KxK kernel give the same output (exact in
        # real arithmetic; float64 rounding ~1e-14), which pins the per-axis padding.
        m = build("slak_tiny").double()
        lk = m.stages[0][0].large_kernel
        C, K, N = 7, 13, 5
        w1, b1 = fuse(lk.LoRA1)
        w2, b2 = fuse(lk.LoRA2)
        w3, b3 = fuse(lk.small_conv)
        wm = torch.zeros(C, 1, K, K, dtype=torch.float64)
        wm[:, :, :, (K - N) // 2:(K + N) // 2] += w1
        wm[:, :, (K - N) // 2:(K + N) // 2, :] += w2
        wm[:, :, (K - N) // 2:(K + N) // 2, (K - N) // 2:(K + N) // 2] += w3
        x = torch.randn(1, C, 17, 9, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
        with torch.no_grad():
            got = lk(x)
            want = F.conv2d(x, wm, b1 + b2 + b3, padding=K // 2, groups=C)
        self.assertEqual(got.shape, x.shape)
        self.assertLess((got - want).abs().max().item(), 1e-12)

    def test_scalar_padding_is_the_trap(self):
        # SLaK#15: a scalar K//2 padding on the Kx5 conv widens the output (24 -> 24+2*(6-2)).
        conv = nn.Conv2d(4, 4, (13, 5), padding=13 // 2, groups=4, bias=False)
        self.assertEqual(conv(torch.zeros(1, 4, 24, 24)).shape[-1], 32)

    def test_layernorm_channels_first(self):
        x = torch.randn(1, 7, 5, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
        ln = LayerNorm(7, eps=1e-6, data_format="channels_first").double()
        with torch.no_grad():
            ln.weight.uniform_(0.5, 1.5)
            ln.bias.uniform_(-0.5, 0.5)
            want = F.layer_norm(x.permute(0, 2, 3, 1), (7,), ln.weight, ln.bias, 1e-6).permute(0, 3, 1, 2)
            self.assertLess((ln(x) - want).abs().max().item(), 1e-12)

    def test_erf_grad_is_directional_derivative(self):
        # central finite difference of S along a random direction v equals <erf_grad, v>.
        for c in CONFIGS:
            m = copy.deepcopy(build(c)).double().eval()
            x = torch.randn(3, 47, 41, dtype=torch.float64, generator=torch.Generator().manual_seed(9))
            v = torch.randn(3, 47, 41, dtype=torch.float64, generator=torch.Generator().manual_seed(10))
            g = golden_pass(m, x)["erf_grad"]

            def S(z):
                with torch.no_grad():
                    f = m.forward_stages(z[None])[-1]
                    return torch.relu(f[0, :, f.shape[2] // 2, f.shape[3] // 2]).sum().item()
            eps = 1e-6
            fd = (S(x + eps * v) - S(x - eps * v)) / (2 * eps)
            self.assertAlmostEqual(fd, (g * v).sum().item(), delta=1e-6 * max(1.0, abs(fd)), msg=c)


class TestFixtures(unittest.TestCase):
    def test_safetensors_layout(self):
        for c in CONFIGS:
            path = os.path.join(GOLDEN, c, "golden.safetensors")
            with open(path, "rb") as fh:
                data = fh.read()
            n = struct.unpack("<Q", data[:8])[0]
            self.assertEqual(n % 8, 0)
            header = json.loads(data[8:8 + n])
            meta = header.pop("__metadata__")
            self.assertEqual(meta["config"], c)
            self.assertEqual(meta["generator"], "tools/golden/gen.py")
            self.assertEqual(set(meta), {"config", "generator", "torch", "seed", "input_seeds"})
            end = 0
            for name, e in header.items():  # contiguous, in file order, F32
                self.assertEqual(e["dtype"], "F32", name)
                self.assertEqual(e["data_offsets"][0], end, name)
                numel = 1
                for d in e["shape"]:
                    numel *= d
                end = e["data_offsets"][1]
                self.assertEqual(end - e["data_offsets"][0], 4 * numel, name)
            self.assertEqual(8 + n + end, len(data))
            shapes = {k: e["shape"] for k, e in header.items()}
            want = {}
            for xn, (H, W) in INPUT_HW.items():
                want[f"{xn}/input"] = [3, H, W]
                h, w = (H - 4) // 4 + 1, (W - 4) // 4 + 1  # SLaK/ConvNeXt stem 4x4 s4
                if c == "replknet_tiny":  # stem: two 3x3 s2 p1 convs
                    h, w = (H - 1) // 2 + 1, (W - 1) // 2 + 1
                    h, w = (h - 1) // 2 + 1, (w - 1) // 2 + 1
                for i in range(4):
                    if i > 0:
                        h, w = ((h - 1) // 2 + 1, (w - 1) // 2 + 1) if c == "replknet_tiny" else (h // 2, w // 2)
                    want[f"{xn}/stage{i}"] = [STAGE_C[c][i], h, w]
                want[f"{xn}/logits"] = [10]
                want[f"{xn}/erf_grad"] = [3, H, W]
                want[f"{xn}/erf_map"] = [H, W]
            self.assertEqual(shapes, want, c)

    def test_goldens_match_checkpoints(self):
        # the committed checkpoint, loaded strictly into the reference, reproduces every golden
        # tensor in float64 to float32 rounding (2^-24 relative, per tensor max).
        for c in CONFIGS:
            obj = torch.load(os.path.join(GOLDEN, c, "checkpoint.pth"), map_location="cpu")
            sd = obj if c == "replknet_tiny" else obj["model"]
            m = build(c)
            m.load_state_dict(sd, strict=True)
            m = m.double().eval()
            t, meta = read_safetensors(os.path.join(GOLDEN, c, "golden.safetensors"))
            for xn in INPUT_HW:
                g = golden_pass(m, t[f"{xn}/input"])
                for k, v in g.items():
                    ref = t[f"{xn}/{k}"].double()
                    err = (v - ref).abs().max().item()
                    self.assertLessEqual(err, 2 ** -23 * ref.abs().max().item(), f"{c} {xn}/{k}")
            if c == "slak_tiny":
                self.assertEqual(obj["epoch"], 299)
                self.assertEqual(obj["args"].kernel_size, [13, 11, 9, 7, 5])
                self.assertEqual(obj["scaler"]["scale"], 65536.0)
            if c == "convnext_tiny":
                self.assertEqual(list(obj), ["model"])

    def test_float32_gap(self):
        # A float32 run of the same model stays within the README tolerance with margin
        # (measured ~5e-7 relative; README asks 1e-4): the tolerance is achievable.
        for c in CONFIGS:
            m = build(c)
            t, _ = read_safetensors(os.path.join(GOLDEN, c, "golden.safetensors"))
            x = t["photo224/input"]
            with torch.no_grad():
                lg = m(x[None])[0]
            self.assertLessEqual((lg - t["photo224/logits"]).abs().max().item(),
                                 1e-5 * max(1.0, t["photo224/logits"].abs().max().item()), c)

    def test_slak_sparsity(self):
        sd = torch.load(os.path.join(GOLDEN, "slak_tiny", "checkpoint.pth"), map_location="cpu")["model"]
        n = 0
        for k, v in sd.items():
            if v.dim() in (2, 4):
                n += 1
                self.assertEqual(int((v == 0).sum()), round(0.4 * v.numel()), k)
            elif v.is_floating_point():
                self.assertEqual(int((v == 0).sum()), 0, k)
        self.assertEqual(n, 30)

    def test_variants(self):
        v = os.path.join(GOLDEN, "variants")
        base = torch.load(os.path.join(GOLDEN, "slak_tiny", "checkpoint.pth"), map_location="cpu")["model"]
        ld = lambda name: torch.load(os.path.join(v, name + ".pth"), map_location="cpu")  # noqa: E731
        o = ld("slak_tiny_module_prefix")
        self.assertEqual(list(o), ["state_dict"])
        self.assertTrue(all(k.startswith("module.") for k in o["state_dict"]))
        self.assertEqual(list(ld("slak_tiny_model_ema")), ["model_ema"])
        keys = list(ld("slak_tiny_decom")["model"])
        self.assertTrue(any(".Decom1." in k for k in keys) and not any("LoRA" in k for k in keys))
        keys = ld("slak_tiny_lkb_origin")["model"]
        self.assertEqual(tuple(keys["stages.0.0.large_kernel.lkb_origin.conv.weight"].shape), (7, 1, 13, 13))
        km = ld("slak_tiny_k_mismatch")["model"]
        self.assertEqual(tuple(km["stages.0.0.large_kernel.LoRA1.conv.weight"].shape), (7, 1, 9, 5))
        f16 = ld("slak_tiny_f16")["model"]
        self.assertEqual(f16["head.weight"].dtype, torch.float16)
        self.assertEqual(f16["stages.0.0.large_kernel.LoRA1.bn.num_batches_tracked"].dtype, torch.int64)
        # cuda:0 locations: in data.pkl, and map_location='cpu' still gives the slak_tiny weights
        path = os.path.join(v, "slak_tiny_cuda_location.pth")
        with zipfile.ZipFile(path) as z:
            pkl = [n for n in z.namelist() if n.endswith("/data.pkl")]
            raw = z.read(pkl[0])
        self.assertIn(b"cuda:0", raw)
        self.assertNotIn(b"X\x03\x00\x00\x00cpu", raw)
        cu = torch.load(path, map_location="cpu")
        self.assertEqual(sorted(cu), ["args", "epoch", "model"])
        for k, t in base.items():
            self.assertTrue(torch.equal(cu["model"][k], t), k)

    def test_regenerates_identically(self):
        # gen.py is deterministic: a fresh run reproduces every committed fixture byte for byte.
        with tempfile.TemporaryDirectory() as d:
            subprocess.run([sys.executable, "gen.py", "--out", d], cwd=HERE, check=True,
                           stdout=subprocess.DEVNULL)
            n = 0
            for root, _, files in os.walk(d):
                for f in files:
                    p = os.path.join(root, f)
                    rel = os.path.relpath(p, d)
                    with open(p, "rb") as a, open(os.path.join(GOLDEN, rel), "rb") as b:
                        self.assertTrue(a.read() == b.read(), f"{rel} differs from the committed file")
                    n += 1
            self.assertEqual(n, 15)


if __name__ == "__main__":
    unittest.main()
