#!/usr/bin/env python3
"""Checks bench/profile_gap.py: weft's op profile and PyTorch's, written here, sorted into the
same groups and printed side by side (sums and their backward parts, the fused convolution + max
pool as convolution, AddmmBackward as linear rather than elementwise, unknown frames as other,
device times where weft's profile has them, the outside-the-ops and step rows, the models only
one side has); that every op family of kernels/backend.h has a group and every op it names
exists there; that a broken input file exits 2 naming the file; and, on stand-in profiler
events, how bench/pytorch/profile_roots.py adds up PyTorch's side. Exits 0 when all holds, 1
otherwise (printing what did not)."""
import json
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
SCRIPT = os.path.join(ROOT, "bench", "profile_gap.py")

WEFT = {
    "train_step/fashion_cnn/cpu": {"steps": 3, "ops_ms": 11.0, "wall_ms": 12.0, "rows": [
        {"op": "conv2d_max_pool2d_forward", "family": "pool", "ms": 4.0},
        {"op": "conv2d_backward_filter", "family": "conv", "ms": 2.5},
        {"op": "max_pool2d_backward", "family": "pool", "ms": 1.0},
        {"op": "linear_forward", "family": "gemm", "ms": 1.5},
        {"op": "adam_update_multi", "family": "optimizer", "ms": 1.25},
        {"op": "cross_entropy_forward_backward", "family": "loss", "ms": 0.5},
        {"op": "u8_to_f32", "family": "elementwise", "ms": 0.25},
        {"op": "copy_rows", "family": "copy", "ms": 0.5}]},
    "train_step/fashion_cnn/cuda-auto": {"steps": 3, "ops_ms": 1.0, "wall_ms": 2.0, "rows": [
        {"op": "conv2d_forward", "family": "conv", "ms": 1.0, "device_ms": 0.5},
        {"op": "conv2d_backward_filter", "family": "conv", "ms": 1.0, "device_ms": 0.25}]},
    "inference/fashion_cnn/cpu": {"steps": 3, "ops_ms": 1.0, "rows": [
        {"op": "conv2d_forward", "family": "conv", "ms": 1.0}]},
    "train_step/dcgan64/cpu": {"steps": 3, "ops_ms": 1.0, "rows": [
        {"op": "conv_transpose2d_forward", "family": "conv_transpose", "ms": 1.0}]},
}
PYTORCH = [
    {"model": "fashion_cnn", "phase": "train_step", "mode": "eager", "profile": {
        "steps": 3, "wall_ms": 20.0, "time": "cpu self", "roots": {
            "ConvolutionBackward0": 5.0, "aten::conv2d": 3.0, "AddmmBackward0": 2.0,
            "aten::max_pool2d": 1.0, "Optimizer.step#Adam.step": 4.0, "aten::randn": 0.5,
            "ReluBackward0": 0.75, "NllLossBackward0": 0.25, "aten::cat": 0.25}}},
    {"model": "fashion_cnn", "phase": "train_step", "mode": "cudagraphs"},
    {"model": "shoes_simple", "phase": "train_step", "mode": "eager", "profile": {
        "steps": 3, "wall_ms": 1.0, "time": "cpu self", "roots": {"aten::conv2d": 1.0}}},
]

EXPECTED = [
    "## train_step: weft (cpu) against PyTorch eager, ms per step",
    "| convolution | 6.500 | 8.000 | -1.500 | 0.81 | 2.500 | 5.000 |",
    "| linear | 1.500 | 2.000 | -0.500 | 0.75 |",
    "| pool | 1.000 | 1.000 | +0.000 | 1.00 |",
    "| elementwise | 0.000 | 0.750 | -0.750 | - |",
    "| loss | 0.500 | 0.250 | +0.250 | 2.00 | 0.500 | 0.250 |",
    "| optimizer | 1.250 | 4.000 | -2.750 | 0.31 |",
    "| other | 0.250 | 0.500 | -0.250 | 0.50 |",
    "| copy | 0.500 | 0.250 | +0.250 | 2.00 |",
    "| all ops | 11.500 | 16.750 | -5.250 | 0.69 | 4.000 | 8.000 |",
    "| outside the ops | 0.500 | 3.250 | -2.750 | - |",
    "| step | 12.000 | 20.000 | -8.000 | 0.60 |",
    "no weft profile named train_step/shoes_simple/cpu",
    "no PyTorch profile of dcgan64 (train_step, eager)",
]
ABSENT = ["| batch norm |"]


def run(*args):
    return subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True,
                          check=False)


def backend_families_and_ops():
    with open(os.path.join(ROOT, "kernels", "backend.h")) as f:
        text = f.read()
    text = text[text.index("#define WEFT_BACKEND_OPS(X)"):]
    pairs = re.findall(r"\bX\((\w+),\s*(\w+),", text)
    return {family for family, _ in pairs}, {op for _, op in pairs}


class Event:
    """A stand-in for torch.profiler's FunctionEvent: the fields profile_roots.py reads."""

    def __init__(self, name, parent=None, device_type="DeviceType.CPU", cpu_us=0.0,
                 device_us=None):
        self.name, self.cpu_parent, self.device_type = name, parent, device_type
        self.self_cpu_time_total = cpu_us
        self.self_device_time_total = device_us


def check_profile_roots():
    """bench/pytorch/profile_roots.py on stand-in events: each op's own time to its outermost
    frame, the autograd prefix taken off, on CUDA only host ops' kernel time (a kernel's own
    device event would count it twice)."""
    sys.path.insert(0, os.path.join(ROOT, "bench", "pytorch"))
    import profile_roots  # noqa: E402 (no torch needed)
    conv = Event("aten::conv2d", cpu_us=100.0, device_us=1000.0)
    cudnn = Event("aten::cudnn_convolution", conv, cpu_us=50.0, device_us=3000.0)
    backward = Event(profile_roots.AUTOGRAD_FRAME + "ConvolutionBackward0", cpu_us=10.0,
                     device_us=0.0)
    inner = Event("aten::convolution_backward", backward, cpu_us=40.0, device_us=5000.0)
    kernel = Event("sm90_xmma_fprop", None, "DeviceType.CUDA", device_us=3000.0)
    events = [conv, cudnn, backward, inner, kernel]
    problems = []
    cuda = profile_roots.roots_ms(events, "cuda", 2)
    if cuda != {"ConvolutionBackward0": 2.5, "aten::conv2d": 2.0}:
        problems.append(f"profile_roots on CUDA: {cuda}")
    cpu = profile_roots.roots_ms([conv, cudnn, backward, inner], "cpu", 1)
    want = {"aten::conv2d": 0.15, "ConvolutionBackward0": 0.05}
    if list(cpu) != list(want) or any(abs(cpu[k] - v) > 1e-12 for k, v in want.items()):
        problems.append(f"profile_roots on the CPU: {cpu}")
    return problems


def main():
    problems = []
    with tempfile.TemporaryDirectory() as folder:
        weft_path = os.path.join(folder, "profile.md.json")
        torch_path = os.path.join(folder, "pytorch.jsonl")
        with open(weft_path, "w") as f:
            json.dump(WEFT, f)
        with open(torch_path, "w") as f:
            f.write("a line of text PyTorch printed\n")
            f.write("\n".join(json.dumps(row) for row in PYTORCH) + "\n")
        out = run("--weft", weft_path, "--pytorch", torch_path)
        if out.returncode != 0:
            problems.append(f"exit status {out.returncode}: {out.stderr}")
        problems += [f"missing: {line}" for line in EXPECTED if line not in out.stdout]
        problems += [f"unexpected: {line}" for line in ABSENT if line in out.stdout]
        if problems:
            problems.append("output was:\n" + out.stdout)
        # A GPU profile with device times: those are what is compared.
        gpu = run("--weft", weft_path, "--pytorch", torch_path, "--backend", "cuda-auto")
        for line in ["weft's: each op's device time (timing events around its launches)",
                     "| convolution | 0.750 | 8.000 | -7.250 | 0.09 |",
                     "| step | 2.000 | 20.000 | -18.000 | 0.10 |"]:
            if line not in gpu.stdout:
                problems.append(f"--backend cuda-auto, missing: {line}\noutput was:\n{gpu.stdout}")
        # The steps without the profiles: weft's from bench_models' JSON (--weft-bench), PyTorch's
        # the mean of its timed steps where the row has it.
        bench_path = os.path.join(folder, "gpu_models.json")
        with open(bench_path, "w") as f:
            json.dump({"benchmarks": [
                {"name": "train_step/fashion_cnn/cpu/real_time", "run_type": "iteration",
                 "real_time": 10.0, "time_unit": "ms"},
                {"name": "train_step/fashion_cnn/cpu/real_time_mean", "run_type": "aggregate",
                 "real_time": 99.0, "time_unit": "ms"},
                {"name": "train_step/fashion_cnn/cuda-auto/real_time", "run_type": "iteration",
                 "real_time": 1500.0, "time_unit": "us"}]}, f)
        timed = [dict(PYTORCH[0], seconds_per_step_mean=0.018)] + PYTORCH[1:]
        with open(torch_path, "w") as f:
            f.write("\n".join(json.dumps(row) for row in timed) + "\n")
        steps = run("--weft", weft_path, "--pytorch", torch_path, "--weft-bench", bench_path)
        # Outside the ops stays the profiled steps' own (wall less ops), whatever the step row says.
        for line in ["weft's benchmark steps", "| outside the ops | 0.500 | 3.250 | -2.750 | - |",
                     "| step | 10.000 | 18.000 | -8.000 | 0.56 |"]:
            if line not in steps.stdout:
                problems.append(f"--weft-bench, missing: {line}\noutput was:\n{steps.stdout}")
        gpu_steps = run("--weft", weft_path, "--pytorch", torch_path, "--weft-bench", bench_path,
                        "--backend", "cuda-auto")
        if "| step | 1.500 | 18.000 | -16.500 | 0.08 |" not in gpu_steps.stdout:
            problems.append(f"--weft-bench in us, cuda-auto:\n{gpu_steps.stdout}")

        with open(weft_path, "w") as f:
            f.write('{"train_step/fashion_cnn/cpu": {"rows": [{"op": "conv2d_forward"}]}}')
        broken = run("--weft", weft_path, "--pytorch", torch_path)
        if broken.returncode != 2 or weft_path not in broken.stderr or "'ms'" not in broken.stderr:
            problems.append(f"a row without ms: exit {broken.returncode}, {broken.stderr!r}")
        with open(weft_path, "w") as f:
            f.write("{not json")
        broken = run("--weft", weft_path, "--pytorch", torch_path)
        if broken.returncode != 2 or weft_path not in broken.stderr:
            problems.append(f"a file that is not JSON: exit {broken.returncode}, {broken.stderr!r}")

    sys.path.insert(0, os.path.join(ROOT, "bench"))
    import profile_gap  # noqa: E402 (the script's own tables, after the path is set)
    families, ops = backend_families_and_ops()
    if not families or not ops:
        problems.append("no WEFT_BACKEND_OPS entries read from kernels/backend.h")
    problems += [f"family {family} of kernels/backend.h has no group in profile_gap.py"
                 for family in sorted(families - set(profile_gap.WEFT_FAMILY_GROUPS))]
    problems += [f"profile_gap.py names op {op}, which kernels/backend.h does not have"
                 for op in sorted(set(profile_gap.WEFT_OP_GROUPS) - ops)]

    problems += check_profile_roots()
    for problem in problems:
        print(problem)
    print("profile_gap.py:", "ok" if not problems else f"{len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
