"""Seeded initialisation, the golden forward/ERF pass and a minimal safetensors
writer/reader for the golden generator (tools/golden/gen.py)."""
import json
import struct
from collections import OrderedDict

import torch

SPARSITY = 0.4  # SLAK.md §1.5: released SLaK weights are 40% exact zeros (--sparsity 0.4)


def seeded_init_(model, seed, sparse=False):
    """Overwrite every state_dict entry of `model` in state_dict order from one
    torch.Generator seeded with `seed`:

      conv / linear weight (2-D, 4-D)  normal(0, 1/sqrt(fan_in)), fan_in = numel / shape[0]
      then, if sparse, exactly round(0.4*numel) entries set to 0 (a random mask per tensor)
      LN / BN weight (1-D)             1 + normal(0, 0.1)
      any bias                         normal(0, 0.05)
      gamma (layer scale)              uniform(0.3, 1.0)   (not 1e-6, so every block matters)
      running_mean                     normal(0, 0.1)
      running_var                      uniform(0.5, 1.5)
      num_batches_tracked              randint(1000, 100000)
    """
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict(keep_vars=True).items():
            leaf = name.rsplit(".", 1)[-1]
            shape = tuple(t.shape)
            if leaf == "num_batches_tracked":
                t.fill_(int(torch.randint(1000, 100000, (), generator=g)))
            elif leaf == "running_mean":
                t.copy_(torch.randn(shape, generator=g) * 0.1)
            elif leaf == "running_var":
                t.copy_(torch.rand(shape, generator=g) + 0.5)
            elif leaf == "gamma":
                t.copy_(torch.rand(shape, generator=g) * 0.7 + 0.3)
            elif leaf == "bias":
                t.copy_(torch.randn(shape, generator=g) * 0.05)
            elif leaf == "weight" and t.dim() == 1:
                t.copy_(1.0 + torch.randn(shape, generator=g) * 0.1)
            elif leaf == "weight" and t.dim() in (2, 4):
                fan_in = t.numel() // shape[0]
                w = torch.randn(shape, generator=g) / fan_in ** 0.5
                if sparse:
                    nz = round(SPARSITY * w.numel())
                    idx = torch.randperm(w.numel(), generator=g)[:nz]
                    w.view(-1)[idx] = 0.0
                t.copy_(w)
            else:
                raise ValueError(f"seeded_init_: no rule for {name} {shape}")
    return model


def golden_pass(model, x):
    """Run `model` (eval, float64) on x [3,H,W] and return the golden tensors:
    stage0..stage3 [C,h,w], logits [classes], erf_grad [3,H,W] = dS/dx with
    S = Σ_c max(F[c, h//2, w//2], 0), F = stage3, and erf_map [H,W] = Σ_rgb max(erf_grad, 0)."""
    model.eval()
    xin = x.detach().to(torch.float64)[None].requires_grad_(True)
    stages = model.forward_stages(xin)
    f = stages[-1]
    h, w = f.shape[-2:]
    s = torch.relu(f[0, :, h // 2, w // 2]).sum()
    s.backward()
    grad = xin.grad[0].detach()
    with torch.no_grad():
        logits = model(x.to(torch.float64)[None])[0]
    out = OrderedDict()
    for i, t in enumerate(stages):
        out[f"stage{i}"] = t[0].detach()
    out["logits"] = logits
    out["erf_grad"] = grad
    out["erf_map"] = torch.relu(grad).sum(0)
    return out


def write_safetensors(path, tensors, metadata):
    """safetensors: u64 LE header length N, N bytes of JSON (padded with spaces to a
    multiple of 8), then the raw little-endian float32 data in the order given."""
    header, blobs, off = OrderedDict(), [], 0
    for name, t in tensors.items():
        a = t.detach().to(torch.float32).contiguous().numpy()
        b = a.astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    hb = json.dumps(header, separators=(",", ":")).encode()
    hb += b" " * (-len(hb) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        for b in blobs:
            f.write(b)


def read_safetensors(path):
    """Inverse of write_safetensors (F32 only): (OrderedDict name -> tensor, metadata)."""
    import numpy as np
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n], object_pairs_hook=OrderedDict)
    meta = header.pop("__metadata__", {})
    body = data[8 + n:]
    out = OrderedDict()
    for name, e in header.items():
        assert e["dtype"] == "F32", name
        b, en = e["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(body[b:en], dtype="<f4").copy()).reshape(e["shape"])
    return out, meta
