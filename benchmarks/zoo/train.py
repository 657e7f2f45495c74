#!/usr/bin/python3
"""Train the cascadeserve demo model zoo: a ladder of Fashion-MNIST classifiers.

Requirements (Debian 12 or 13, no pip needed):

    apt-get install -y python3-torch python3-onnx dataset-fashion-mnist

Run (always with the system interpreter, which sees the Debian packages):

    /usr/bin/python3 benchmarks/zoo/train.py --out models/fmnist

Options:
    --only NAME[,NAME...]  retrain only these models; the other entries of an existing
                           cascade.json are kept (the manifest stays ordered cheapest first)
    --epochs-scale F       multiply every model's epoch count by F (e.g. 0.1 for a smoke run;
                           at least one epoch is always run)
    --data DIR             directory holding the Fashion-MNIST IDX .gz files
                           (default /usr/share/datasets/fashion-mnist)
    --threads N            torch intra-op threads for training (default 2)

What it writes under --out:
    <model>.onnx           opset 13; input "input" float32 [N,1,28,28] = pixel/255,
                           output "logits" float32 [N,10]; dynamic batch axis N
    data/validation.bin    5,000 t10k images (planner's threshold selection)
    data/heldout.bin       the other 5,000 t10k images (reporting only)
    cascade.json           the manifest (params, analytic MFLOPs per image, accuracies)

The t10k split: numpy.random.RandomState(20240614).permutation(10000); the first 5,000
indices are the validation half, the last 5,000 the held-out half. Accuracies in the
manifest are computed in PyTorch with the eval-mode model that was exported, on exactly
those two halves; the TypeScript test recomputes them through ONNX Runtime.

Binary data format (little-endian): b"CSDATA01", uint32 count, rows, cols, classes,
count*rows*cols uint8 pixels (row-major, image after image), count uint8 labels.

Uses only stable APIs (torch.onnx.export with dynamic_axes, TorchScript-based exporter),
so it runs on PyTorch 1.13 (Debian 12) and newer releases (Debian 13).
"""
import argparse
import gzip
import inspect
import json
import math
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

SPLIT_SEED = 20240614
CLASS_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
# Mean and standard deviation of the training pixels (pixel/255); folded into each model
# so that the exported graph takes plain pixel/255.
MEAN, STD = 0.2860, 0.3530


# ----------------------------------------------------------------------------- data
def read_idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    magic = struct.unpack(">I", raw[:4])[0]
    dtype_code, ndim = (magic >> 8) & 0xFF, magic & 0xFF
    if dtype_code != 0x08:
        raise ValueError(f"{path}: expected unsigned byte IDX data, got type 0x{dtype_code:02x}")
    dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise ValueError(f"{path}: expected {int(np.prod(dims))} bytes of data, found {data.size}")
    return data.reshape(dims)


def load_split(data_dir, prefix):
    images = read_idx(os.path.join(data_dir, f"{prefix}-images-idx3-ubyte.gz"))
    labels = read_idx(os.path.join(data_dir, f"{prefix}-labels-idx1-ubyte.gz"))
    assert images.shape[0] == labels.shape[0]
    return images, labels


def write_csdata(path, images, labels, classes=10):
    count, rows, cols = images.shape
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(b"CSDATA01")
        f.write(struct.pack("<IIII", count, rows, cols, classes))
        f.write(np.ascontiguousarray(images, dtype=np.uint8).tobytes())
        f.write(np.ascontiguousarray(labels, dtype=np.uint8).tobytes())


def to_tensor(images):
    return torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)


def augment(x, gen, crop=True, flip=True):
    """Per-sample random horizontal flip and random 28x28 crop of the 2-pixel zero-padded image."""
    n, _, h, w = x.shape
    if flip:
        m = torch.rand(n, generator=gen) < 0.5
        x = torch.where(m[:, None, None, None], x.flip(3), x)
    if crop:
        p = F.pad(x, (2, 2, 2, 2))
        dy = torch.randint(0, 5, (n,), generator=gen)
        dx = torch.randint(0, 5, (n,), generator=gen)
        iy = (dy[:, None] + torch.arange(h)[None, :])[:, :, None]
        ix = (dx[:, None] + torch.arange(w)[None, :])[:, None, :]
        x = p[torch.arange(n)[:, None, None], 0, iy, ix].unsqueeze(1)
    return x


# ----------------------------------------------------------------------------- models
class Normalize(nn.Module):
    def forward(self, x):
        return (x - MEAN) / STD


class LogReg(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(784, 10)

    def forward(self, x):
        return self.fc(torch.flatten(x, 1))


class MLP(nn.Module):
    def __init__(self, hidden=256):
        super().__init__()
        self.norm = Normalize()
        self.fc1 = nn.Linear(784, hidden)
        self.fc2 = nn.Linear(hidden, 10)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(torch.flatten(self.norm(x), 1))))


class SimpleCNN(nn.Module):
    """conv3x3(c1)-relu-pool, conv3x3(c2)-relu-pool, fc(hidden)-relu, fc(10)."""

    def __init__(self, c1, c2, hidden):
        super().__init__()
        self.norm = Normalize()
        self.conv1 = nn.Conv2d(1, c1, 3, padding=1)
        self.conv2 = nn.Conv2d(c1, c2, 3, padding=1)
        self.fc1 = nn.Linear(c2 * 7 * 7, hidden)
        self.drop = nn.Dropout(0.25)
        self.fc2 = nn.Linear(hidden, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(self.norm(x))), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = self.drop(F.relu(self.fc1(torch.flatten(x, 1))))
        return self.fc2(x)


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.short = None
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False),
                                       nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + (x if self.short is None else self.short(x)))


class ResNet(nn.Module):
    """Stem conv3x3(32) at 28x28, then residual blocks (channels, stride), global average pool, fc."""

    def __init__(self, stem=32, blocks=((64, 2), (128, 2))):
        super().__init__()
        self.norm = Normalize()
        self.stem = nn.Sequential(nn.Conv2d(1, stem, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(stem), nn.ReLU(inplace=True))
        layers, c = [], stem
        for cout, stride in blocks:
            layers.append(BasicBlock(c, cout, stride))
            c = cout
        self.blocks = nn.Sequential(*layers)
        self.fc = nn.Linear(c, 10)

    def forward(self, x):
        x = self.blocks(self.stem(self.norm(x)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class FlipTTA(nn.Module):
    """Test-time augmentation baked into the exported graph: the logits of an image and of its
    horizontal mirror image are averaged (one pass over a batch of 2N). Twice the compute."""
    passes = 2

    def __init__(self, model, width=28):
        super().__init__()
        self.model = model
        self.register_buffer("rev", torch.arange(width - 1, -1, -1))

    def forward(self, x):
        y = self.model(torch.cat([x, x.index_select(3, self.rev)], 0))
        return y.reshape(2, -1, y.shape[1]).mean(0)


# name, constructor, epochs, batch, optimizer config, augmentation, label smoothing
LADDER = [
    dict(name="logreg", make=LogReg, epochs=10, batch=128, lr=0.05, opt="sgd", wd=0.0,
         aug=False, smooth=0.0,
         description="logistic regression (linear 784->10)"),
    dict(name="mlp", make=lambda: MLP(256), epochs=8, batch=128, lr=0.1, opt="sgd", wd=5e-4,
         aug=False, smooth=0.0,
         description="multi-layer perceptron 784-256-10, ReLU"),
    dict(name="cnn-small", make=lambda: SimpleCNN(8, 16, 64), epochs=6, batch=128, lr=0.1,
         opt="sgd", wd=5e-4, aug=False, smooth=0.0,
         description="CNN conv3x3(8)-pool-conv3x3(16)-pool-fc64-fc10"),
    dict(name="cnn-medium", make=lambda: SimpleCNN(32, 64, 128), epochs=5, batch=128, lr=0.1,
         opt="sgd", wd=5e-4, aug=True, smooth=0.0,
         description="CNN conv3x3(32)-pool-conv3x3(64)-pool-fc128-fc10"),
    dict(name="resnet", make=lambda: ResNet(32, ((64, 2), (128, 2))), epochs=12, batch=128,
         lr=0.2, opt="sgd", wd=5e-4, aug=True, smooth=0.1, tta=True,
         description="ResNet: stem conv3x3(32) + basic blocks 64/s2, 128/s2 with batch norm, "
                     "global average pool, fc10; exported with horizontal-flip test-time "
                     "augmentation (logits of the image and its mirror image averaged)"),
]


# ----------------------------------------------------------------------------- analysis
def count_macs(model):
    """Multiply-accumulates per image of all Conv2d and Linear layers (from layer shapes)."""
    macs = [0]

    def conv_hook(m, inp, out):
        k = m.kernel_size[0] * m.kernel_size[1] * (m.in_channels // m.groups)
        macs[0] += out[0].numel() * k

    def lin_hook(m, inp, out):
        macs[0] += m.in_features * m.out_features

    hooks = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            hooks.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            hooks.append(m.register_forward_hook(lin_hook))
    was_training = model.training
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, 1, 28, 28))
    model.train(was_training)
    for h in hooks:
        h.remove()
    return macs[0] * getattr(model, "passes", 1)


def count_params(model):
    return sum(p.numel() for p in model.parameters())


@torch.no_grad()
def predict(model, x, batch=1000):
    model.eval()
    out = []
    for i in range(0, x.shape[0], batch):
        out.append(model(x[i:i + batch]).argmax(1))
    return torch.cat(out)


def accuracy(model, x, y):
    return (predict(model, x) == y).float().mean().item()


@torch.no_grad()
def time_per_image(model, batch=32, reps=20):
    """Seconds per image of eval-mode PyTorch inference, one thread, at the given batch."""
    model.eval()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    x = torch.rand(batch, 1, 28, 28)
    for _ in range(3):
        model(x)
    t0 = time.perf_counter()
    for _ in range(reps):
        model(x)
    dt = (time.perf_counter() - t0) / (reps * batch)
    torch.set_num_threads(threads)
    return dt


def export_onnx(model, path):
    model.eval()
    kwargs = dict(input_names=["input"], output_names=["logits"],
                  dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}},
                  opset_version=13, do_constant_folding=True)
    # Newer PyTorch releases may default to the dynamo-based exporter; ask for the
    # TorchScript exporter, whose dynamic_axes behaviour is the same on 1.13 and 2.x.
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        kwargs["dynamo"] = False
    with torch.no_grad():
        torch.onnx.export(model, torch.zeros(1, 1, 28, 28), path, **kwargs)
    try:
        import onnx
        m = onnx.load(path)
        onnx.checker.check_model(m)
        ins = [i.name for i in m.graph.input]
        outs = [o.name for o in m.graph.output]
        assert ins == ["input"] and outs == ["logits"], (ins, outs)
    except ImportError:
        print("  (python3-onnx not installed; skipped the ONNX check)")


# ----------------------------------------------------------------------------- training
def train_one(spec, data, out_dir, epochs_scale, seed):
    name = spec["name"]
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = spec["make"]()
    xtr, ytr, xval, yval, xho, yho = data
    epochs = max(1, int(round(spec["epochs"] * epochs_scale)))
    n = xtr.shape[0]
    steps = epochs * math.ceil(n / spec["batch"])
    decay, no_decay = [], []
    for p in model.parameters():
        (decay if p.dim() > 1 else no_decay).append(p)
    groups = [{"params": decay, "weight_decay": spec["wd"]},
              {"params": no_decay, "weight_decay": 0.0}]
    opt = torch.optim.SGD(groups, lr=spec["lr"], momentum=0.9, nesterov=True)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=spec["lr"], total_steps=steps,
                                                pct_start=0.2, anneal_strategy="cos")
    loss_fn = nn.CrossEntropyLoss(label_smoothing=spec["smooth"])
    macs = count_macs(model)
    params = count_params(model)
    print(f"== {name}: {spec['description']}; {params} params, {2 * macs / 1e6:.4f} MFLOPs/image, "
          f"{epochs} epochs", flush=True)
    t_start = time.time()
    for ep in range(epochs):
        model.train()
        t0 = time.time()
        perm = torch.randperm(n, generator=gen)
        total, correct, loss_sum = 0, 0, 0.0
        for i in range(0, n, spec["batch"]):
            idx = perm[i:i + spec["batch"]]
            xb, yb = xtr[idx], ytr[idx]
            if spec["aug"]:
                xb = augment(xb, gen)
            logits = model(xb)
            loss = loss_fn(logits, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += loss.item() * yb.shape[0]
            correct += (logits.argmax(1) == yb).sum().item()
            total += yb.shape[0]
        val = accuracy(model, xval, yval)
        print(f"  {name} epoch {ep + 1}/{epochs}: loss {loss_sum / total:.4f} "
              f"train acc {correct / total:.4f} val acc {val:.4f} ({time.time() - t0:.1f} s)",
              flush=True)
    train_s = time.time() - t_start
    model.eval()
    if spec.get("tta"):
        print(f"  {name} before test-time augmentation: validation {accuracy(model, xval, yval):.4f}",
              flush=True)
        model = FlipTTA(model).eval()
        macs = count_macs(model)
    path = os.path.join(out_dir, f"{name}.onnx")
    export_onnx(model, path)
    acc_val = accuracy(model, xval, yval)
    acc_ho = accuracy(model, xho, yho)
    t32 = time_per_image(model, 32)
    print(f"  {name} final: validation {acc_val:.4f} held-out {acc_ho:.4f}; trained in "
          f"{train_s:.1f} s; torch 1-thread {t32 * 1e6:.1f} us/image at batch 32; "
          f"{os.path.getsize(path)} bytes ONNX", flush=True)
    return {
        "name": name,
        "file": f"{name}.onnx",
        "description": spec["description"],
        "input": "input",
        "output": "logits",
        "outputKind": "logits",
        "params": params,
        "mflopsPerImage": round(2 * macs / 1e6, 4),
        "accuracy": {"validation": round(acc_val, 4), "heldout": round(acc_ho, 4)},
    }, train_s, t32


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="models/fmnist")
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--only", default=None, help="comma-separated model names to (re)train")
    ap.add_argument("--epochs-scale", type=float, default=1.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1234)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    np.random.seed(args.seed)
    names = [s["name"] for s in LADDER]
    only = names if not args.only else [s.strip() for s in args.only.split(",") if s.strip()]
    for o in only:
        if o not in names:
            sys.exit(f"unknown model {o!r}; known: {', '.join(names)}")
    os.makedirs(args.out, exist_ok=True)

    tr_img, tr_lab = load_split(args.data, "train")
    te_img, te_lab = load_split(args.data, "t10k")
    perm = np.random.RandomState(SPLIT_SEED).permutation(te_img.shape[0])
    half = te_img.shape[0] // 2
    val_idx, ho_idx = perm[:half], perm[half:]
    write_csdata(os.path.join(args.out, "data", "validation.bin"), te_img[val_idx], te_lab[val_idx])
    write_csdata(os.path.join(args.out, "data", "heldout.bin"), te_img[ho_idx], te_lab[ho_idx])
    data = (to_tensor(tr_img), torch.from_numpy(tr_lab.astype(np.int64)),
            to_tensor(te_img[val_idx]), torch.from_numpy(te_lab[val_idx].astype(np.int64)),
            to_tensor(te_img[ho_idx]), torch.from_numpy(te_lab[ho_idx].astype(np.int64)))
    print(f"train {tr_img.shape[0]} images; validation {len(val_idx)}, held-out {len(ho_idx)}; "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads", flush=True)

    manifest_path = os.path.join(args.out, "cascade.json")
    existing = {}
    if args.only and os.path.exists(manifest_path):
        with open(manifest_path) as f:
            existing = {m["name"]: m for m in json.load(f).get("models", [])}

    t_all = time.time()
    summary = []
    for i, spec in enumerate(LADDER):
        if spec["name"] not in only:
            continue
        entry, train_s, t32 = train_one(spec, data, args.out, args.epochs_scale, args.seed + i)
        existing[spec["name"]] = entry
        summary.append((entry, train_s, t32))
        write_manifest(manifest_path, existing)  # after each model, so progress is kept

    print(f"\ntotal training time {time.time() - t_all:.1f} s")
    print(f"{'model':<12}{'params':>10}{'MFLOPs':>10}{'val acc':>9}{'heldout':>9}"
          f"{'train s':>9}{'us/img@32':>11}")
    for e, s, t in summary:
        print(f"{e['name']:<12}{e['params']:>10}{e['mflopsPerImage']:>10.4f}"
              f"{e['accuracy']['validation']:>9.4f}{e['accuracy']['heldout']:>9.4f}"
              f"{s:>9.1f}{t * 1e6:>11.1f}")


def write_manifest(path, entries):
    order = [s["name"] for s in LADDER]
    models = [entries[n] for n in order if n in entries]
    models += [m for n, m in entries.items() if n not in order]
    manifest = {
        "name": "fmnist",
        "version": 1,
        "description": "Fashion-MNIST classifier cascade ladder, cheapest first "
                       "(trained by benchmarks/zoo/train.py)",
        "input": {"name": "input", "shape": [1, 28, 28], "datatype": "FP32",
                  "preprocessing": "pixel/255"},
        "output": {"name": "logits", "kind": "logits", "classes": 10},
        "classNames": CLASS_NAMES,
        "data": {"validation": "data/validation.bin", "heldout": "data/heldout.bin"},
        "models": models,
    }
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)


if __name__ == "__main__":
    main()
