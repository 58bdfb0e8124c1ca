#!/usr/bin/env python3
"""The whole-model GPU tables of docs/benchmarks.md from one bench/gpu_oneshot.sh results folder:
weft's training step and inference against PyTorch's, per seed model, at fp32 and at bf16, and
weft's runtime counters per step.

    bench/gpu_step_table.py RESULTS_DIR

reads what the one-shot's models, graphs and pytorch stages wrote there:

  gpu_models.json          bench_models --weft_device=cuda: cuda-auto, cuda-hand, cuda-vendor
  gpu_models_graphs.json   cuda-auto with CUDA graphs (--weft_graphs=auto), fp32
  gpu_models_bf16.json     the same at --precision bf16
  pytorch_cuda.jsonl       bench/pytorch/step_bench.py --mode eager, fp32
  pytorch_cuda_graphs.jsonl                   --mode cudagraphs, fp32
  pytorch_cuda_bf16.jsonl                     --mode eager,cudagraphs --precision bf16

A file that is missing, or a JSON cut short by a stage's time cap (closed after its last
complete row), leaves its cells as "—". Ratios are weft's images/s over PyTorch's (above 1:
weft is faster). Standard library only.
"""
import json
import math
import os
import sys

WEFT_FILES = {"plain": "gpu_models.json", "graphs": "gpu_models_graphs.json",
              "bf16": "gpu_models_bf16.json"}
TORCH_FILES = ["pytorch_cuda.jsonl", "pytorch_cuda_graphs.jsonl", "pytorch_cuda_bf16.jsonl"]
COUNTERS = ["launches", "library_calls", "graph_launches", "host_syncs", "h2d_copies",
            "d2h_copies", "driver_allocs", "pool_hits"]


def read_benchmark_json(path):
    """Google Benchmark JSON; one cut short (no closing brackets) is closed after its last row."""
    with open(path) as f:
        text = f.read()
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        end = text.rfind("\n    },")
        if end < 0:
            raise
        return json.loads(text[:end + 6] + "\n  ]\n}\n")


def weft_rows(folder):
    """{(file key, backend, model, phase): benchmark entry}"""
    rows = {}
    for key, name in WEFT_FILES.items():
        path = os.path.join(folder, name)
        if not os.path.exists(path):
            continue
        for entry in read_benchmark_json(path)["benchmarks"]:
            phase, model, backend = entry["name"].split("/")[:3]
            rows[(key, backend, model, phase)] = entry
    return rows


def torch_rows(folder):
    """{(precision, mode, model, phase): JSON object} for rows that have timings."""
    rows = {}
    for name in TORCH_FILES:
        path = os.path.join(folder, name)
        if not os.path.exists(path):
            continue
        with open(path) as f:
            for line in f:
                if not line.startswith("{"):
                    continue
                row = json.loads(line)
                if "images_per_second" in row:
                    rows[(row.get("precision", "fp32"), row["mode"], row["model"],
                          row["phase"])] = row
    return rows


def fmt_rate(value):
    if value is None:
        return "—"
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def fmt_ratio(a, b):
    return f"{a / b:.2f}" if a is not None and b else ""


def rate(row):
    return None if row is None else row["images_per_second"]


def geometric_mean(values):
    values = [v for v in values if v]
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else None


def models_in_order(weft, torch):
    seen = []
    for key in list(weft) + list(torch):
        model = key[2]
        if model not in seen:
            seen.append(model)
    return seen


def step_table(weft, torch, models):
    head = ("| model | phase | weft auto | weft auto + graphs | weft hand | PyTorch eager | "
            "PyTorch graphs | auto+graphs / eager | auto+graphs / graphs | auto / eager |")
    lines = ["### fp32 (images/s)", "", head, "|---|---|" + "---:|" * 8]
    ratios = {"eager": [], "graphs": []}
    for model in models:
        for phase in ("train_step", "inference"):
            auto = rate(weft.get(("plain", "cuda-auto", model, phase)))
            graphs = rate(weft.get(("graphs", "cuda-auto", model, phase)))
            hand = rate(weft.get(("plain", "cuda-hand", model, phase)))
            eager = rate(torch.get(("fp32", "eager", model, phase)))
            tgraphs = rate(torch.get(("fp32", "cudagraphs", model, phase)))
            if phase == "train_step" and graphs and eager and tgraphs:
                ratios["eager"].append(graphs / eager)
                ratios["graphs"].append(graphs / tgraphs)
            lines.append(f"| {model} | {phase} | {fmt_rate(auto)} | {fmt_rate(graphs)} | "
                         f"{fmt_rate(hand)} | {fmt_rate(eager)} | {fmt_rate(tgraphs)} | "
                         f"{fmt_ratio(graphs, eager)} | {fmt_ratio(graphs, tgraphs)} | "
                         f"{fmt_ratio(auto, eager)} |")
    for name, values in ratios.items():
        mean = geometric_mean(values)
        if mean:
            lines.append(f"\nTraining step, weft auto + graphs over PyTorch {name}: geometric mean "
                         f"{mean:.2f} over {len(values)} models, lowest {min(values):.2f}.")
    lines += ["", "### bf16 (images/s)", "",
              "| model | phase | weft auto + graphs | PyTorch eager | PyTorch graphs | "
              "weft / eager | weft / graphs |", "|---|---|" + "---:|" * 5]
    for model in models:
        for phase in ("train_step", "inference"):
            weft_bf16 = rate(weft.get(("bf16", "cuda-auto", model, phase)))
            eager = rate(torch.get(("bf16", "eager", model, phase)))
            tgraphs = rate(torch.get(("bf16", "cudagraphs", model, phase)))
            lines.append(f"| {model} | {phase} | {fmt_rate(weft_bf16)} | {fmt_rate(eager)} | "
                         f"{fmt_rate(tgraphs)} | {fmt_ratio(weft_bf16, eager)} | "
                         f"{fmt_ratio(weft_bf16, tgraphs)} |")
    return lines


def counter_table(weft, models):
    lines = ["### weft's runtime counters per training step (cuda-auto; eager / graphs)", "",
             "| model | " + " | ".join(COUNTERS) + " |", "|---|" + "---:|" * len(COUNTERS)]
    for model in models:
        plain = weft.get(("plain", "cuda-auto", model, "train_step"))
        graphs = weft.get(("graphs", "cuda-auto", model, "train_step"))
        if plain is None and graphs is None:
            continue
        cells = []
        for counter in COUNTERS:
            values = [f"{row[counter]:g}" if row is not None and counter in row else "—"
                      for row in (plain, graphs)]
            cells.append(" / ".join(values))
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    return lines


def main(argv):
    if len(argv) != 2 or not os.path.isdir(argv[1]):
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        print("gpu_step_table: expected one results folder", file=sys.stderr)
        return 2
    weft, torch = weft_rows(argv[1]), torch_rows(argv[1])
    if not weft and not torch:
        print(f"gpu_step_table: {argv[1]}: none of {', '.join(WEFT_FILES.values())}, "
              f"{', '.join(TORCH_FILES)}", file=sys.stderr)
        return 1
    models = models_in_order(weft, torch)
    print("\n".join(step_table(weft, torch, models) + [""] + counter_table(weft, models)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
