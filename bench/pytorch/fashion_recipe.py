#!/usr/bin/env python3
"""weft-fashion-mnist's recipes (--setup default and speedrun) in PyTorch: the twin of the
weft run for side-by-side time-to-accuracy (bench/fashion_recipe_race.sh runs both).

The same network (weft's models/fashion_vgg.h, with the same parameter names), the same
recipe: SGD with Nesterov momentum 0.9, weight decay on the weight matrices and kernels only,
a linear warm-up and decay (OneCycleLR, anneal_strategy="linear", div_factor 10,
final_div_factor 100), label smoothing, random crop (pad 2, black) + horizontal flip, flip
test-time augmentation, the same batch size, epochs and hold-out share. Not the same batches:
weft's shuffling and split come from its own generator, so the two runs see different orders
and initial weights; compare means over seeds, not single runs.

Prints one JSON line per epoch: train_seconds (training steps only, cumulative), val and test
accuracy (evaluated after the epoch, outside the clock), and a summary line at the end.

    python3 bench/pytorch/fashion_recipe.py --threads 2 --seed 1
    python3 bench/pytorch/fashion_recipe.py --setup speedrun --device cuda
    python3 bench/pytorch/fashion_recipe.py --setup speedrun --limit 512 --epochs 2   # CPU check
"""
import argparse
import gzip
import json
import os
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from seed_models import FashionVgg, recipe_param_groups  # weft's models/fashion_vgg.h

SETUPS = {
    # name: widths, convs per stage, whiten, batch, epochs, lr, label smoothing, warmup
    "default": dict(widths=(32, 64, 128), convs=(1, 1, 1), whiten=False, batch=128, epochs=12,
                    lr=0.1, smoothing=0.1, warmup=0.2),
    "speedrun": dict(widths=(64, 128, 256), convs=(1, 2, 2), whiten=True, batch=512, epochs=10,
                     lr=0.2, smoothing=0.2, warmup=0.2),
}


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    if int.from_bytes(data[0:4], "big") == 0x803:
        n, rows, cols = (int.from_bytes(data[i:i + 4], "big") for i in (4, 8, 12))
        return np.frombuffer(data, dtype=np.uint8, offset=16).reshape(n, 1, rows, cols)
    return np.frombuffer(data, dtype=np.uint8, offset=8)


def augment(x, generator):
    """Random crop with 2 pixels of black padding, and a horizontal flip with probability 1/2."""
    n = x.shape[0]
    padded = F.pad(x, (2, 2, 2, 2))
    dy = torch.randint(0, 5, (n,), generator=generator)
    dx = torch.randint(0, 5, (n,), generator=generator)
    out = torch.empty_like(x)
    for sy in range(5):
        for sx in range(5):
            pick = (dy == sy) & (dx == sx)
            if pick.any():
                out[pick] = padded[pick, :, sy:sy + 28, sx:sx + 28]
    flip = torch.rand(n, generator=generator) < 0.5
    out[flip] = out[flip].flip(3)
    return out


@torch.no_grad()
def accuracy(model, x, y, tta, batch=1000):
    model.eval()
    right = 0
    for i in range(0, len(x), batch):
        xb = x[i:i + batch]
        logits = model(xb)
        if tta:
            logits = (logits + model(xb.flip(3))) / 2
        right += (logits.argmax(1) == y[i:i + batch]).sum().item()
    model.train()
    return right / len(x)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--setup", default="default", choices=sorted(SETUPS))
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--lr", type=float)
    parser.add_argument("--label-smoothing", type=float)
    parser.add_argument("--warmup", type=float)
    parser.add_argument("--weight-decay", type=float, default=5e-4)
    parser.add_argument("--validation", type=float, default=0.1)
    parser.add_argument("--tta", default="flip", choices=["none", "flip"])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--limit", type=int, default=0,
                        help="quick checks: at most N images of each split (0: all)")
    parser.add_argument("--threads", type=int, default=0, help="0: all cores")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    s = dict(SETUPS[args.setup])
    for key, arg in (("epochs", args.epochs), ("batch", args.batch_size), ("lr", args.lr),
                     ("smoothing", args.label_smoothing), ("warmup", args.warmup)):
        if arg is not None:
            s[key] = arg

    torch.set_num_threads(args.threads or os.cpu_count())
    torch.manual_seed(args.seed)
    device = torch.device(args.device)
    generator = torch.Generator().manual_seed(args.seed)
    images = torch.from_numpy(read_idx(f"{args.data}/train-images-idx3-ubyte.gz").copy())
    labels = torch.from_numpy(read_idx(f"{args.data}/train-labels-idx1-ubyte.gz").astype(np.int64))
    test_x = torch.from_numpy(read_idx(f"{args.data}/t10k-images-idx3-ubyte.gz").copy())
    test_y = torch.from_numpy(read_idx(f"{args.data}/t10k-labels-idx1-ubyte.gz").astype(np.int64))
    order = torch.randperm(len(images), generator=generator)
    held = int(args.validation * len(images))
    val_x, val_y = images[order[:held]], labels[order[:held]]
    train_x, train_y = images[order[held:]], labels[order[held:]]
    if args.limit > 0:
        train_x, train_y = train_x[:args.limit], train_y[:args.limit]
        val_x, val_y = val_x[:args.limit], val_y[:args.limit]
        test_x, test_y = test_x[:args.limit], test_y[:args.limit]
    to_float = lambda u8: (u8.float() / 255.0).to(device)
    train_x, val_x, test_x = to_float(train_x), to_float(val_x), to_float(test_x)
    train_y, val_y, test_y = train_y.to(device), val_y.to(device), test_y.to(device)

    model = FashionVgg(s["widths"], s["convs"], s["whiten"]).to(device)
    if s["whiten"]:
        with torch.no_grad():
            model.init_whitening(train_x[:5000])
    optimizer = torch.optim.SGD(recipe_param_groups(model, args.weight_decay), lr=s["lr"],
                                momentum=0.9, nesterov=True)
    steps_per_epoch = (len(train_x) + s["batch"] - 1) // s["batch"]
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=s["lr"], total_steps=s["epochs"] * steps_per_epoch,
        pct_start=s["warmup"], anneal_strategy="linear", div_factor=10, final_div_factor=100,
        cycle_momentum=False)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=s["smoothing"])
    tta = args.tta == "flip"
    train_seconds = 0.0
    start = time.perf_counter()
    for epoch in range(1, s["epochs"] + 1):
        began = time.perf_counter()
        perm = torch.randperm(len(train_x), generator=generator).to(device)
        for i in range(0, len(train_x), s["batch"]):
            rows = perm[i:i + s["batch"]]
            x = augment(train_x[rows].cpu(), generator).to(device)
            loss = loss_fn(model(x), train_y[rows])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        train_seconds += time.perf_counter() - began
        row = {"epoch": epoch, "train_seconds": round(train_seconds, 2),
               "val_accuracy": accuracy(model, val_x, val_y, tta),
               "test_accuracy": accuracy(model, test_x, test_y, tta)}
        print(json.dumps(row), flush=True)
    print(json.dumps({"summary": True, "setup": args.setup, "seed": args.seed,
                      "threads": torch.get_num_threads(), "torch": torch.__version__,
                      "test_accuracy": row["test_accuracy"], "train_seconds": row["train_seconds"],
                      "process_seconds": round(time.perf_counter() - start, 2), **s}), flush=True)


if __name__ == "__main__":
    main()
