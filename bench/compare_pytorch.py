#!/usr/bin/env python3
"""Every seed model in weft against PyTorch: training-step and inference throughput, memory and
parameter counts, side by side (issue 7).

Runs weft's whole-model benchmarks (<build>/bench/bench_models, Google Benchmark) and their
PyTorch twins (bench/pytorch/step_bench.py, models in bench/pytorch/seed_models.py) on this
machine, then prints a markdown table and writes its rows to a JSON file.

    /usr/bin/python3 bench/compare_pytorch.py                       # CPU, every model
    /usr/bin/python3 bench/compare_pytorch.py --models fashion_cnn,shoes_simple --threads 2
    /usr/bin/python3 bench/compare_pytorch.py --device cuda --out runs/bench/h100.json
    /usr/bin/python3 bench/compare_pytorch.py --batch 4 --min-time 0.1   # a quick smoke run
    # the table again from saved results, running nothing:
    /usr/bin/python3 bench/compare_pytorch.py --weft-json weft.json --pytorch-json torch.jsonl

How it runs: weft once per (model, phase, backend) in a process of its own, with
--benchmark_filter=^<phase>/<model>/<backend>(/.*)?$ and the JSON written to a temporary file,
so that each row's rss_MiB (the process's high-water mark) is that benchmark's alone; then
step_bench.py, which also runs each (model, phase, mode) in its own process. Both use --threads
CPU threads (OMP_NUM_THREADS for weft, torch.set_num_threads for PyTorch). The backends are
cpu, or on --device cuda weft's cuda-hand and cuda-vendor (one row each).

The columns:
  weft img/s       batch / the benchmark's real (wall-clock) time per iteration, one
                   iteration being one step; weft's images_per_second counter is checked
                   against it and a disagreement above 5% is reported
  PyTorch img/s    eager, and torch.compile / CUDA graphs where they ran (step_bench.py skips
                   torch.compile before PyTorch 2.0 and CUDA graphs off CUDA)
  weft/PyTorch     weft's images/s over PyTorch eager's, and over the best PyTorch mode that
                   ran: above 1 means weft is faster
  memory           on the CPU the process's peak resident set (ru_maxrss) of each, which for
                   PyTorch includes its ~200+ MiB of libraries (step_bench reports that
                   baseline), with weft's tensor peak beside it; on CUDA weft's peak_MiB (bytes
                   held by live tensors during the timed steps) against
                   torch.cuda.max_memory_allocated over PyTorch eager's timed steps
  parameters       trainable parameters of each: any mismatch is flagged in the table and on
                   stderr, and the exit status is then 3

Images per second count examples: pairs for the pair models (42 pairs = 84 photos a batch),
real images per GAN iteration for dcgan64's training, generated images for its inference.
"""
import argparse
import datetime
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
STEP_BENCH = os.path.join(HERE, "pytorch", "step_bench.py")
MODELS = ["fashion_cnn", "fashion_resnet", "shoes_simple", "dcgan64", "pairs_stacked",
          "pairs_channels", "pairs_siamese", "clothing_resnet50", "apparel_cnn", "fashion_vgg",
          "fashion_vgg_speedrun"]
PHASES = ["train_step", "inference"]
BACKENDS = {"cpu": ["cpu"], "cuda": ["cuda-hand", "cuda-vendor"]}
TIME_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}
COUNTER_TOLERANCE = 0.05


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", default="build", help="weft's build folder (default build)")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--models", default="all",
                        help="comma list of models, or all: " + ", ".join(MODELS))
    parser.add_argument("--batch", type=int, default=0,
                        help="override every batch size on both sides (0: the models' own)")
    parser.add_argument("--threads", type=int, default=os.cpu_count(),
                        help="CPU threads for both (default: all cores)")
    parser.add_argument("--modes", default=None,
                        help="PyTorch modes (default eager,compile on the CPU and "
                             "eager,compile,cudagraphs on CUDA)")
    parser.add_argument("--min-time", type=float, default=2.0,
                        help="both sides time steps for at least this many seconds (weft: "
                             "--benchmark_min_time, which --weft-args may override)")
    parser.add_argument("--warmup", type=int, default=3, help="PyTorch: untimed steps first")
    parser.add_argument("--weft-args", default="",
                        help="more flags for bench_models, e.g. '--benchmark_min_time=0.5'")
    parser.add_argument("--python", default="/usr/bin/python3",
                        help="the interpreter that has PyTorch (default /usr/bin/python3)")
    parser.add_argument("--out", default=None,
                        help="JSON file for the rows (default runs/bench/compare_pytorch_<device>.json)")
    parser.add_argument("--weft-json", action="append", default=[],
                        help="read weft's results from this Google Benchmark JSON instead of "
                             "running bench_models (may be given more than once)")
    parser.add_argument("--pytorch-json", action="append", default=[],
                        help="read PyTorch's results from this step_bench.py output (JSON lines) "
                             "instead of running it (may be given more than once)")
    args = parser.parse_args(argv)
    if args.models == "all":
        args.model_list = list(MODELS)
    else:
        args.model_list = [m.strip() for m in args.models.split(",") if m.strip()]
        unknown = [m for m in args.model_list if m not in MODELS]
        if unknown:
            parser.error(f"unknown models {', '.join(unknown)}; choose from {', '.join(MODELS)}")
    if args.modes is None:
        args.modes = "eager,compile" + (",cudagraphs" if args.device == "cuda" else "")
    args.mode_list = [m.strip() for m in args.modes.split(",") if m.strip()]
    if "eager" not in args.mode_list:
        args.mode_list.insert(0, "eager")  # the ratio's reference
    if args.out is None:
        args.out = os.path.join("runs", "bench", f"compare_pytorch_{args.device}.json")
    return args


def log(message):
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# weft: Google Benchmark JSON.
# ---------------------------------------------------------------------------------------------


def split_benchmark_name(name):
    """'train_step/fashion_cnn/cpu[/real_time|/manual_time|/iterations:N...]' ->
    (phase, model, backend), or None for a name of another shape."""
    parts = name.split("/")
    if len(parts) < 3 or parts[0] not in PHASES:
        return None
    return parts[0], parts[1], parts[2]


def weft_entry_figures(entry):
    """The figures of one Google Benchmark entry (an iteration run or an aggregate)."""
    seconds = entry["real_time"] * TIME_UNIT_SECONDS[entry.get("time_unit", "ns")]
    batch = entry.get("batch")
    counter = entry.get("images_per_second")
    wall_rate = batch / seconds if batch and seconds > 0 else None
    figures = {
        "images_per_second": wall_rate if wall_rate is not None else counter,
        "images_per_second_counter": counter,
        "seconds_per_step": seconds,
        "iterations": entry.get("iterations"),
        "batch": int(batch) if batch is not None else None,
        "parameters": int(entry["parameters"]) if "parameters" in entry else None,
        "peak_MiB": entry.get("peak_MiB"),
        "rss_MiB": entry.get("rss_MiB"),
        "notes": [],
    }
    if wall_rate is None:
        figures["notes"].append("no batch counter: images/s is weft's own counter")
    elif counter and abs(counter - wall_rate) > COUNTER_TOLERANCE * wall_rate:
        figures["notes"].append(
            f"weft's images_per_second counter {counter:.4g} differs from batch / real time "
            f"{wall_rate:.4g} (by {counter / wall_rate:.2f}x); the table uses the latter")
    return figures


def parse_weft_json(document):
    """{(phase, model, backend): figures} from a parsed Google Benchmark JSON document.

    With --benchmark_repetitions the median aggregate is used; otherwise the iteration run
    (the median one, by real time, if there are several). A benchmark that reported an error
    (SkipWithError) gets {"error": message}."""
    runs, medians, errors = {}, {}, {}
    for entry in document.get("benchmarks", []):
        key = split_benchmark_name(entry.get("run_name") or entry.get("name", ""))
        if key is None:
            continue
        if entry.get("error_occurred") or entry.get("skipped"):
            errors[key] = entry.get("error_message") or entry.get("skip_message") or "skipped"
            continue
        if entry.get("run_type") == "aggregate":
            if entry.get("aggregate_name") == "median":
                medians[key] = entry
        else:
            runs.setdefault(key, []).append(entry)
    results = {key: {"error": message} for key, message in errors.items()}
    for key, entries in runs.items():
        if key in medians:
            continue
        entries.sort(key=lambda e: e["real_time"])
        results[key] = weft_entry_figures(entries[len(entries) // 2])
    for key, entry in medians.items():
        results[key] = weft_entry_figures(entry)
    return results


def run_weft(args, model, phase, backend):
    """Runs one weft benchmark in its own process; returns ({key: figures}, context)."""
    binary = os.path.join(args.build, "bench", "bench_models")
    handle, path = tempfile.mkstemp(prefix="weft_bench_models_", suffix=".json")
    os.close(handle)
    command = [binary, f"--benchmark_filter=^{phase}/{model}/{backend}(/.*)?$",
               f"--benchmark_out={path}", "--benchmark_out_format=json",
               f"--weft_device={args.device}"]
    if args.batch:
        command.append(f"--weft_batch={args.batch}")
    # The same timed span as PyTorch's (Google Benchmark's default is 0.5 s: one step of a
    # 3-second DCGAN iteration, whose figure then swung by a third from run to run).
    command.append(f"--benchmark_min_time={args.min_time}")
    command += shlex.split(args.weft_args)
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads),
               OPENBLAS_NUM_THREADS=str(args.threads))
    log("weft:    " + " ".join(shlex.quote(part) for part in command))
    try:
        child = subprocess.run(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
        document = {}
        if os.path.getsize(path) > 0:
            with open(path) as f:
                document = json.load(f)
    finally:
        os.unlink(path)
    results = parse_weft_json(document)
    if child.returncode != 0 and (phase, model, backend) not in results:
        tail = (child.stderr.strip().splitlines() or ["no output"])[-1]
        results[(phase, model, backend)] = {
            "error": f"bench_models exited with status {child.returncode}: {tail}"}
    return results, document.get("context", {})


# ---------------------------------------------------------------------------------------------
# PyTorch: step_bench.py's JSON lines.
# ---------------------------------------------------------------------------------------------


def parse_pytorch_lines(text):
    """{(phase, model, mode): object} from step_bench.py's output."""
    results = {}
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            item = json.loads(line)
            results[(item["phase"], item["model"], item["mode"])] = item
    return results


def run_pytorch(args, model):
    command = [args.python, STEP_BENCH, "--model", model, "--device", args.device,
               "--mode", ",".join(args.mode_list), "--phase", "all",
               "--threads", str(args.threads), "--warmup", str(args.warmup),
               "--min-time", str(args.min_time)]
    if args.batch:
        command += ["--batch", str(args.batch)]
    log("PyTorch: " + " ".join(shlex.quote(part) for part in command))
    child = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    results = parse_pytorch_lines(child.stdout)
    if child.returncode != 0:
        tail = (child.stderr.strip().splitlines() or ["no output"])[-1]
        for phase in PHASES:
            results.setdefault((phase, model, "eager"), {
                "error": f"step_bench.py exited with status {child.returncode}: {tail}"})
    return results


# ---------------------------------------------------------------------------------------------
# The rows and the table.
# ---------------------------------------------------------------------------------------------


def make_rows(args, weft, pytorch):
    rows = []
    for model in args.model_list:
        for phase in PHASES:
            torch_runs = {mode: pytorch.get((phase, model, mode), {}) for mode in args.mode_list}
            eager = torch_runs["eager"]
            for backend in BACKENDS[args.device]:
                w = weft.get((phase, model, backend), {"error": "no result"})
                row = {"model": model, "phase": phase, "backend": backend,
                       "weft": w, "pytorch": torch_runs, "notes": list(w.get("notes", []))}
                rates = {mode: run["images_per_second"] for mode, run in torch_runs.items()
                         if "images_per_second" in run}
                weft_rate = w.get("images_per_second")
                row["ratio_vs_eager"] = (weft_rate / rates["eager"]
                                         if weft_rate and rates.get("eager") else None)
                if weft_rate and rates:
                    best_mode = max(rates, key=rates.get)
                    row["best_pytorch_mode"] = best_mode
                    row["ratio_vs_best"] = weft_rate / rates[best_mode]
                if w.get("batch") and eager.get("batch") and w["batch"] != eager["batch"]:
                    row["notes"].append(f"batch differs: weft {w['batch']}, PyTorch "
                                        f"{eager['batch']}")
                weft_params, torch_params = w.get("parameters"), eager.get("parameters")
                row["parameters_match"] = (None if weft_params is None or torch_params is None
                                           else weft_params == torch_params)
                if row["parameters_match"] is False:
                    row["notes"].append(f"PARAMETER COUNT MISMATCH: weft {weft_params:,}, "
                                        f"PyTorch {torch_params:,}")
                rows.append(row)
    return rows


def rate_cell(run):
    if not run:
        return "—"
    if "images_per_second" in run:
        rate = run["images_per_second"]
        return f"{rate:,.0f}" if rate >= 100 else f"{rate:.3g}"
    if "skipped" in run:
        return "n/a"
    return "error"


def mib_cell(value):
    return "—" if value is None else f"{value:,.0f}"


def count_cell(value):
    return "—" if value is None else f"{value:,}"


def render_table(args, rows):
    modes = args.mode_list
    header = ["model", "phase", "backend", "weft img/s"]
    header += [f"PyTorch {mode} img/s" for mode in modes]
    header += ["weft/PyTorch eager"]
    # "best" only says something when a mode other than eager produced a figure.
    show_best = any("images_per_second" in run for row in rows
                    for mode, run in row["pytorch"].items() if mode != "eager")
    if show_best:
        header += ["weft/best PyTorch"]
    if args.device == "cpu":
        header += ["weft RSS MiB", "PyTorch RSS MiB", "weft tensor peak MiB"]
    else:
        header += ["weft peak MiB", "PyTorch peak MiB"]
    header += ["weft params", "PyTorch params"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        w, eager = row["weft"], row["pytorch"]["eager"]
        cells = [row["model"], row["phase"], row["backend"], rate_cell(w)]
        cells += [rate_cell(row["pytorch"][mode]) for mode in modes]
        ratio = row.get("ratio_vs_eager")
        cells.append("—" if ratio is None else f"{ratio:.2f}")
        if show_best:
            best = row.get("ratio_vs_best")
            cells.append("—" if best is None else f"{best:.2f} ({row['best_pytorch_mode']})")
        if args.device == "cpu":
            cells += [mib_cell(w.get("rss_MiB")), mib_cell(eager.get("rss_MiB")),
                      mib_cell(w.get("peak_MiB"))]
        else:
            cells += [mib_cell(w.get("peak_MiB")), mib_cell(eager.get("peak_MiB"))]
        flag = " **MISMATCH**" if row["parameters_match"] is False else ""
        cells += [count_cell(w.get("parameters")) + flag, count_cell(eager.get("parameters")) + flag]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def problems(rows):
    """Lines worth reading under the table: errors, skips and notes."""
    out = []
    for row in rows:
        where = f"{row['model']} {row['phase']} {row['backend']}"
        if "error" in row["weft"]:
            out.append(f"{where}: weft: {row['weft']['error']}")
        for mode, run in row["pytorch"].items():
            if "error" in run:
                out.append(f"{where}: PyTorch {mode}: {run['error']}")
        out += [f"{where}: {note}" for note in row["notes"]]
    skipped = sorted({f"PyTorch {mode}: {run['skipped']}" for row in rows
                      for mode, run in row["pytorch"].items() if "skipped" in run})
    return out + skipped


def plot_entries(rows):
    """The rows as Google Benchmark-style entries, so bench_plot can draw the file directly:
    <phase>/<model>/weft-<backend> and <phase>/<model>/pytorch-<mode>, with images_per_second,
    and ratio/<phase>/<model>/<backend> with weft_over_pytorch_eager."""
    entries = []
    for row in rows:
        head = f"{row['phase']}/{row['model']}"
        if row.get("ratio_vs_eager") is not None:
            entries.append({"name": f"ratio/{head}/{row['backend']}",
                            "weft_over_pytorch_eager": row["ratio_vs_eager"]})
        if row["weft"].get("images_per_second") is not None:
            entries.append({"name": f"{head}/weft-{row['backend']}",
                            "images_per_second": row["weft"]["images_per_second"]})
        for mode, run in row["pytorch"].items():
            if run.get("images_per_second") is not None:
                entries.append({"name": f"{head}/pytorch-{mode}",
                                "images_per_second": run["images_per_second"]})
    return entries


def main(argv=None):
    args = parse_args(argv)
    weft, weft_context = {}, {}
    if args.weft_json:
        for path in args.weft_json:
            with open(path) as f:
                document = json.load(f)
            weft.update(parse_weft_json(document))
            weft_context = document.get("context", weft_context)
    else:
        binary = os.path.join(args.build, "bench", "bench_models")
        if not os.access(binary, os.X_OK):
            sys.exit(f"{binary} not found: build weft's benchmarks first (make bench), or pass "
                     "--build, or --weft-json with saved results")
    pytorch = {}
    for path in args.pytorch_json:
        with open(path) as f:
            pytorch.update(parse_pytorch_lines(f.read()))

    for model in args.model_list:
        if not args.weft_json:
            for phase in PHASES:
                for backend in BACKENDS[args.device]:
                    results, context = run_weft(args, model, phase, backend)
                    weft.update(results)
                    weft_context = context or weft_context
        if not args.pytorch_json:
            pytorch.update(run_pytorch(args, model))

    rows = make_rows(args, weft, pytorch)
    table = render_table(args, rows)
    print(table)
    notes = problems(rows)
    if notes:
        print()
        for note in notes:
            print(f"- {note}")

    torch_version = next((run.get("torch_version") for row in rows
                          for run in row["pytorch"].values() if run.get("torch_version")), None)
    report = {"date": datetime.datetime.now().isoformat(timespec="seconds"),
              "machine": platform.node(), "device": args.device, "threads": args.threads,
              "batch_override": args.batch or None, "pytorch_modes": args.mode_list,
              "torch_version": torch_version, "weft_context": weft_context, "rows": rows,
              "table_markdown": table, "benchmarks": plot_entries(rows)}
    out_dir = os.path.dirname(args.out)
    if out_dir:
        os.makedirs(out_dir, exist_ok=True)
    partial = f"{args.out}.tmp.{os.getpid()}"
    with open(partial, "w") as f:
        json.dump(report, f, indent=2)
    os.replace(partial, args.out)  # atomic: a reader sees the old file or the whole new one
    log(f"rows written to {args.out}")

    mismatched = [row for row in rows if row["parameters_match"] is False]
    if mismatched:
        log("")
        log("!" * 78)
        for row in mismatched:
            log(f"!! PARAMETER COUNT MISMATCH {row['model']} ({row['phase']}, {row['backend']}): "
                f"weft {row['weft']['parameters']:,}, "
                f"PyTorch {row['pytorch']['eager']['parameters']:,}")
        log("!! the two sides are not the same model: these rows compare different work")
        log("!" * 78)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
