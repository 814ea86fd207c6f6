"""Build the FULL variants with the reference modules and assert the dense
parameter counts and state_dict entry counts of SLAK.md §1.1, §2.2, §2.4, §5.

    cd tools/golden && /usr/bin/python3 check_counts.py [--json ../../testdata/golden/counts.json]

Not part of CI (builds ~600 MB of float32 weights on the CPU, ~1 min).
"""
import argparse
import json
import sys

import torch

from convnext import ConvNeXt
from replknet import create_RepLKNet31B
from slak import SLaK

# name -> (builder, expected dense params, expected state_dict entries or None)
VARIANTS = {
    "SLaK-T": (lambda: SLaK(depths=[3, 3, 9, 3], dims=[96, 192, 384, 768], width_factor=1.3,
                            kernel_size=[51, 49, 47, 13, 5], Decom=True), 50703838, 470),
    "SLaK-S": (lambda: SLaK(depths=[3, 3, 27, 3], dims=[96, 192, 384, 768], width_factor=1.3,
                            kernel_size=[51, 49, 47, 13, 5], Decom=True), 91131820, 920),
    "SLaK-B": (lambda: SLaK(depths=[3, 3, 27, 3], dims=[128, 256, 512, 1024], width_factor=1.3,
                            kernel_size=[51, 49, 47, 13, 5], Decom=True), 157950792, 920),
    "SLaK-T31": (lambda: SLaK(depths=[3, 3, 9, 3], dims=[96, 192, 384, 768], width_factor=1.3,
                              kernel_size=[31, 29, 27, 13, 5], Decom=True), 49581838, 470),
    "ConvNeXt-T": (lambda: ConvNeXt(depths=[3, 3, 9, 3], dims=[96, 192, 384, 768]), 28589128, 182),
    "RepLKNet-31B": (create_RepLKNet31B, 79864168, 1171),
}


def count(model):
    sd = model.state_dict()
    params = sum(p.numel() for p in model.parameters())
    bad = [k for k in sd if "lkb_origin" in k and "LoRA" in k]  # never both forms in one model
    assert not bad, bad
    return params, len(sd)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", help="write the measured counts to this file")
    args = ap.parse_args()
    torch.set_grad_enabled(False)
    out, failed = {}, False
    for name, (build, want_params, want_entries) in VARIANTS.items():
        model = build()
        params, entries = count(model)
        del model
        ok = params == want_params and (want_entries is None or entries == want_entries)
        failed |= not ok
        print(f"{name:13s} params {params:>12,d} (want {want_params:,d})  entries {entries:>5d}"
              f" (want {want_entries})  {'OK' if ok else 'MISMATCH'}", flush=True)
        out[name] = {"dense_params": params, "state_dict_entries": entries}
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"source": "tools/golden/check_counts.py (SLAK.md §1.1, §2.2, §2.4, §5)",
                       "torch": torch.__version__, "variants": out}, f, indent=1)
            f.write("\n")
        print("wrote", args.json)
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
