"""Golden fixtures for the Go engine and converter (issue 3, item 2).

    cd tools/golden && /usr/bin/python3 gen.py --out ../../testdata/golden

Writes, deterministically (torch 1.13 CPU, fixed seeds):
  <config>/checkpoint.pth       tiny seeded checkpoint in the official layout of its family
  <config>/golden.safetensors   inputs, stage maps, logits, ERF gradient/map (float64 -> float32)
  variants/*.pth                hostile checkpoint layouts for the converter tests
  variants/golden.safetensors   logits of the variants whose weights differ from slak_tiny
  photo.png                     skimage's chelsea.png (CC0), the photo224 source
See testdata/golden/README.md for what each tensor is and which tolerances to use.
"""
import argparse
import copy
import io
import os
import pickle
import shutil
import zipfile
from collections import OrderedDict

import torch
from PIL import Image
from torchvision import transforms

from common import golden_pass, read_safetensors, seeded_init_, write_safetensors
from convnext import ConvNeXt, convnext_tiny_config
from replknet import RepLKNet, replknet_tiny_config
from slak import SLaK, slak_tiny_config

PHOTO_SRC = "/usr/lib/python3/dist-packages/skimage/data/chelsea.png"  # CC0, Stefan van der Walt
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# Seeds: one per random input (shared by all configs) and one per model.
INPUT_SEEDS = OrderedDict([("rand64", (1001, (3, 64, 64))), ("odd71x53", (1002, (3, 71, 53)))])
MODEL_SEEDS = {"slak_tiny": 11, "convnext_tiny": 12, "replknet_tiny": 13,
               "slak_tiny_lkb_origin": 14, "slak_tiny_k_mismatch": 15}


def build(config, **over):
    if config.startswith("slak_tiny"):
        cfg = slak_tiny_config()
        cfg.update(over)
        model = SLaK(**cfg)
        sparse = True
    elif config == "convnext_tiny":
        model, sparse = ConvNeXt(**convnext_tiny_config()), False
    elif config == "replknet_tiny":
        model, sparse = RepLKNet(drop_path_rate=0.0, **replknet_tiny_config()), False
    else:
        raise ValueError(config)
    seeded_init_(model, MODEL_SEEDS[config], sparse=sparse)
    return model.eval()


def inputs(photo_path):
    xs = OrderedDict()
    for name, (seed, shape) in INPUT_SEEDS.items():
        xs[name] = torch.randn(shape, generator=torch.Generator().manual_seed(seed))
    tf = transforms.Compose([
        transforms.Resize(256, interpolation=transforms.InterpolationMode.BICUBIC),
        transforms.CenterCrop(224),
        transforms.ToTensor(),
        transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD)])
    xs["photo224"] = tf(Image.open(photo_path).convert("RGB"))
    return xs


def slak_args():
    """The argparse.Namespace that SLaK's main.py pickles under 'args' (subset of its flags)."""
    return argparse.Namespace(
        model="SLaK_tiny", kernel_size=[13, 11, 9, 7, 5], width_factor=1.3, Decom=True, bn=True,
        sparse=True, sparsity=0.4, sparse_init="snip", growth="random", prune="magnitude",
        prune_rate=0.3, update_frequency=100, drop_path=0.1, input_size=224, batch_size=128,
        epochs=300, lr=4e-3, weight_decay=0.05, layer_scale_init_value=1e-6, head_init_scale=1.0,
        nb_classes=10, model_ema=False, data_set="IMNET", output_dir="checkpoints/SLaK_tiny",
        seed=0, resume="", eval=False)


def slak_optimizer_state(model):
    """A real AdamW state_dict (decay / no-decay groups as in SLaK's optim_factory) after one
    step with zero gradients, taken on a copy so the saved model weights are untouched."""
    m = copy.deepcopy(model)
    decay, no_decay = [], []
    for n, p in m.named_parameters():
        (no_decay if p.ndim <= 1 or n.endswith(".bias") else decay).append(p)
    opt = torch.optim.AdamW([{"params": no_decay, "weight_decay": 0.0},
                             {"params": decay, "weight_decay": 0.05}], lr=4e-3)
    for p in m.parameters():
        p.grad = torch.zeros_like(p)
    opt.step()
    return opt.state_dict()


def checkpoint_obj(config, model):
    sd = model.state_dict()
    if config == "slak_tiny":
        return {"model": sd, "optimizer": slak_optimizer_state(model), "epoch": 299,
                "scaler": {"scale": 65536.0, "growth_factor": 2.0, "backoff_factor": 0.5,
                           "growth_interval": 2000, "_growth_tracker": 0},
                "args": slak_args()}
    if config == "convnext_tiny":
        return {"model": sd}  # convnext_tiny_1k_224_ema.pth layout (ConvNeXt#47)
    return sd  # RepLKNet: bare state_dict


def check_loads(path, config, ref_sd, unwrap, **over):
    """The file loads (map_location cpu) into a fresh model, strictly, with identical tensors."""
    obj = torch.load(path, map_location="cpu")
    sd = unwrap(obj)
    model = build(config, **over) if over else build(config)
    for t in model.state_dict().values():
        t.zero_()
    model.load_state_dict(sd, strict=True)
    for k, v in ref_sd.items():
        assert torch.equal(model.state_dict()[k], v), f"{path}: {k} differs after reload"


# ---- variant checkpoints ---------------------------------------------------------------------

class _Rebuild:
    """Stand-in for torch._utils._rebuild_* while re-pickling: keeps the call as a REDUCE."""

    def __init__(self, fn):
        self.fn = fn

    def __call__(self, *args):
        return _Reduced(self.fn, args)


class _Reduced:
    def __init__(self, fn, args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


class _PID:
    def __init__(self, pid):
        self.pid = pid


def relocate(src, dst, location):
    """Copy a torch.save zip file, rewriting the location field of every storage persistent id
    ('storage', type, key, location, numel) in data.pkl to `location` (e.g. 'cuda:0'); the
    other zip entries are copied unchanged, in order."""
    class U(pickle.Unpickler):
        def find_class(self, module, name):
            fn = super().find_class(module, name)
            if module == "torch._utils" and name.startswith("_rebuild"):
                return _Rebuild(fn)
            return fn

        def persistent_load(self, pid):
            return _PID(pid)

    class P(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, _PID):
                pid = list(obj.pid)
                assert pid[0] == "storage", pid
                pid[3] = location
                return tuple(pid)
            return None

    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename.endswith("/data.pkl"):
                obj = U(io.BytesIO(data)).load()
                buf = io.BytesIO()
                P(buf, protocol=2).dump(obj)
                data = buf.getvalue()
                assert location.encode() in data
            out = zipfile.ZipInfo(info.filename, date_time=info.date_time)
            out.compress_type = zipfile.ZIP_STORED
            zout.writestr(out, data)


def write_variants(out, slak_model, xs, written):
    vdir = os.path.join(out, "variants")
    os.makedirs(vdir, exist_ok=True)
    sd = slak_model.state_dict()
    ident = lambda o: o  # noqa: E731
    logits = OrderedDict()

    def save(name, obj, config, unwrap, model_for_check=None, **over):
        path = os.path.join(vdir, name + ".pth")
        torch.save(obj, path)
        ref = (model_for_check or slak_model).state_dict()
        if unwrap is not None:
            check_loads(path, config, ref, unwrap, **over)
        written.append(path)
        return path

    save("slak_tiny_module_prefix", {"state_dict": OrderedDict(("module." + k, v) for k, v in sd.items())},
         "slak_tiny", lambda o: OrderedDict((k[len("module."):], v) for k, v in o["state_dict"].items()))
    save("slak_tiny_model_ema", {"model_ema": sd}, "slak_tiny", lambda o: o["model_ema"])
    save("slak_tiny_decom",
         {"model": OrderedDict((k.replace(".LoRA1.", ".Decom1.").replace(".LoRA2.", ".Decom2."), v)
                               for k, v in sd.items())},
         "slak_tiny", lambda o: OrderedDict((k.replace(".Decom1.", ".LoRA1.").replace(".Decom2.", ".LoRA2."), v)
                                            for k, v in o["model"].items()))

    lkb = build("slak_tiny_lkb_origin", Decom=False)
    save("slak_tiny_lkb_origin", {"model": lkb.state_dict()}, "slak_tiny_lkb_origin", lambda o: o["model"],
         model_for_check=lkb, Decom=False)
    kmm = build("slak_tiny_k_mismatch", kernel_size=[9, 9, 7, 7, 5])
    save("slak_tiny_k_mismatch", {"model": kmm.state_dict()}, "slak_tiny_k_mismatch", lambda o: o["model"],
         model_for_check=kmm, kernel_size=[9, 9, 7, 7, 5])

    # cuda:0 storage locations: {'model', 'epoch', 'args'} saved on the CPU, then data.pkl
    # rewritten (no optimizer state, to keep the file small).
    cuda_path = os.path.join(vdir, "slak_tiny_cuda_location.pth")
    tmp = cuda_path + ".tmp"
    torch.save({"model": sd, "epoch": 299, "args": slak_args()}, cuda_path)
    relocate(cuda_path, tmp, "cuda:0")
    os.replace(tmp, cuda_path)
    check_loads(cuda_path, "slak_tiny", sd, lambda o: o["model"])
    written.append(cuda_path)

    half = OrderedDict((k, v.half() if v.is_floating_point() else v) for k, v in sd.items())
    save("slak_tiny_f16", {"model": half}, "slak_tiny", None)
    f16_model = build("slak_tiny")
    f16_model.load_state_dict(OrderedDict((k, v.float() if v.is_floating_point() else v)
                                          for k, v in half.items()))

    for name, m in (("slak_tiny_lkb_origin", lkb), ("slak_tiny_k_mismatch", kmm),
                    ("slak_tiny_f16", f16_model)):
        m64 = copy.deepcopy(m).double().eval()
        with torch.no_grad():
            for xn in ("rand64", "odd71x53"):
                logits[f"{name}/{xn}/logits"] = m64(xs[xn].double()[None])[0]
    path = os.path.join(vdir, "golden.safetensors")
    seeds = {k: MODEL_SEEDS[k] for k in ("slak_tiny_lkb_origin", "slak_tiny_k_mismatch")}
    write_safetensors(path, logits, {"config": "variants", "generator": "tools/golden/gen.py",
                                     "torch": torch.__version__, "seed": str(seeds),
                                     "inputs": "rand64/odd71x53 inputs of slak_tiny/golden.safetensors"})
    written.append(path)


def write_config(out, config, xs, written):
    d = os.path.join(out, config)
    os.makedirs(d, exist_ok=True)
    model = build(config)
    path = os.path.join(d, "checkpoint.pth")
    torch.save(checkpoint_obj(config, model), path)
    unwrap = (lambda o: o) if config == "replknet_tiny" else (lambda o: o["model"])
    check_loads(path, config, model.state_dict(), unwrap)
    written.append(path)

    m64 = copy.deepcopy(model).double().eval()
    tensors = OrderedDict()
    for xn, x in xs.items():
        g = golden_pass(m64, x)
        tensors[f"{xn}/input"] = x
        for k, v in g.items():
            tensors[f"{xn}/{k}"] = v
        # Margins that keep a float32 engine (errors ~1e-6) on the same side of every decision:
        # the ReLU of the ERF objective and the ordering of the logits.
        f = g["stage3"]
        ctr = f[:, f.shape[1] // 2, f.shape[2] // 2].abs().min().item()
        srt = g["logits"].sort(descending=True).values
        gap = (srt[:-1] - srt[1:]).min().item()
        assert ctr > 1e-3 and gap > 1e-3, (config, xn, ctr, gap)
        st = "  ".join(f"s{i} std {g[f'stage{i}'].std().item():.3g}" for i in range(4))
        print(f"  {config:14s} {xn:9s} {st}  |logit|max {g['logits'].abs().max().item():.3g}"
              f"  top1 {g['logits'].argmax().item()}  erf_map sum {g['erf_map'].sum().item():.4g}")
    gpath = os.path.join(d, "golden.safetensors")
    write_safetensors(gpath, tensors, {"config": config, "generator": "tools/golden/gen.py",
                                       "torch": torch.__version__, "seed": str(MODEL_SEEDS[config]),
                                       "input_seeds": str({k: v[0] for k, v in INPUT_SEEDS.items()})})
    back, _ = read_safetensors(gpath)
    for k, v in tensors.items():
        assert torch.equal(back[k], v.float()), k
    written.append(gpath)
    return model


def open_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--only", nargs="*", help="subset of: slak_tiny convnext_tiny replknet_tiny variants")
    args = ap.parse_args()
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)  # same reduction order on every machine we run this on
    out = args.out
    os.makedirs(out, exist_ok=True)
    written = []
    photo = os.path.join(out, "photo.png")
    with open(PHOTO_SRC, "rb") as f:
        src = f.read()
    if not os.path.exists(photo) or open_bytes(photo) != src:
        shutil.copyfile(PHOTO_SRC, photo)
    written.append(photo)
    xs = inputs(photo)
    todo = args.only or ["slak_tiny", "convnext_tiny", "replknet_tiny", "variants"]
    slak_model = None
    for config in ("slak_tiny", "convnext_tiny", "replknet_tiny"):
        if config in todo:
            m = write_config(out, config, xs, written)
            if config == "slak_tiny":
                slak_model = m
    if "variants" in todo:
        if slak_model is None:
            slak_model = build("slak_tiny")
        write_variants(out, slak_model, xs, written)
    total = 0
    for p in written:
        n = os.path.getsize(p)
        total += n
        print(f"{n:>10,d}  {os.path.relpath(p, out)}")
    print(f"{total:>10,d}  total written")


if __name__ == "__main__":
    main()
