#!/usr/bin/python3
"""Golden fixtures for engine/imgprep (and the GPU preprocessing kernels).

Run with Debian's /usr/bin/python3 (torch 1.13, torchvision 0.14, Pillow 9.4):

    /usr/bin/python3 tools/imgprep_golden.py

It writes testdata/imgprep/golden.safetensors: for each case the torchvision
result of the ImageNet eval transform (Resize(256, BICUBIC) → CenterCrop(224))
or of the warp transform (Resize((S, S), BICUBIC)) as uint8 HWC pixels
"<case>/u8", the float32 CHW output of ToTensor+Normalize for the real photo
"chelsea_eval/f32", the normalisation of every byte value "norm_lut" [3, 256]
float32, and the sizes and crop offsets in the metadata (JSON per case).

Synthetic inputs come from an integer formula (synth below) that the Go test
reimplements, so they need not be stored. The real photo is
testdata/imgprep/chelsea.png (scikit-image's data, CC0; see LICENSES).
"""
import json
import os
import struct
import sys

import numpy as np
import torch
import torchvision
from PIL import Image
from torchvision import transforms as T

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "testdata", "imgprep")
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def synth(w, h):
    """uint8 [h, w, 3]: saturated blocks (bicubic overshoot gets clipped),
    wrapping ramps (sharp jumps) and hashed noise (many rounding near-ties)."""
    y, x, c = np.meshgrid(np.arange(h, dtype=np.uint64), np.arange(w, dtype=np.uint64),
                          np.arange(3, dtype=np.uint64), indexing="ij")
    m = np.uint64(0xFFFFFFFF)
    hsh = ((x * np.uint64(73856093)) ^ (y * np.uint64(19349663)) ^ (c * np.uint64(83492791))) & m
    hsh ^= hsh >> np.uint64(13)
    hsh = (hsh * np.uint64(0x5BD1E995)) & m
    hsh ^= hsh >> np.uint64(15)
    blk = ((x // np.uint64(13)) + (y // np.uint64(11))) % np.uint64(3)
    sat = np.where((c + x // np.uint64(13)) % np.uint64(2) == 1, np.uint64(255), np.uint64(0))
    ramp = (x * np.uint64(5) + y * np.uint64(3) + c * np.uint64(85)) & np.uint64(255)
    v = np.where(blk == 0, sat, np.where(blk == 1, ramp, hsh & np.uint64(255)))
    return v.astype(np.uint8)


def eval_u8(img):
    r = T.Resize(256, interpolation=T.InterpolationMode.BICUBIC)(img)
    c = T.CenterCrop(224)(r)
    W, H = r.size
    meta = dict(resized_w=W, resized_h=H, left=int(round((W - 224) / 2.0)), top=int(round((H - 224) / 2.0)))
    return c, meta


def main():
    print("torch", torch.__version__, "torchvision", torchvision.__version__, "PIL", Image.__version__, file=sys.stderr)
    tensors, meta = {}, {}
    chelsea = Image.open(os.path.join(OUT, "chelsea.png")).convert("RGB")
    cases = [
        # name, image source, (w, h), mode, size
        ("chelsea_eval", "chelsea", chelsea.size, "eval", 224),
        ("chelsea_warp224", "chelsea", chelsea.size, "warp", 224),
        ("synth_517x389_eval", "synth", (517, 389), "eval", 224),
        ("synth_300x451_eval", "synth", (300, 451), "eval", 224),
        ("synth_400x300_eval_half_even", "synth", (400, 300), "eval", 224),
        ("synth_199x143_eval_upscale", "synth", (199, 143), "eval", 224),
        ("synth_1x1000_eval", "synth", (1, 1000), "eval", 224),
        ("synth_3x2_eval", "synth", (3, 2), "eval", 224),
        ("synth_256x311_eval_no_hpass", "synth", (256, 311), "eval", 224),
        ("synth_1201x653_warp512", "synth", (1201, 653), "warp", 512),
    ]
    for name, src, (w, h), mode, size in cases:
        img = chelsea if src == "chelsea" else Image.fromarray(synth(w, h), "RGB")
        if mode == "eval":
            out, m = eval_u8(img)
        else:
            out = T.Resize((size, size), interpolation=T.InterpolationMode.BICUBIC)(img)
            m = dict(resized_w=size, resized_h=size, left=0, top=0)
        m.update(src=src, w=w, h=h, mode=mode, size=size)
        u8 = np.asarray(out, dtype=np.uint8)
        assert u8.shape == (size, size, 3), (name, u8.shape)
        tensors[name + "/u8"] = u8
        meta[name] = json.dumps(m, sort_keys=True)
        if name == "chelsea_eval":
            x = T.Normalize(MEAN, STD)(T.ToTensor()(out))
            tensors[name + "/f32"] = x.numpy().astype(np.float32)
        print(name, m, file=sys.stderr)
    # Every byte value through ToTensor + Normalize: a 16×16 image holding 0..255.
    ramp = np.broadcast_to(np.arange(256, dtype=np.uint8).reshape(16, 16, 1), (16, 16, 3)).copy()
    lut = T.Normalize(MEAN, STD)(T.ToTensor()(Image.fromarray(ramp, "RGB")))
    tensors["norm_lut"] = lut.reshape(3, 256).numpy().astype(np.float32)
    meta["generator"] = "tools/imgprep_golden.py; torch %s, torchvision %s, Pillow %s" % (
        torch.__version__, torchvision.__version__, Image.__version__)
    write_safetensors(os.path.join(OUT, "golden.safetensors"), tensors, meta)


def write_safetensors(path, tensors, meta):
    """safetensors: u64 LE header length, JSON header, raw LE data."""
    dt = {np.dtype(np.uint8): "U8", np.dtype(np.float32): "F32"}
    header, blobs, off = {"__metadata__": meta}, [], 0
    for k in sorted(tensors):
        a = np.ascontiguousarray(tensors[k])
        b = a.astype(a.dtype.newbyteorder("<")).tobytes()
        header[k] = {"dtype": dt[a.dtype], "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, sort_keys=True).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    print("wrote", path, 8 + len(h) + off, "bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
