#!/usr/bin/env python3
"""Times one training step and one inference batch of each seed model in PyTorch: the PyTorch
side of weft's whole-model benchmarks (bench/bench_models.cpp; bench/compare_pytorch.py runs
both and prints them side by side).

The models, batch sizes, losses and optimizers are those of bench_models (see seed_models.py),
and so is each step's work, as bench_models.cpp's workloads do it. Data is random, made once,
and already on the device. Per model and phase:

  train_step   forward, loss, backward, optimizer step (zero_grad(set_to_none=True) first),
               then the loss read on the host; for dcgan64 one GAN iteration as
               models/dcgan_training.h's gan_step: the discriminator step on real and detached
               fake images, then the generator step (D's parameters frozen: no weight gradients
               for D in it, since 2026-12-05), each with its own Adam, and the
               iteration's statistics (losses, mean D(x), mean D(G(z))) read on the host
  inference    eval mode, torch.no_grad(), one forward pass of the batch, then the sum of the
               output read on the host; for dcgan64 the generator (eval mode) making `batch`
               images from fixed noise

Each step is timed on its own after --warmup untimed steps, synchronised on CUDA, until
--min-time seconds and --min-steps steps have passed. images_per_second = batch / mean step
time (examples per second: pairs for the pair models, real images for dcgan64's training and
generated images for its inference).

Modes: eager; compile (torch.compile of every network, PyTorch 2.0 and later: skipped with a
message on older versions, such as Debian's 1.13); cudagraphs (the whole step captured once
with torch.cuda.graphs and replayed, Adam with capturable=True: CUDA only, skipped elsewhere).

Precision (--precision): fp32, or bf16 = torch.autocast(dtype=torch.bfloat16) around each
forward pass and loss (convolutions and matmuls in BF16 with FP32 accumulation, batch norm,
softmax and losses in FP32 as autocast decides; master weights and the optimizer in FP32): the
PyTorch side of weft's --precision bf16.

Memory: on CUDA peak_MiB = torch.cuda.max_memory_allocated() over the timed steps (reset after
the warm-up), comparable to weft's peak_MiB (bytes held by live tensors). On every device
rss_MiB = the process's ru_maxrss, comparable to weft's rss_MiB; it includes the Python
interpreter and PyTorch's libraries (rss_baseline_MiB: the figure right after importing
torch, before any model exists). So that the high-water mark is one model's and one phase's,
each (model, phase, mode) runs in a process of its own when more than one is asked for, unless
--in-process (one import of torch for all, as the GPU one-shot does in its short lease).

Profile (--profile-steps N, eager only): after the timed steps, N more under torch.profiler,
and the object gains "profile": {"steps", "wall_ms" (per step, with the profiler on), "time"
("cuda kernels": each op's kernels' device time, or "cpu self": each op's own CPU time),
"roots": {name: ms per step}}, where every op's time is added to its outermost frame: a
forward op as the module called it (aten::conv2d, aten::batch_norm, ...), a backward op to its
autograd node ("ConvolutionBackward0", ...), the optimizer's ops to "Optimizer.step#Adam.step"
(profile_roots.py).
bench/profile_gap.py puts them beside weft's op profile (bench_models --weft_profile), family by
family.

Prints one JSON object per line for each (model, phase, mode); a skipped or failed one has
"skipped" or "error" with the reason instead of timings.

    /usr/bin/python3 bench/pytorch/step_bench.py --model fashion_cnn --device cpu --threads 2
    /usr/bin/python3 bench/pytorch/step_bench.py --model all --device cuda --mode eager,cudagraphs
    /usr/bin/python3 bench/pytorch/step_bench.py --model clothing_resnet50 --batch 4 --phase train_step
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

import profile_roots
import seed_models

PHASES = ["train_step", "inference"]
MODES = ["eager", "compile", "cudagraphs"]


def max_rss_mib():
    """The process's peak resident set size (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


RSS_BASELINE_MIB = max_rss_mib()


def parse_list(text, choices, what):
    """'a,b' or 'all' -> a list drawn from `choices`, in the order of `choices`."""
    if text == "all":
        return list(choices)
    items = [item.strip() for item in text.split(",") if item.strip()]
    unknown = [item for item in items if item not in choices]
    if unknown:
        raise SystemExit(f"unknown {what} {', '.join(unknown)}; choose from "
                         f"{', '.join(choices)} or all")
    return items


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="all",
                        help="model name, comma list or all: " + ", ".join(seed_models.MODEL_NAMES))
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--mode", default="eager",
                        help="eager, compile, cudagraphs, a comma list of them, or all")
    parser.add_argument("--phase", default="all",
                        help="train_step, inference, or all (both)")
    parser.add_argument("--batch", type=int, default=0,
                        help="override every model's batch size (0: the models' own)")
    parser.add_argument("--threads", type=int, default=0,
                        help="CPU threads for PyTorch (0: all cores)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    parser.add_argument("--min-time", type=float, default=2.0,
                        help="time steps until this many seconds have passed ...")
    parser.add_argument("--min-steps", type=int, default=3, help="... and this many steps")
    parser.add_argument("--tf32", choices=["default", "on", "off"], default="default",
                        help="CUDA only: TF32 in cuDNN convolutions and cuBLAS matmuls "
                             "(default: PyTorch's own settings)")
    parser.add_argument("--no-cudnn-benchmark", action="store_true",
                        help="CUDA only: leave torch.backends.cudnn.benchmark off")
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32",
                        help="bf16: autocast the forward passes and losses to bfloat16")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--profile-steps", type=int, default=0,
                        help="eager mode: profile this many more steps op by op (torch.profiler) "
                             "after the timed ones; 0: none")
    parser.add_argument("--in-process", action="store_true",
                        help="run every (model, phase, mode) in this process: one import of "
                             "torch instead of one per job, for a short GPU lease; rss_MiB is "
                             "then the high-water mark of all jobs so far (rss_cumulative)")
    args = parser.parse_args(argv)
    args.models = parse_list(args.model, seed_models.MODEL_NAMES, "model")
    args.modes = parse_list(args.mode, MODES, "mode")
    args.phases = parse_list(args.phase, PHASES, "phase")
    if args.batch < 0:
        parser.error("--batch must be positive (or 0 for the models' own)")
    if args.profile_steps < 0:
        parser.error("--profile-steps must be 0 or more")
    return args


def unavailable_reason(mode, device):
    """Why `mode` cannot run on `device` here, or None when it can."""
    if device == "cuda" and not torch.cuda.is_available():
        return "CUDA is not available to this PyTorch"
    if mode == "compile" and not hasattr(torch, "compile"):
        return f"torch.compile needs PyTorch 2.0 or later; this is {torch.__version__}"
    if mode == "cudagraphs" and device != "cuda":
        return "CUDA graphs need --device cuda"
    return None


# ---------------------------------------------------------------------------------------------
# The work of one step, as callables that return the tensors they produce.
# ---------------------------------------------------------------------------------------------


def autocast(device, precision):
    """The forward passes' context: bf16 autocast, or nothing for fp32."""
    # No cast cache: a CUDA graph (--mode cudagraphs) must not capture casts made outside it.
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16,
                          enabled=precision == "bf16", cache_enabled=False)


def make_classifier_work(spec, model, batch, device, phase, compile_model, optimizer_extra,
                         precision):
    """(step, model) for a classifier: inputs and targets made once, on the device."""
    inputs = [torch.randn(batch, *spec.input_shape, device=device) for _ in range(spec.photos)]
    if spec.loss == "cross_entropy":
        targets = torch.randint(0, spec.outputs, (batch,), device=device)
        loss_fn = F.cross_entropy
    elif spec.loss == "bce_with_logits":
        targets = torch.randint(0, 2, (batch, spec.outputs), device=device).float()
        loss_fn = F.binary_cross_entropy_with_logits
    else:
        raise ValueError(f"unknown loss {spec.loss}")
    network = torch.compile(model) if compile_model else model

    if phase == "inference":
        model.eval()

        def infer():
            with torch.no_grad(), autocast(device, precision):
                return network(*inputs).float().sum()
        return infer

    model.train()
    optimizer = spec.make_optimizer(model, **optimizer_extra)

    def train_step():
        optimizer.zero_grad(set_to_none=True)
        with autocast(device, precision):
            loss = loss_fn(network(*inputs), targets)
        loss.backward()
        optimizer.step()
        return loss.detach()
    return train_step


def make_gan_work(spec, pair, batch, device, phase, compile_model, optimizer_extra, precision):
    """The dcgan64 iteration (models/dcgan_training.h) or generation of `batch` images."""
    generator = torch.compile(pair.generator) if compile_model else pair.generator
    discriminator = torch.compile(pair.discriminator) if compile_model else pair.discriminator
    z_dim = pair.z_dim

    if phase == "inference":
        pair.generator.eval()
        noise = torch.randn(batch, z_dim, device=device)

        def generate():
            with torch.no_grad(), autocast(device, precision):
                return generator(noise).float().sum()
        return generate

    pair.train()
    real = torch.rand(batch, *spec.input_shape, device=device) * 2.0 - 1.0
    ones = torch.ones(batch, 1, device=device)
    zeros = torch.zeros(batch, 1, device=device)
    generator_optimizer, discriminator_optimizer = spec.make_optimizer(pair, **optimizer_extra)
    bce = F.binary_cross_entropy_with_logits

    def gan_step():
        # 1. Discriminator: real -> 1, detached fake -> 0; only D's Adam steps.
        discriminator_optimizer.zero_grad(set_to_none=True)
        with autocast(device, precision):
            real_logits = discriminator(real)
            fake = generator(torch.randn(batch, z_dim, device=device))
            fake_logits = discriminator(fake.detach())
            d_loss = bce(real_logits.float(), ones) + bce(fake_logits.float(), zeros)
        d_loss.backward()
        discriminator_optimizer.step()
        # 2. Generator: the same fakes judged by the updated D, pushed towards "real". D's
        # parameters are frozen for it, as weft's gan_step does: the gradient reaches the fakes
        # through D, not D's weights (whose gradients D's next zero_grad would drop).
        generator_optimizer.zero_grad(set_to_none=True)
        pair.discriminator.requires_grad_(False)
        with autocast(device, precision):
            judged = discriminator(fake)
            g_loss = bce(judged.float(), ones)
        g_loss.backward()
        pair.discriminator.requires_grad_(True)
        generator_optimizer.step()
        with torch.no_grad():
            return torch.stack([d_loss.detach(), g_loss.detach(),
                                torch.sigmoid(real_logits.float()).mean(),
                                torch.sigmoid(fake_logits.float()).mean(),
                                torch.sigmoid(judged.float()).mean()])
    return gan_step


def capture_cuda_graph(step, warmup):
    """Runs `step` `warmup` times on a side stream (as torch.cuda.graphs requires), captures
    one call in a CUDA graph, and returns a callable replaying it (returning the static
    output)."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(max(warmup, 1)):
            step()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        static_output = step()

    def replay():
        graph.replay()
        return static_output
    return replay


def profile_steps(step, steps, device, synchronize):
    """Runs `steps` steps under torch.profiler; the "profile" object of run_one's result."""
    from torch.profiler import ProfilerActivity, profile
    activities = [ProfilerActivity.CPU]
    if device == "cuda":
        activities.append(ProfilerActivity.CUDA)
    with profile(activities=activities) as prof:
        began = time.perf_counter()
        for _ in range(steps):
            step().tolist()
            synchronize()
        wall = time.perf_counter() - began
    return {"steps": steps, "wall_ms": wall * 1e3 / steps,
            "time": "cuda kernels" if device == "cuda" else "cpu self",
            "roots": profile_roots.roots_ms(prof.events(), device, steps)}


# ---------------------------------------------------------------------------------------------
# Timing one (model, phase, mode) in this process.
# ---------------------------------------------------------------------------------------------


def configure_backend(args):
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads or os.cpu_count())
    if args.device == "cuda":
        torch.backends.cudnn.benchmark = not args.no_cudnn_benchmark
        if args.tf32 != "default":
            torch.backends.cuda.matmul.allow_tf32 = args.tf32 == "on"
            torch.backends.cudnn.allow_tf32 = args.tf32 == "on"


def run_one(args, name, phase, mode):
    """Times one (model, phase, mode) here and returns its JSON object."""
    result = {"framework": "pytorch", "torch_version": torch.__version__, "model": name,
              "phase": phase, "mode": mode, "device": args.device, "precision": args.precision}
    reason = unavailable_reason(mode, args.device)
    if reason:
        result["skipped"] = reason
        return result
    configure_backend(args)
    device = torch.device(args.device)
    spec = seed_models.build(name)
    batch = args.batch or spec.batch
    model = spec.model.to(device)
    compile_model = mode == "compile"
    # Adam's step counter must live on the GPU for its step to be captured in a graph.
    optimizer_extra = {"capturable": True} if mode == "cudagraphs" else {}
    make_work = make_gan_work if spec.loss == "gan" else make_classifier_work
    step = make_work(spec, model, batch, device, phase, compile_model, optimizer_extra,
                     args.precision)

    def synchronize():
        if args.device == "cuda":
            torch.cuda.synchronize()

    if mode == "cudagraphs":
        step = capture_cuda_graph(step, args.warmup)
    # Every step ends by reading its result (the loss, the GAN's statistics or the sum of the
    # output) on the host, as bench_models does; that also waits for the device.
    for _ in range(args.warmup):
        step().tolist()
        synchronize()
    if args.device == "cuda":
        torch.cuda.reset_peak_memory_stats()

    seconds = []
    started = time.perf_counter()
    while len(seconds) < args.min_steps or time.perf_counter() - started < args.min_time:
        begin = time.perf_counter()
        step().tolist()
        synchronize()
        seconds.append(time.perf_counter() - begin)

    mean = sum(seconds) / len(seconds)
    result.update({
        "device_name": (torch.cuda.get_device_name() if args.device == "cuda"
                        else "cpu"),
        "threads": torch.get_num_threads(),
        "batch": batch,
        "steps": len(seconds),
        "seconds_per_step_mean": mean,
        "seconds_per_step_median": statistics.median(seconds),
        "seconds_per_step_min": min(seconds),
        "images_per_second": batch / mean,
        "parameters": seed_models.trainable_parameters(model),
        "parameters_weft_header": spec.weft_parameters,
        "peak_MiB": (torch.cuda.max_memory_allocated() / 2**20 if args.device == "cuda"
                     else None),
        "rss_MiB": max_rss_mib(),
        "rss_baseline_MiB": RSS_BASELINE_MIB,
    })
    if args.profile_steps > 0 and mode == "eager":
        # The timings above stand whatever the profiler does: a failure of it is a note in the
        # row, not the row's error.
        try:
            result["profile"] = profile_steps(step, args.profile_steps, args.device, synchronize)
        except Exception as error:  # noqa: BLE001 (any profiler failure)
            result["profile_error"] = f"{type(error).__name__}: {error}"
    if args.device == "cuda":
        result["cudnn_benchmark"] = torch.backends.cudnn.benchmark
        result["tf32_conv"] = torch.backends.cudnn.allow_tf32
        result["tf32_matmul"] = torch.backends.cuda.matmul.allow_tf32
    return result


def run_in_child(args, name, phase, mode):
    """Runs one (model, phase, mode) in a fresh Python process; returns its JSON object."""
    command = [sys.executable, os.path.abspath(__file__), "--model", name, "--phase", phase,
               "--mode", mode, "--device", args.device, "--batch", str(args.batch),
               "--threads", str(args.threads), "--warmup", str(args.warmup),
               "--min-time", str(args.min_time), "--min-steps", str(args.min_steps),
               "--tf32", args.tf32, "--precision", args.precision, "--seed", str(args.seed),
               "--profile-steps", str(args.profile_steps)]
    if args.no_cudnn_benchmark:
        command.append("--no-cudnn-benchmark")
    child = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = [line for line in child.stdout.splitlines() if line.startswith("{")]
    if child.returncode == 0 and len(lines) == 1:
        return json.loads(lines[0])
    tail = (child.stderr.strip().splitlines() or ["no output"])[-1]
    return {"framework": "pytorch", "model": name, "phase": phase, "mode": mode,
            "device": args.device,
            "error": f"the benchmark process exited with status {child.returncode}: {tail}"}


def main(argv=None):
    args = parse_args(argv)
    jobs = [(name, phase, mode) for name in args.models for phase in args.phases
            for mode in args.modes]
    for name, phase, mode in jobs:
        reason = unavailable_reason(mode, args.device)
        if reason:
            print(f"skipping {name} {phase} {mode}: {reason}", file=sys.stderr)
            result = {"framework": "pytorch", "model": name, "phase": phase, "mode": mode,
                      "device": args.device, "skipped": reason}
        elif len(jobs) == 1:
            result = run_one(args, name, phase, mode)
        elif args.in_process:
            try:
                result = run_one(args, name, phase, mode)
                result["rss_cumulative"] = True
            except Exception as error:  # one model's failure must not stop the others
                result = {"framework": "pytorch", "model": name, "phase": phase, "mode": mode,
                          "device": args.device, "error": f"{type(error).__name__}: {error}"}
                print(f"{name} {phase} {mode}: {result['error']}", file=sys.stderr)
            finally:
                if args.device == "cuda":
                    torch.cuda.empty_cache()
        else:
            result = run_in_child(args, name, phase, mode)
            if "error" in result:
                print(f"{name} {phase} {mode}: {result['error']}", file=sys.stderr)
        print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
