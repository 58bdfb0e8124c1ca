#!/usr/bin/env python3
"""Time to accuracy, weft against PyTorch: the `make run` recipe (weft-fashion-mnist --setup
default) and its PyTorch twin (bench/pytorch/fashion_recipe.py), one after the other on this
machine with the same threads, for each seed. Both evaluate validation and test after every
epoch outside the training clock (weft: --test-every-epoch). Prints, per seed and side, the
final test accuracy, the training seconds, and the training seconds at which test accuracy
first reached 91.9%, 92% and 93%; writes everything to OUT/race.json and, where matplotlib is
installed, OUT/race.png (test accuracy against training seconds, one line per run).

    python3 bench/fashion_recipe_race.py --seeds 1,2,3 --threads 2 --out runs/race
    python3 bench/fashion_recipe_race.py --setup speedrun --device cuda --seeds 1,2,3,4,5

PyTorch must be importable by this Python (PyPI's torch); weft must be built (make build).
Single runs differ by seed on both sides (weft and PyTorch draw different batches and initial
weights); compare the means.
"""
import argparse
import json
import os
import platform
import subprocess
import sys

TARGETS = (0.919, 0.92, 0.93, 0.94)


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def first_reach(curve, target):
    for seconds, accuracy in curve:
        if accuracy >= target:
            return seconds
    return None


def run_weft(args, seed, env):
    out = os.path.join(args.out, f"weft-seed-{seed}")
    command = [os.path.join(args.build, "weft-fashion-mnist"), "--setup", args.setup,
               "--seed", str(seed), "--device", args.device, "--test-every-epoch",
               "--overwrite", "--out", out]
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
    with open(os.path.join(out, "report.json")) as f:
        report = json.load(f)
    curve, seconds = [], 0.0
    for row in report["history"]:
        seconds += row["train_seconds"]
        curve.append((seconds, row["epoch_test_accuracy"]))
    return {"test_accuracy": report["test_accuracy"], "train_seconds": seconds, "curve": curve}


def run_torch(args, seed, env):
    here = os.path.dirname(os.path.abspath(__file__))
    command = [sys.executable, os.path.join(here, "pytorch", "fashion_recipe.py"), "--setup",
               args.setup, "--seed", str(seed), "--threads", str(args.threads), "--device",
               args.device]
    lines = subprocess.run(command, check=True, env=env, capture_output=True,
                           text=True).stdout.splitlines()
    rows = [json.loads(line) for line in lines if line.startswith("{")]
    epochs = [r for r in rows if "epoch" in r]
    summary = next(r for r in rows if r.get("summary"))
    return {"test_accuracy": summary["test_accuracy"], "train_seconds": summary["train_seconds"],
            "torch": summary["torch"],
            "curve": [(r["train_seconds"], r["test_accuracy"]) for r in epochs]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--setup", default="default", choices=["default", "speedrun"])
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--build", default="build")
    parser.add_argument("--out", default="runs/race")
    parser.add_argument("--sides", default="weft,pytorch")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    results = {"machine": cpu_model(), "threads": args.threads, "setup": args.setup, "runs": []}
    for seed in [int(s) for s in args.seeds.split(",")]:
        for side in args.sides.split(","):
            run = run_weft(args, seed, env) if side == "weft" else run_torch(args, seed, env)
            run.update(side=side, seed=seed,
                       time_to_test={str(t): first_reach(run["curve"], t) for t in TARGETS})
            results["runs"].append(run)
            reached = ", ".join(f"{t:.1%} at {s:.0f} s" if s is not None else f"{t:.1%} never"
                                for t, s in ((float(k), v) for k, v in run["time_to_test"].items()))
            print(f"{side:8s} seed {seed}: test {run['test_accuracy']:.4f} after "
                  f"{run['train_seconds']:.0f} s of training; {reached}", flush=True)
    for side in args.sides.split(","):
        runs = [r for r in results["runs"] if r["side"] == side]
        mean = sum(r["test_accuracy"] for r in runs) / len(runs)
        seconds = sum(r["train_seconds"] for r in runs) / len(runs)
        print(f"{side:8s} mean over {len(runs)} seeds: test {mean:.4f}, {seconds:.0f} s of training")
    print(f"machine: {results['machine']}, {args.threads} threads")
    with open(os.path.join(args.out, "race.json"), "w") as f:
        json.dump(results, f, indent=1)
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no race.png (pip install matplotlib)")
        return
    figure, axes = plt.subplots(figsize=(7, 4.5))
    colours = {"weft": "tab:blue", "pytorch": "tab:orange"}
    for run in results["runs"]:
        xs, ys = zip(*run["curve"])
        axes.plot(xs, [100 * y for y in ys], marker="o", markersize=3,
                  color=colours.get(run["side"], "grey"), alpha=0.8,
                  label=f"{run['side']} seed {run['seed']}")
    axes.axhline(92.0, color="grey", linestyle="--", linewidth=0.8)
    axes.set_xlabel("seconds of training")
    axes.set_ylabel("test accuracy (%)")
    axes.set_ylim(85, 94)
    axes.set_title(f"Fashion-MNIST --setup {args.setup}: weft and PyTorch, "
                   f"{args.threads} threads\n{results['machine']}", fontsize=9)
    axes.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(os.path.join(args.out, "race.png"), dpi=120)
    print(f"wrote {args.out}/race.json and race.png")


if __name__ == "__main__":
    main()
