#!/usr/bin/env python3
"""The seed-004 Fashion-MNIST CNN in PyTorch, trained the way weft-fashion-mnist trains it.

Used by bench/compare_pytorch_cpu.sh to time one training epoch side by side with weft on the
same machine, the same images (the real Fashion-MNIST from Debian's dataset-fashion-mnist), the
same model, optimizer, batch size and thread count. Prints one JSON line.

Model (names as in weft's models/fashion_cnn.h; the class is FashionCnn in seed_models.py):
  features:   Conv2d(1, F, 3) -> ReLU -> MaxPool2d(2)
  classifier: Flatten -> Dropout(p) -> Linear(F*13*13, 32) -> ReLU -> Linear(32, 10)

    /usr/bin/python3 bench/pytorch/fashion_cnn.py --epochs 1 --threads 2
"""
import argparse
import gzip
import json
import os
import time

import numpy as np
import torch
from torch import nn

from seed_models import FashionCnn


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic = int.from_bytes(data[0:4], "big")
    if magic == 0x803:
        n, rows, cols = (int.from_bytes(data[i:i + 4], "big") for i in (4, 8, 12))
        return np.frombuffer(data, dtype=np.uint8, offset=16).reshape(n, 1, rows, cols)
    n = int.from_bytes(data[4:8], "big")
    return np.frombuffer(data, dtype=np.uint8, offset=8)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--filters", type=int, default=64)
    parser.add_argument("--dropout", type=float, default=0.3)
    parser.add_argument("--train-images", type=int, default=48000)
    parser.add_argument("--threads", type=int, default=0, help="0: all cores")
    args = parser.parse_args()

    torch.set_num_threads(args.threads or os.cpu_count())
    torch.manual_seed(1)
    images = read_idx(f"{args.data}/train-images-idx3-ubyte.gz")[: args.train_images]
    labels = read_idx(f"{args.data}/train-labels-idx1-ubyte.gz")[: args.train_images]
    x_all = torch.from_numpy(images.astype(np.float32) / 255.0)
    y_all = torch.from_numpy(labels.astype(np.int64))

    model = FashionCnn(args.filters, args.dropout)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    epoch_seconds = []
    for _ in range(args.epochs):
        model.train()
        order = torch.randperm(len(y_all))
        start = time.perf_counter()
        correct = 0
        for begin in range(0, len(order), args.batch_size):
            index = order[begin:begin + args.batch_size]
            x, y = x_all[index], y_all[index]
            optimizer.zero_grad()
            logits = model(x)
            loss = loss_fn(logits, y)
            loss.backward()
            optimizer.step()
            correct += int((logits.argmax(1) == y).sum())
        epoch_seconds.append(time.perf_counter() - start)
    print(json.dumps({"framework": "pytorch", "version": torch.__version__,
                      "threads": torch.get_num_threads(), "epoch_seconds": epoch_seconds,
                      "train_accuracy_last_epoch": correct / len(y_all)}))


if __name__ == "__main__":
    main()
