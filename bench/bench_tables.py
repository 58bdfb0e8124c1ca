#!/usr/bin/env python3
"""Google Benchmark JSON -> markdown tables, the tables of docs/benchmarks.md.

    bench/bench_tables.py cpu_kernels.json                  one table, a row per benchmark
    bench/bench_tables.py --pivot gpu_kernels.json          a row per benchmark less its last
                                                            name component (hand, vendor, ...),
                                                            a column group per that component

    bench/bench_tables.py --pivot --bandwidth gpu_kernels.json
                                                            only the rows that report GB/s
                                                            (memory-bound kernels, copies)

    bench/bench_tables.py --since old.json new.json         one run against an earlier one of
                                                            the same benchmarks: per row in
                                                            both, old ms, new ms and the
                                                            speed-up old / new, fastest gain
                                                            first; per op the geometric mean

    bench/bench_tables.py --ratios vendor cpu_kernels.json  hand against the vendor: per op,
                                                            the geometric mean of hand speed /
                                                            vendor speed over the rows that have
                                                            both (NAME or NAME/hand, and
                                                            NAME/vendor), seed
                                                            layers and sweeps apart, with the
                                                            count where hand is faster and the
                                                            slowest row

The copy ceiling: when a file has copy_d2d/SIZE/... rows (bench_kernels_cuda's device-to-device
copies), the fastest one's GB/s is the ceiling of that run, printed above the table with the
row it came from, and every other row with GB/s gets pct_of_copy = 100 x GB/s / ceiling: a
memory-bound kernel against a copy measured on the same card in the same run. The bytes each
row is credited with are its bytes_moved counter. A small copy does not reach the ceiling
either (a launch and the ramp-up of a few microseconds weigh on it), so each row also gets
pct_of_size_copy: GB/s over that of the smallest copy that moves at least as many bytes (the
largest copy if none does), a like-for-like reading beside the one against the ceiling.

Columns: time per iteration (ms) and every user counter the benchmarks report (GFLOP/s, GB/s,
images_per_second, ...). With --benchmark_repetitions the median aggregate is shown. The
machine context of the file (CPU, cores, date, custom context such as the GPU's name) is
printed above the table, so a table never travels without the machine it came from.
Standard library only.
"""
import argparse
import json
import math
import sys

TIME_UNITS_MS = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}
SKIP_KEYS = {"name", "run_name", "run_type", "repetitions", "repetition_index", "threads",
             "iterations", "real_time", "cpu_time", "time_unit", "family_index",
             "per_family_instance_index", "aggregate_name", "aggregate_unit", "label",
             "error_occurred", "error_message"}


def fail(message):
    print(f"bench_tables: {message}", file=sys.stderr)
    sys.exit(1)


def load(path):
    try:
        with open(path) as f:
            doc = json.load(f)
    except OSError as e:
        fail(f"{path}: cannot read ({e.strerror})")
    except json.JSONDecodeError as e:
        fail(f"{path}: not valid JSON ({e})")
    if not isinstance(doc, dict) or not isinstance(doc.get("benchmarks"), list):
        fail(f"{path}: expected Google Benchmark JSON with a \"benchmarks\" array")
    entries = doc["benchmarks"]
    medians = [e for e in entries
               if e.get("run_type") == "aggregate" and e.get("aggregate_name") == "median"]
    chosen = medians or [e for e in entries if e.get("run_type", "iteration") != "aggregate"]
    rows = []
    for e in chosen:
        name = e.get("run_name", e.get("name"))
        if name is None:
            fail(f"{path}: a benchmark entry has no name")
        for suffix in ("/real_time", "/manual_time"):
            if name.endswith(suffix):
                name = name[: -len(suffix)]
        if e.get("error_occurred"):
            rows.append((name, {"error": e.get("error_message", "error")}))
            continue
        unit = e.get("time_unit", "ns")
        if unit not in TIME_UNITS_MS or "real_time" not in e:
            fail(f"{path}: benchmark '{name}': no real_time in a known unit")
        values = {"ms": e["real_time"] * TIME_UNITS_MS[unit]}
        for key, value in e.items():
            if key not in SKIP_KEYS and isinstance(value, (int, float)):
                values[key] = value
        rows.append((name, values))
    return doc.get("context", {}), rows


def fmt(value):
    if isinstance(value, str):
        return value
    magnitude = abs(value)
    if magnitude >= 1e6:
        return f"{value / 1e6:.2f}M"
    if magnitude >= 100:
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def context_line(context):
    parts = []
    for key in ("host_name", "date", "num_cpus", "mhz_per_cpu", "library_build_type"):
        if key in context:
            parts.append(f"{key} {context[key]}")
    for key, value in context.items():
        if key not in ("host_name", "date", "num_cpus", "mhz_per_cpu", "library_build_type",
                       "executable", "cpu_scaling_enabled", "caches", "load_avg",
                       "json_schema_version", "library_version"):
            parts.append(f"{key} {value}")
    return "; ".join(parts)


def flat_table(rows, columns):
    lines = ["| benchmark | " + " | ".join(columns) + " |",
             "|---|" + "---:|" * len(columns)]
    for name, values in rows:
        cells = [fmt(values[c]) if c in values else "" for c in columns]
        if "error" in values:
            cells = [values["error"]] + [""] * (len(columns) - 1)
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def pivot_table(rows, columns):
    groups, series = {}, []
    for name, values in rows:
        head, _, last = name.rpartition("/")
        groups.setdefault(head, {})[last] = values
        if last not in series:
            series.append(last)
    header = [f"{s} {c}" for c in columns for s in series]
    lines = ["| benchmark | " + " | ".join(header) + " |", "|---|" + "---:|" * len(header)]
    for head, by_series in groups.items():
        cells = []
        for c in columns:
            for s in series:
                values = by_series.get(s, {})
                cells.append(fmt(values[c]) if c in values else "")
        lines.append(f"| {head} | " + " | ".join(cells) + " |")
    return lines


def copy_ceiling(rows):
    """(GB/s, name) of the fastest copy_d2d/ row, or None; adds pct_of_copy to the others."""
    copies = [(values["GB/s"], name) for name, values in rows
              if name.startswith("copy_d2d/") and "GB/s" in values]
    if not copies:
        return None
    best = max(copies)
    # (bytes moved, GB/s) of each copy, smallest first, for pct_of_size_copy.
    by_size = sorted((values.get("bytes_moved", 0.0), values["GB/s"]) for name, values in rows
                     if name.startswith("copy_d2d/") and "GB/s" in values)
    for name, values in rows:
        if "GB/s" in values and not name.startswith("copy_d2d/") and best[0] > 0:
            values["pct_of_copy"] = 100.0 * values["GB/s"] / best[0]
            moved = values.get("bytes_moved", 0.0)
            same = next((gbs for size, gbs in by_size if size >= moved), by_size[-1][1])
            if same > 0:
                values["pct_of_size_copy"] = 100.0 * values["GB/s"] / same
    return best


def geometric_mean(values):
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else float("nan")


def ratio_table(rows, other):
    """Per op and shape set (seed layers, sweeps): hand speed / `other` speed, from rows NAME
    (hand) and NAME/<other>, speed being 1 / time."""
    times = {name: values["ms"] for name, values in rows if "ms" in values}
    # The GPU benchmarks name the hand row NAME/hand beside NAME/vendor: both become NAME.
    times.update({name[: -len("/hand")]: ms for name, ms in list(times.items())
                  if name.endswith("/hand")})
    groups = {}
    for name, hand_ms in times.items():
        vendor_ms = times.get(f"{name}/{other}")
        if (vendor_ms is None or name.endswith(f"/{other}") or name.endswith("/hand")
                or hand_ms <= 0 or vendor_ms <= 0):
            continue
        op = name.split("/")[0]
        shapes = "sweeps" if "_sweep." in name else "seed layers"
        groups.setdefault((op, shapes), []).append((vendor_ms / hand_ms, name))
    lines = [f"| op | shapes | rows | hand / {other} (geometric mean) | hand faster in | "
             f"below 0.5 | slowest row (ratio) |", "|---|---|---:|---:|---:|---:|---|"]
    everything = []
    for (op, shapes), pairs in sorted(groups.items()):
        ratios = [r for r, _ in pairs]
        everything += ratios
        worst = min(pairs)
        lines.append(f"| {op} | {shapes} | {len(ratios)} | {geometric_mean(ratios):.2f} | "
                     f"{sum(r > 1 for r in ratios)} | {sum(r < 0.5 for r in ratios)} | "
                     f"{worst[1]} ({worst[0]:.2f}) |")
    if everything:
        lines.append(f"| all | | {len(everything)} | {geometric_mean(everything):.2f} | "
                     f"{sum(r > 1 for r in everything)} | {sum(r < 0.5 for r in everything)} | |")
    return lines


def since_table(old_rows, new_rows):
    """Rows in both runs: old ms, new ms, speed-up old / new (above 1: faster now), sorted by
    speed-up, fastest gain first; then per op (the name's first component) the geometric mean,
    the count of rows faster and slower by more than 5%, and the rows only one run has."""
    old = {name: values["ms"] for name, values in old_rows if "ms" in values}
    new = {name: values["ms"] for name, values in new_rows if "ms" in values}
    both = [(old[name] / new[name], name) for name in new if name in old
            and old[name] > 0 and new[name] > 0]
    lines = ["| benchmark | old ms | new ms | speed-up |", "|---|---:|---:|---:|"]
    for ratio, name in sorted(both, reverse=True):
        lines.append(f"| {name} | {fmt(old[name])} | {fmt(new[name])} | {ratio:.2f} |")
    lines += ["", "| op | rows in both | speed-up (geometric mean) | faster by > 5% | "
              "slower by > 5% |", "|---|---:|---:|---:|---:|"]
    by_op = {}
    for ratio, name in both:
        by_op.setdefault(name.split("/")[0], []).append(ratio)
    for op, ratios in sorted(by_op.items()):
        lines.append(f"| {op} | {len(ratios)} | {geometric_mean(ratios):.2f} | "
                     f"{sum(r > 1.05 for r in ratios)} | {sum(r < 1 / 1.05 for r in ratios)} |")
    only_old = sorted(set(old) - set(new))
    only_new = sorted(set(new) - set(old))
    lines += ["", f"Only in the old run: {len(only_old)} rows; only in the new run: "
              f"{len(only_new)} rows" + (f" ({', '.join(only_new[:8])}"
                                         f"{', ...' if len(only_new) > 8 else ''})"
                                         if only_new else "") + "."]
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("inputs", nargs="+", help="Google Benchmark JSON files")
    parser.add_argument("--pivot", action="store_true",
                        help="one row per name less its last component, a column per component")
    parser.add_argument("--columns", default="",
                        help="comma-separated columns to show (default: ms and every counter)")
    parser.add_argument("--filter", default="", help="substring a benchmark name must contain")
    parser.add_argument("--bandwidth", action="store_true",
                        help="only rows with a GB/s counter (memory-bound kernels and copies)")
    parser.add_argument("--ratios", metavar="OTHER", default="",
                        help="per-op geometric means of hand speed / OTHER speed (e.g. vendor)")
    parser.add_argument("--since", metavar="OLD", default="",
                        help="each input against OLD, an earlier run of the same benchmarks")
    args = parser.parse_args()
    if args.since:
        old_context, old_rows = load(args.since)
        old_rows = [r for r in old_rows if args.filter in r[0]]
        for path in args.inputs:
            context, rows = load(path)
            rows = [r for r in rows if args.filter in r[0]]
            print(f"<!-- {args.since} -> {path} -->")
            print(f"Old run: {context_line(old_context)}\n")
            print(f"New run: {context_line(context)}\n")
            old_card = old_context.get("cuda_device", "").split(": ", 1)[-1]
            new_card = context.get("cuda_device", "").split(": ", 1)[-1]
            if old_card != new_card:
                print(f"**Different cards** ({old_card or 'none named'} then "
                      f"{new_card or 'none named'}): each speed-up below mixes the change of "
                      f"card with the change of code; compare hand against vendor within each "
                      f"run instead (--ratios vendor).\n")
            print("\n".join(since_table(old_rows, rows)))
            print()
        return
    for path in args.inputs:
        context, rows = load(path)
        ceiling = copy_ceiling(rows)
        rows = [r for r in rows if args.filter in r[0]]
        if args.bandwidth:
            rows = [r for r in rows if "GB/s" in r[1] or r[0].startswith("copy_d2d/")]
        if args.columns:
            columns = args.columns.split(",")
        else:
            columns = ["ms"]
            for _, values in rows:
                columns += [k for k in values if k not in columns and k != "error"]
        print(f"<!-- {path} -->")
        print(f"Machine: {context_line(context)}\n")
        if args.ratios:
            print("\n".join(ratio_table(rows, args.ratios)))
            print()
            continue
        if ceiling:
            print(f"Copy ceiling: {fmt(ceiling[0])} GB/s ({ceiling[1]}, the fastest "
                  f"device-to-device copy of this run; pct_of_copy = GB/s / ceiling)\n")
        print("\n".join(pivot_table(rows, columns) if args.pivot else flat_table(rows, columns)))
        print()


if __name__ == "__main__":
    main()
