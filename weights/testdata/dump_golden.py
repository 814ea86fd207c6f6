#!/usr/bin/python3
"""Writes golden_expect.json: what torch.load sees in each checkpoint of
testdata/golden (top-level keys, which state dict, entry count, and for a few
tensors dtype, shape and sample values), for the Go reader's tests.

    /usr/bin/python3 weights/testdata/dump_golden.py testdata/golden weights/testdata/golden_expect.json
"""
import json
import os
import sys

import torch

root, out = sys.argv[1], sys.argv[2]
files = ["slak_tiny/checkpoint.pth", "convnext_tiny/checkpoint.pth", "replknet_tiny/checkpoint.pth"]
files += ["variants/" + f for f in sorted(os.listdir(os.path.join(root, "variants"))) if f.endswith(".pth")]
res = {}
for rel in files:
    ck = torch.load(os.path.join(root, rel), map_location="cpu")
    entry = {}
    sd, src = ck, ""
    if isinstance(ck, dict) and not all(torch.is_tensor(v) for v in ck.values()):
        entry["top_keys"] = list(ck.keys())
        for k in ["model", "model_ema", "state_dict", "module"]:
            if k in ck:
                sd, src = ck[k], k
                break
        if "epoch" in ck:
            entry["epoch"] = ck["epoch"]
        if "args" in ck:
            entry["args"] = {k: v for k, v in vars(ck["args"]).items() if isinstance(v, (int, float, str, bool, list))}
    entry["from"] = src
    entry["count"] = len(sd)
    keys = list(sd.keys())
    entry["first_key"], entry["last_key"] = keys[0], keys[-1]
    samples = {}
    for k in [keys[0], keys[len(keys) // 2], keys[-1]] + [k for k in keys if k.endswith("num_batches_tracked")][:1]:
        t = sd[k]
        flat = t.reshape(-1).to(torch.float64)
        samples[k] = {"dtype": str(t.dtype), "shape": list(t.shape), "head": flat[:3].tolist(),
                      "sum": float(flat.sum())}
    entry["samples"] = samples
    res[rel] = entry
with open(out, "w") as f:
    json.dump(res, f, indent=1, sort_keys=True)
