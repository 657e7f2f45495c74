#!/usr/bin/python3
"""Train the token-cascade test fixture: three token-sequence classifiers of increasing cost.

Requirements (Debian 12 or 13, no pip needed):

    apt-get install -y python3-torch python3-numpy python3-onnx

Run (with the system interpreter, which sees the Debian packages):

    /usr/bin/python3 scripts/train-token-cascade.py        # or: npm run fixture:tokens

The task (synthetic, so the fixture needs no download): a sequence of 4 to 24 tokens over the
vocabulary 1..11 (0 is padding) belongs to one of 4 classes, class = a + 2*b with
    a = 1 when token 1 occurs more often than token 2 (a question of counts), and
    b = 1 when token 3 occurs and its first occurrence comes before the first 4 (a question of
        order, possibly far apart).
A bag of embeddings sees counts but not order, so it answers `a` and guesses `b` when both
3 and 4 occur; a small convolution sees local order; a GRU reads the whole order. So cost and
accuracy rise together, as a cascade wants.

What it writes under test/fixtures/token-cascade/ (every model: two INT64 inputs input_ids
and attention_mask [batch, seq], both axes dynamic; each item's answer does not depend on
padding beyond its mask):
    bag.onnx    embedding sum under the mask, MLP           output "logits"  (logits)
    conv.onnx   two masked 1-D convolutions, mean+max pool  output "scores"  (logits)
    gru.onnx    GRU, state at the item's last token         output "probs"   (softmax inside)
    data/input_ids.npy, data/attention_mask.npy  int64 [1200, 24], padded with 0
    data/labels.npy                             int64 [1200]
and under test/fixtures/token-extra/ the models the init tests need besides:
    bag-unmasked.onnx  the bag, but dividing by the padded length: padding changes its answer
    bag-int32.onnx     the bag with input_ids INT32 (models whose inputs disagree)
and under test/fixtures/npy/ small arrays written by NumPy for the .npy reader's test.

Seeds are fixed (torch, NumPy) and training is single-threaded, so a rerun on the same
PyTorch build writes the same files.
"""
import argparse
import inspect
import os

import numpy as np
import torch
import torch.nn as nn

VOCAB = 12  # 0 = padding, tokens 1..11
MIN_LEN, MAX_LEN = 4, 24
CLASSES = 4


def make_items(rng, count):
    lengths = rng.integers(MIN_LEN, MAX_LEN + 1, size=count)
    ids = np.zeros((count, MAX_LEN), dtype=np.int64)
    mask = np.zeros((count, MAX_LEN), dtype=np.int64)
    labels = np.zeros(count, dtype=np.int64)
    for i, n in enumerate(lengths):
        # Tokens 1-4 are drawn more often than the rest, so counts and orders are contested.
        p = np.array([3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1], dtype=np.float64)
        seq = rng.choice(np.arange(1, VOCAB), size=n, p=p / p.sum())
        ids[i, :n] = seq
        mask[i, :n] = 1
        a = int((seq == 1).sum() > (seq == 2).sum())
        pos3 = np.flatnonzero(seq == 3)
        pos4 = np.flatnonzero(seq == 4)
        b = int(len(pos3) > 0 and (len(pos4) == 0 or pos3[0] < pos4[0]))
        labels[i] = a + 2 * b
    return ids, mask, labels


class Bag(nn.Module):
    """Sum of token embeddings under the mask, then an MLP. `unmasked_mean` divides by the
    padded length instead (a model whose answer padding changes)."""

    def __init__(self, unmasked_mean=False, int32_ids=False):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, 16, padding_idx=0)
        self.mlp = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, CLASSES))
        self.unmasked_mean = unmasked_mean
        self.int32_ids = int32_ids

    def forward(self, input_ids, attention_mask):
        if self.int32_ids:
            input_ids = input_ids.long()
        m = attention_mask.unsqueeze(-1).float()
        pooled = (self.emb(input_ids) * m).sum(1)
        if self.unmasked_mean:
            pooled = pooled / input_ids.shape[1] * 8.0
        return self.mlp(pooled)


class Conv(nn.Module):
    """Two 1-D convolutions (kernel 3); positions past the mask are zeroed after each, so the
    padded item sees the same zeros as the convolution's own border."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, 16, padding_idx=0)
        self.c1 = nn.Conv1d(16, 48, 3, padding=1)
        self.c2 = nn.Conv1d(48, 48, 3, padding=1)
        self.out = nn.Sequential(nn.Linear(96, 48), nn.ReLU(), nn.Linear(48, CLASSES))

    def forward(self, input_ids, attention_mask):
        m = attention_mask.unsqueeze(1).float()  # [B, 1, T]
        x = self.emb(input_ids).transpose(1, 2)  # [B, E, T]
        x = torch.relu(self.c1(x)) * m
        x = torch.relu(self.c2(x)) * m
        mean = x.sum(2) / m.sum(2)
        mx = x.max(2).values  # after ReLU and masking every value is >= 0, so pads (0) never win over a real maximum
        return self.out(torch.cat([mean, mx], 1))


class Gru(nn.Module):
    """GRU over the tokens; the state after the item's last token (a GRU reads left to right,
    so padding after it changes nothing), then softmax."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, 24, padding_idx=0)
        self.gru = nn.GRU(24, 64, batch_first=True)
        self.out = nn.Linear(64, CLASSES)

    def forward(self, input_ids, attention_mask):
        h, _ = self.gru(self.emb(input_ids))  # [B, T, H]
        last = attention_mask.sum(1, keepdim=True) - 1  # [B, 1]
        idx = last.unsqueeze(-1).expand(-1, 1, h.shape[2])
        state = torch.gather(h, 1, idx).squeeze(1)
        return torch.softmax(self.out(state), dim=1)


def train(model, ids, mask, labels, epochs, lr, probabilities=False, log=""):
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    n = len(labels)
    gen = torch.Generator().manual_seed(7)
    ids_t, mask_t, lab_t = torch.from_numpy(ids), torch.from_numpy(mask), torch.from_numpy(labels)
    for epoch in range(epochs):
        model.train()
        perm = torch.randperm(n, generator=gen)
        total = 0.0
        for s in range(0, n, 64):
            b = perm[s:s + 64]
            out = model(ids_t[b], mask_t[b])
            loss = nn.functional.nll_loss(torch.log(out + 1e-9), lab_t[b]) if probabilities else nn.functional.cross_entropy(out, lab_t[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss) * len(b)
        print(f"  {log} epoch {epoch + 1}/{epochs} loss {total / n:.4f}", flush=True)
    model.eval()
    return model


def accuracy(model, ids, mask, labels):
    with torch.no_grad():
        out = model(torch.from_numpy(ids), torch.from_numpy(mask))
    return float((out.argmax(1).numpy() == labels).mean())


def export(model, path, output_name, ids_dtype=torch.int64):
    model.eval()
    ids = torch.ones(2, 5, dtype=ids_dtype)
    mask = torch.ones(2, 5, dtype=torch.int64)
    kwargs = dict(input_names=["input_ids", "attention_mask"], output_names=[output_name],
                  dynamic_axes={"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"},
                                output_name: {0: "batch"}},
                  opset_version=14, do_constant_folding=True)
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        kwargs["dynamo"] = False
    with torch.no_grad():
        torch.onnx.export(model, (ids, mask), path, **kwargs)
    try:
        import onnx
        m = onnx.load(path)
        onnx.checker.check_model(m)
        ins = [i.name for i in m.graph.input]
        outs = [o.name for o in m.graph.output]
        assert ins == ["input_ids", "attention_mask"] and outs == [output_name], (ins, outs)
    except ImportError:
        print("  (python3-onnx not installed; skipped the ONNX check)")


def check_pad_invariance(model, ids, mask, expect_invariant, name):
    """The exported model's promise, checked in PyTorch before it is written."""
    with torch.no_grad():
        full = model(torch.from_numpy(ids[:20]), torch.from_numpy(mask[:20]))
        worst = 0.0
        for i in range(20):
            n = int(mask[i].sum())
            one = model(torch.from_numpy(ids[i:i + 1, :n]), torch.from_numpy(mask[i:i + 1, :n]))
            worst = max(worst, float((one[0] - full[i]).abs().max()))
    ok = worst < 1e-5 if expect_invariant else worst > 1e-3
    print(f"  {name}: padded vs unpadded max difference {worst:.2e}")
    assert ok, f"{name}: pad invariance {'expected' if expect_invariant else 'not expected'}, difference {worst}"


def write_npy_samples(out):
    """Small arrays written by NumPy itself, read back by test/npy.test.ts."""
    os.makedirs(out, exist_ok=True)
    np.save(os.path.join(out, "f4.npy"), np.array([[1.5, -2.25, 3.0], [0.0, 1e-3, -7.0]], dtype="<f4"))
    np.save(os.path.join(out, "f2.npy"), np.array([1.0, -2.0, 0.5, 65504.0], dtype="<f2"))
    np.save(os.path.join(out, "i8.npy"), np.array([[0, -1], [2 ** 40, -(2 ** 62)], [7, 8]], dtype="<i8"))
    np.save(os.path.join(out, "i4.npy"), np.array([-5, 0, 2 ** 31 - 1], dtype="<i4"))
    np.save(os.path.join(out, "u1.npy"), np.arange(6, dtype=np.uint8).reshape(2, 3))
    np.save(os.path.join(out, "b1.npy"), np.array([True, False, True]))
    np.save(os.path.join(out, "scalar.npy"), np.array(42, dtype="<i4"))
    np.save(os.path.join(out, "empty.npy"), np.zeros((0, 3), dtype="<f4"))
    with open(os.path.join(out, "v2.npy"), "wb") as f:
        np.lib.format.write_array(f, np.array([[1, 2], [3, 4]], dtype="<i4"), version=(2, 0))
    np.save(os.path.join(out, "big-endian.npy"), np.array([1.0, 2.0], dtype=">f4"))
    np.save(os.path.join(out, "fortran.npy"), np.asfortranarray(np.arange(6, dtype="<f4").reshape(2, 3)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="test/fixtures/token-cascade")
    ap.add_argument("--extra", default="test/fixtures/token-extra")
    ap.add_argument("--npy-samples", default="test/fixtures/npy")
    ap.add_argument("--train-items", type=int, default=12000)
    ap.add_argument("--items", type=int, default=1200)
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(20261201)
    rng = np.random.default_rng(20261201)
    tr_ids, tr_mask, tr_labels = make_items(rng, args.train_items)
    ids, mask, labels = make_items(rng, args.items)
    print(f"class counts (fixture items): {np.bincount(labels, minlength=CLASSES).tolist()}")

    os.makedirs(os.path.join(args.out, "data"), exist_ok=True)
    os.makedirs(args.extra, exist_ok=True)
    specs = [("bag", Bag(), "logits", 12, 3e-3), ("conv", Conv(), "scores", 10, 2e-3), ("gru", Gru(), "probs", 5, 3e-3)]
    for name, model, output, epochs, lr in specs:
        train(model, tr_ids, tr_mask, tr_labels, epochs, lr, probabilities=output == "probs", log=name)
        print(f"{name}: accuracy on the fixture items {accuracy(model, ids, mask, labels):.4f}")
        check_pad_invariance(model, ids, mask, True, name)
        export(model, os.path.join(args.out, f"{name}.onnx"), output)
        if name == "bag":
            int32 = Bag(int32_ids=True)
            int32.load_state_dict(model.state_dict())
            export(int32, os.path.join(args.extra, "bag-int32.onnx"), "logits", ids_dtype=torch.int32)

    unmasked = train(Bag(unmasked_mean=True), tr_ids, tr_mask, tr_labels, 4, 3e-3, log="bag-unmasked")
    check_pad_invariance(unmasked, ids, mask, False, "bag-unmasked")
    export(unmasked, os.path.join(args.extra, "bag-unmasked.onnx"), "logits")

    np.save(os.path.join(args.out, "data", "input_ids.npy"), ids)
    np.save(os.path.join(args.out, "data", "attention_mask.npy"), mask)
    np.save(os.path.join(args.out, "data", "labels.npy"), labels)
    write_npy_samples(args.npy_samples)
    print("written:", args.out, args.extra, args.npy_samples)


if __name__ == "__main__":
    main()
