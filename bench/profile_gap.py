#!/usr/bin/env python3
"""Where a training step loses to PyTorch, family by family: weft's op profile (bench_models
--weft_profile=FILE writes FILE.json) beside PyTorch's (bench/pytorch/step_bench.py
--profile-steps N), one table per model, in milliseconds per step.

    python3 bench/profile_gap.py --weft profile.md.json --pytorch pytorch.jsonl \\
        [--weft-bench models.json] [--backend cpu|cuda-auto|cuda-hand|cuda-vendor] \\
        [--phase train_step|inference]

Both sides' times are sorted into the same groups: convolution, linear, batch norm, pool,
elementwise (activations, dropout, additions), loss (softmax and the losses), optimizer (the
update and zeroing gradients), copy (concatenation, slices, casts), other; and each group's
backward part beside it (weft's ops named *backward*, PyTorch's autograd nodes *Backward*).
weft's rows are grouped by the family its dispatch gives each op (kernels/backend.h,
WEFT_BACKEND_OPS), with two exceptions: the fused convolution + max pool (conv2d_max_pool2d_*)
counts as convolution, and the data and metric ops as other. PyTorch's rows are its ops'
outermost frames (step_bench.py), sorted by name.

What the times are: on the CPU, each op's wall time on both sides. On a GPU, PyTorch's is the
device time of its ops' kernels, and weft's each op's device time where its profile has one
(`device_ms`: timing events on the stream around the op's launches, so the first kernel's launch
latency stays in it), else its time on an idle device (synchronised before and after: launch
latency and the synchronisation included); weft's rows are then an upper bound of its kernels'
time, and "step" (each side's training step, wall clock) is the figure the two share: PyTorch's
the mean of step_bench's timed steps, weft's the benchmark's own step time from bench_models'
JSON where --weft-bench names it (else the profiled steps' wall time, which on a GPU includes a
synchronisation per op).

The "outside the ops" row is the profiled steps' wall time less their ops' time (both from the
same minutes, so the run-to-run spread between the profile and the timed steps stays out of it):
the engine's own work (tape, allocator, Python) on the CPU, and on a GPU also the device's idle
gaps. weft's slice and concat copies are no backend op, but its profile times them as rows of
their own (copy_rows, family "copy": engine/tensor.cpp), beside PyTorch's aten::cat.

A model that only one side profiled is listed as missing. Exit status 0, or 2 on unreadable
input (named with the file)."""
import argparse
import dataclasses
import json
import sys

GROUPS = ["convolution", "linear", "batch norm", "pool", "elementwise", "loss", "optimizer",
          "copy", "other"]

# weft's op families (kernels/backend.h) -> group; the ops named in WEFT_OP_GROUPS come first.
WEFT_FAMILY_GROUPS = {
    "conv": "convolution", "conv_transpose": "convolution", "gemm": "linear",
    "batchnorm": "batch norm", "pool": "pool", "dropout": "elementwise",
    "elementwise": "elementwise", "softmax": "loss", "loss": "loss", "optimizer": "optimizer",
    "copy": "copy",  # not a backend family: engine/tensor.cpp's slice and concat copies
}
WEFT_OP_GROUPS = {
    "conv2d_max_pool2d_forward": "convolution",
    "conv2d_max_pool2d_backward_filter": "convolution",
    "u8_to_f32": "other", "gather_u8_to_f32": "other", "gather_augment_u8_to_f32": "other",
    "count_argmax_hits": "other", "count_threshold_hits": "other",
}

# PyTorch frame names -> group: the first rule whose text the name contains (in order; so
# "AddmmBackward" is linear before "Add" could make it elementwise).
PYTORCH_RULES = [
    ("Optimizer.", "optimizer"), ("_foreach", "optimizer"),
    ("aten::cat", "copy"), ("CatBackward", "copy"), ("aten::copy_", "copy"),
    ("aten::slice", "copy"), ("SliceBackward", "copy"), ("aten::narrow", "copy"),
    ("aten::clone", "copy"), ("aten::contiguous", "copy"), ("aten::_to_copy", "copy"),
    ("aten::to", "copy"), ("ToCopyBackward", "copy"),
    ("onv", "convolution"),  # conv2d, conv_transpose2d, ConvolutionBackward0, ...
    ("batch_norm", "batch norm"), ("BatchNorm", "batch norm"),
    ("aten::linear", "linear"), ("addmm", "linear"), ("Addmm", "linear"), ("aten::mm", "linear"),
    ("MmBackward", "linear"), ("aten::matmul", "linear"), ("TBackward", "linear"),
    ("pool", "pool"), ("Pool", "pool"), ("MeanBackward", "pool"),
    ("cross_entropy", "loss"), ("nll_loss", "loss"), ("NllLoss", "loss"), ("softmax", "loss"),
    ("Softmax", "loss"), ("binary_cross_entropy", "loss"), ("BinaryCrossEntropy", "loss"),
    ("relu", "elementwise"), ("Relu", "elementwise"), ("threshold", "elementwise"),
    ("Threshold", "elementwise"), ("tanh", "elementwise"), ("Tanh", "elementwise"),
    ("dropout", "elementwise"), ("Dropout", "elementwise"), ("aten::add", "elementwise"),
    ("AddBackward", "elementwise"), ("aten::mul", "elementwise"), ("MulBackward", "elementwise"),
    ("aten::sub", "elementwise"), ("SubBackward", "elementwise"), ("aten::abs", "elementwise"),
    ("AbsBackward", "elementwise"),
]


@dataclasses.dataclass
class Side:
    """One framework's profile of one model: ms per step by group, and the part of each group
    in the backward pass; the profiled steps' wall time; the timed step (PyTorch's; weft's comes
    from --weft-bench); what the op times are."""
    groups: dict
    backward: dict
    wall: float = None
    step: float = None
    device_times: bool = False
    kind: str = "?"


def new_side():
    return Side(dict.fromkeys(GROUPS, 0.0), dict.fromkeys(GROUPS, 0.0))


def weft_group(row):
    return WEFT_OP_GROUPS.get(row["op"]) or WEFT_FAMILY_GROUPS.get(row.get("family"), "other")


def pytorch_group(name):
    for text, group in PYTORCH_RULES:
        if text in name:
            return group
    return "other"


def fail(path, message):
    print(f"profile_gap.py: {path}: {message}", file=sys.stderr)
    sys.exit(2)


def read_json(path, what):
    """The JSON document at `path`, or exit 2 naming the file and what it should have been."""
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as error:
        fail(path, f"cannot read {what}: {error}")
    return None


def read_weft(path, backend, phase):
    """{model: (groups ms, wall ms, device times?)} of the profiles named phase/model/backend."""
    tables = read_json(path, "weft's profile JSON")
    if not isinstance(tables, dict):
        fail(path, "expected an object of profiles by benchmark name (bench_models "
                   "--weft_profile=FILE writes FILE.json)")
    out = {}
    for name, table in tables.items():
        parts = name.split("/")
        if len(parts) != 3 or parts[0] != phase or parts[2] != backend:
            continue
        if not isinstance(table, dict) or not isinstance(table.get("rows"), list):
            fail(path, f"profile '{name}': expected an object with a 'rows' list")
        side = new_side()
        for row in table["rows"]:
            if not isinstance(row, dict) or not isinstance(row.get("ms"), (int, float)):
                fail(path, f"profile '{name}': a row without a number 'ms': {row!r}")
            ms = row.get("device_ms")
            side.device_times = side.device_times or isinstance(ms, (int, float))
            ms = ms if isinstance(ms, (int, float)) else row["ms"]
            group = weft_group(row)
            side.groups[group] += ms
            # conv2d_backward_data, batch_norm_backward, cross_entropy_forward_backward, ...
            if "backward" in str(row.get("op", "")):
                side.backward[group] += ms
        wall = table.get("wall_ms")
        side.wall = side.step = wall if isinstance(wall, (int, float)) else None
        out[parts[1]] = side
    return out


def read_pytorch(path, phase):
    """{model: (groups ms, profiled wall ms, step ms, time kind)} of step_bench's eager rows
    with a profile: the step is the mean of the timed steps (without the profiler), else the
    profiled wall time."""
    out = {}
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except OSError as error:
        fail(path, f"cannot read: {error}")
    for number, line in enumerate(lines, 1):
        if not line.startswith("{"):
            continue
        try:
            row = json.loads(line)
        except ValueError as error:
            fail(path, f"line {number}: not JSON: {error}")
        profile = row.get("profile")
        if row.get("phase") != phase or row.get("mode", "eager") != "eager" or not profile:
            continue
        roots = profile.get("roots")
        if not isinstance(roots, dict):
            fail(path, f"line {number}: the profile has no 'roots' object")
        side = new_side()
        for name, ms in roots.items():
            if not isinstance(ms, (int, float)):
                fail(path, f"line {number}: root '{name}': expected milliseconds, got {ms!r}")
            group = pytorch_group(name)
            side.groups[group] += ms
            if "Backward" in name:  # an autograd node: ConvolutionBackward0, ...
                side.backward[group] += ms
        mean = row.get("seconds_per_step_mean")
        side.wall = profile.get("wall_ms")
        side.step = mean * 1e3 if isinstance(mean, (int, float)) else side.wall
        side.kind = profile.get("time", "?")
        out[row.get("model", "?")] = side
    return out


def read_weft_steps(path, backend, phase):
    """{model: ms per step} of bench_models' Google Benchmark JSON (phase/model/backend rows)."""
    document = read_json(path, "bench_models' JSON")
    rows = document.get("benchmarks") if isinstance(document, dict) else None
    if not isinstance(rows, list):
        fail(path, "expected Google Benchmark JSON with a 'benchmarks' list")
    scale = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}
    out = {}
    for row in rows:
        parts = str(row.get("name", "")).split("/")
        if len(parts) < 3 or parts[0] != phase or parts[2] != backend:
            continue
        if row.get("run_type", "iteration") != "iteration" or "error_occurred" in row:
            continue
        time, unit = row.get("real_time"), row.get("time_unit", "ns")
        if not isinstance(time, (int, float)) or unit not in scale:
            fail(path, f"row '{row.get('name')}': expected real_time and a time_unit")
        out[parts[1]] = time * scale[unit]
    return out


def ratio(a, b):
    return f"{a / b:.2f}" if a > 0 and b > 0 else "-"


def table(model, weft, pytorch):
    lines = [f"### {model}", "",
             "| group | weft ms | PyTorch ms | weft - PyTorch ms | weft / PyTorch "
             "| backward: weft ms | backward: PyTorch ms |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for group in GROUPS:
        a, b = weft.groups[group], pytorch.groups[group]
        if a == 0 and b == 0:
            continue
        lines.append(f"| {group} | {a:.3f} | {b:.3f} | {a - b:+.3f} | {ratio(a, b)} "
                     f"| {weft.backward[group]:.3f} | {pytorch.backward[group]:.3f} |")
    weft_ops, torch_ops = sum(weft.groups.values()), sum(pytorch.groups.values())
    lines.append(f"| all ops | {weft_ops:.3f} | {torch_ops:.3f} | {weft_ops - torch_ops:+.3f} | "
                 f"{ratio(weft_ops, torch_ops)} | {sum(weft.backward.values()):.3f} "
                 f"| {sum(pytorch.backward.values()):.3f} |")
    # Outside the ops within the profiled steps themselves (their wall time less their ops), so
    # that both terms come from the same minutes; the step row is the timed one.
    if weft.wall and pytorch.wall:
        wo, to = weft.wall - weft_ops, pytorch.wall - torch_ops
        lines.append(f"| outside the ops | {wo:.3f} | {to:.3f} | {wo - to:+.3f} | - | | |")
    if weft.step and pytorch.step:
        lines.append(f"| step | {weft.step:.3f} | {pytorch.step:.3f} | "
                     f"{weft.step - pytorch.step:+.3f} | {ratio(weft.step, pytorch.step)} | | |")
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weft", required=True, help="bench_models --weft_profile's FILE.json")
    parser.add_argument("--pytorch", required=True, help="step_bench.py --profile-steps output")
    parser.add_argument("--weft-bench", help="bench_models' --benchmark_out JSON: weft's step "
                        "times without the profile")
    parser.add_argument("--backend", default="cpu",
                        help="weft's benchmark suffix: cpu, cuda-auto, cuda-hand, cuda-vendor")
    parser.add_argument("--phase", default="train_step", choices=["train_step", "inference"])
    args = parser.parse_args(argv)
    weft = read_weft(args.weft, args.backend, args.phase)
    if args.weft_bench:
        steps = read_weft_steps(args.weft_bench, args.backend, args.phase)
        for model, side in weft.items():
            side.step = steps.get(model, side.step)
    pytorch = read_pytorch(args.pytorch, args.phase)
    kinds = sorted({p.kind for p in pytorch.values()})
    if not args.backend.startswith("cuda"):
        weft_kind = "each op's wall time"
    elif weft and all(w.device_times for w in weft.values()):
        weft_kind = "each op's device time (timing events around its launches)"
    else:
        weft_kind = "each op on an idle device (synchronised before and after)"
    print(f"## {args.phase}: weft ({args.backend}) against PyTorch eager, ms per step\n")
    print(f"PyTorch's times: {', '.join(kinds) or '-'}; weft's: {weft_kind}. Step: "
          f"PyTorch's timed steps, weft's "
          f"{'benchmark steps' if args.weft_bench else 'profiled steps (wall clock)'}.\n")
    models = [m for m in weft if m in pytorch] + [m for m in pytorch if m not in weft]
    for model in models:
        if model not in weft:
            print(f"### {model}\n\nno weft profile named {args.phase}/{model}/{args.backend}\n")
            continue
        print("\n".join(table(model, weft[model], pytorch[model])) + "\n")
    for model in weft:
        if model not in pytorch:
            print(f"### {model}\n\nno PyTorch profile of {model} ({args.phase}, eager)\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
