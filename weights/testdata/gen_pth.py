#!/usr/bin/python3
"""Generates the small .pth fixtures of package weights (run with Debian's
/usr/bin/python3, torch 1.13). Every fixture is a few kilobytes; the values
the Go tests check are written beside them in expected.json.

    /usr/bin/python3 weights/testdata/gen_pth.py weights/testdata
"""
import argparse
import collections
import json
import os
import sys

import torch

out = sys.argv[1]
torch.manual_seed(1234)

expected = {}


def record(fname, key, t):
    """Records shape, dtype and the first/last few values (as float64) of t."""
    flat = t.detach().reshape(-1).to(torch.float64)  # bool → 0/1
    expected.setdefault(fname, {})[key] = {
        "shape": list(t.shape),
        "dtype": str(t.dtype),
        "head": flat[:4].tolist(),
        "tail": flat[-3:].tolist() if flat.numel() else [],
        "sum": float(flat.sum()),
    }


# 1. SLaK-style training checkpoint: model, optimizer, epoch, scaler, args.
class Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 7, 4, stride=4)
        self.bn = torch.nn.BatchNorm2d(7)
        self.head = torch.nn.Linear(7, 5)


m = Tiny()
with torch.no_grad():
    m.bn.running_mean.normal_()
    m.bn.running_var.uniform_(0.5, 2)
    m.conv.weight[0, 0] = 0  # baked zeros, like SLaK's sparse weights
opt = torch.optim.AdamW(m.parameters(), lr=1e-3)
loss = m.head(m.bn(m.conv(torch.randn(2, 3, 8, 8))).mean((2, 3))).sum()
loss.backward()
opt.step()
ns = argparse.Namespace(model="SLaK_tiny", kernel_size=[13, 11, 9, 7, 5], width_factor=1.3,
                        Decom=True, drop_path=0.1, epochs=300, sparse=True, sparsity=0.4,
                        model_ema=False, data_path=None)
sd = m.state_dict()
ckpt = {"model": sd, "optimizer": opt.state_dict(), "epoch": 299,
        "scaler": {"scale": 65536.0, "growth_factor": 2.0, "backoff_factor": 0.5,
                   "growth_interval": 2000, "_growth_tracker": 17},
        "args": ns}
torch.save(ckpt, os.path.join(out, "train_ckpt.pth"))
for k, v in sd.items():
    record("train_ckpt.pth", k, v)

# 2. Every dtype, plus views: non-contiguous, offset into a shared storage, 0-d, empty.
base = torch.arange(24, dtype=torch.float32).reshape(4, 6) / 7 - 1.5
d = collections.OrderedDict()
d["f32"] = torch.randn(3, 5)
d["f16"] = torch.randn(2, 3).half()
d["bf16"] = torch.randn(2, 3).bfloat16()
d["f64"] = torch.randn(5).double()
d["i64"] = torch.tensor([-3, 0, 7, 2**40], dtype=torch.int64)
d["i32"] = torch.tensor([-5, 9], dtype=torch.int32)
d["u8"] = torch.tensor([0, 200, 255], dtype=torch.uint8)
d["bool"] = torch.tensor([True, False, True])
d["scalar"] = torch.tensor(2.5)
d["empty"] = torch.zeros(0, 4)
d["base"] = base
d["transposed"] = base.t()            # non-contiguous strides (1, 6)
d["row2"] = base[2]                   # storage offset 12, shares storage with base
d["strided"] = base[::2, 1::3]        # offset 1, strides (12, 3)
d["nbt"] = torch.tensor(0, dtype=torch.long)
torch.save(d, os.path.join(out, "dtypes.pth"))
for k, v in d.items():
    record("dtypes.pth", k, v)

# 3. Storages recorded on cuda:0 (no GPU here: patch the location tag torch.save writes),
#    under model_ema with a module. prefix, f16.
orig = torch.serialization.location_tag
torch.serialization.location_tag = lambda s: "cuda:0"
try:
    ema = collections.OrderedDict(("module." + k, v.half()) for k, v in sd.items())
    torch.save({"model_ema": ema, "epoch": "best-ema"}, os.path.join(out, "cuda_ema.pth"))
finally:
    torch.serialization.location_tag = orig
for k, v in ema.items():
    record("cuda_ema.pth", k, v)

# 4. Pickle protocol 4 (torch.save(..., pickle_protocol=4)): FRAME, STACK_GLOBAL, MEMOIZE,
#    SHORT_BINUNICODE instead of protocol 2's GLOBAL/BINPUT.
torch.save({"model": sd, "epoch": 7}, os.path.join(out, "proto4.pth"), pickle_protocol=4)
for k, v in sd.items():
    record("proto4.pth", k, v)

with open(os.path.join(out, "expected.json"), "w") as f:
    json.dump(expected, f, indent=1, sort_keys=True)
print("torch", torch.__version__)
