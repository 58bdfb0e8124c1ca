#!/usr/bin/env python3
"""Checks bench/bench_tables.py --since on two small runs written here: each row's old and new
time and speed-up, the order (fastest gain first), the per-op geometric mean and counts, the
rows only one run has, and the warning printed when the two runs name different cards. Exits 0
when every expected line is in the output, 1 otherwise (printing the output and what was
missing)."""
import json
import os
import subprocess
import sys
import tempfile


def run_doc(rows, date, card=None):
    context = {"host_name": "test", "date": date}
    if card:
        context["cuda_device"] = "0: " + card
    return {"context": context,
            "benchmarks": [{"name": name + "/manual_time", "run_type": "iteration",
                            "real_time": us, "time_unit": "us"} for name, us in rows]}


def main():
    script = os.path.join(os.path.dirname(__file__), "..", "..", "bench", "bench_tables.py")
    old = [("conv2d_fwd/a/b1/hand", 200.0), ("conv2d_fwd/b/b1/hand", 100.0),
           ("max_pool2d_bwd/c/b1/hand", 50.0), ("relu_bwd/gone/b1/hand", 10.0)]
    new = [("conv2d_fwd/a/b1/hand", 100.0), ("conv2d_fwd/b/b1/hand", 200.0),
           ("max_pool2d_bwd/c/b1/hand", 49.0), ("max_pool2d_bwd_relu/c/b1/hand", 60.0)]
    with tempfile.TemporaryDirectory() as folder:
        old_path, new_path = os.path.join(folder, "old.json"), os.path.join(folder, "new.json")
        with open(old_path, "w") as f:
            json.dump(run_doc(old, "2026-12-04"), f)
        with open(new_path, "w") as f:
            json.dump(run_doc(new, "2026-12-05"), f)
        out = subprocess.run([sys.executable, script, "--since", old_path, new_path],
                             capture_output=True, text=True, check=False)
        with open(new_path, "w") as f:
            json.dump(run_doc(new, "2026-12-05", "NVIDIA H100 80GB HBM3"), f)
        other_card = subprocess.run([sys.executable, script, "--since", old_path, new_path],
                                    capture_output=True, text=True, check=False).stdout
    text = out.stdout
    warning = "**Different cards** (none named then NVIDIA H100 80GB HBM3)"
    if warning in text or warning not in other_card:
        print(text + "\n" + other_card)
        print("the different-cards warning is wrong: expected only in the second output:", warning)
        return 1
    expected = [
        "| conv2d_fwd/a/b1/hand | 0.2 | 0.1 | 2.00 |",
        "| max_pool2d_bwd/c/b1/hand | 0.05 | 0.049 | 1.02 |",
        "| conv2d_fwd/b/b1/hand | 0.1 | 0.2 | 0.50 |",
        "| conv2d_fwd | 2 | 1.00 | 1 | 1 |",
        "| max_pool2d_bwd | 1 | 1.02 | 0 | 0 |",
        "Only in the old run: 1 rows; only in the new run: 1 rows "
        "(max_pool2d_bwd_relu/c/b1/hand).",
        "Old run: host_name test; date 2026-12-04",
    ]
    missing = [line for line in expected if line not in text]
    order = [text.find(expected[i]) for i in range(3)]
    if out.returncode != 0 or missing or order != sorted(order):
        print(text + out.stderr)
        print("missing or out of order:", missing or order)
        return 1
    print("bench_tables --since: every expected line, fastest gain first")
    return 0


if __name__ == "__main__":
    sys.exit(main())
