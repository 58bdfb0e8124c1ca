#!/usr/bin/env python3
"""The scaling model of docs/distributed.md: data-parallel step time of the seed models on 1-64
GPUs, over NVLink within a node (up to 8 GPUs) and InfiniBand NDR between nodes, from each
model's parameter count and its measured one-GPU training step (docs/benchmarks/
gpu_models_h200.json, cuda-vendor rows). Prints the markdown tables the doc quotes.

Model (per step, weak scaling: every GPU keeps its batch):
  ring all-reduce of one bucket of b bytes over N GPUs:
      t(b) = 2 (N - 1) alpha + 2 (N - 1) / N * b / bandwidth
  buckets of 4 MiB (weft's default), started as backward makes them ready;
  backward = 2/3 of the measured step (backward does about twice forward's work);
  exposed communication = max(t(last bucket), sum of t(bucket) - backward): the last bucket
  can only start when backward ends, the others hide behind backward while it lasts;
  step(N) = step(1) + exposed; efficiency = step(1) / step(N).
"""
import json
import math
import os

HERE = os.path.dirname(os.path.abspath(__file__))
MEASURED = os.path.join(HERE, "..", "docs", "benchmarks", "gpu_models_h200.json")
BUCKET = 4 * 1024 * 1024
LINKS = {
    # per GPU and direction; alpha: latency of one ring step (assumed, see the doc)
    "nvlink": (450e9, 2e-6),
    "infiniband": (50e9, 6e-6),
}
GPUS = [1, 2, 4, 8, 16, 32, 64]


def allreduce_seconds(nbytes, n, link):
    bandwidth, alpha = LINKS[link]
    if n == 1:
        return 0.0
    return 2 * (n - 1) * alpha + 2 * (n - 1) / n * nbytes / bandwidth


def step_ms(params, step1_ms, n, exchanges=1):
    if n == 1:
        return step1_ms
    link = "nvlink" if n <= 8 else "infiniband"
    nbytes = params * 4 / exchanges
    buckets = max(1, math.ceil(nbytes / BUCKET))
    sizes = [BUCKET] * (buckets - 1) + [nbytes - BUCKET * (buckets - 1)]
    total = sum(allreduce_seconds(b, n, link) for b in sizes) * 1e3 * exchanges
    last = allreduce_seconds(sizes[-1], n, link) * 1e3 * exchanges
    backward = step1_ms * 2 / 3
    return step1_ms + max(last, total - backward)


def main():
    with open(MEASURED) as f:
        rows = json.load(f)["benchmarks"]
    print("| model | parameters | gradient MB | 1-GPU step ms (batch) | " +
          " | ".join(f"{n} GPUs" for n in GPUS[1:]) + " |")
    print("|---|---|---|---|" + "---|" * (len(GPUS) - 1))
    for row in rows:
        name = row["name"]
        if not (name.startswith("train_step/") and "/cuda-vendor/" in name):
            continue
        model = name.split("/")[1]
        if model == "apparel_cnn":
            continue  # its measured step was the Tensor::slice copy storm, since fixed
        params = int(row["parameters"])
        step1 = row["real_time"]
        exchanges = 2 if model.startswith("dcgan") else 1  # generator and discriminator
        cells = []
        for n in GPUS[1:]:
            t = step_ms(params, step1, n, exchanges)
            cells.append(f"{step1 / t * 100:.0f}%")
        print(f"| {model} | {params:,} | {params * 4 / 1e6:.1f} | {step1:.2f} ({int(row['batch'])}) | " +
              " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
