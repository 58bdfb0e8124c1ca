"""Check weft's ONNX exports with the real ONNX tools: onnx.checker and ONNX Runtime.

Usage: check_onnx_export.py --cases-tool build/tests/weft_onnx_cases --out DIR
       check_onnx_export.py --exports FILE.onnx ...

The cases tool (tests/tools/onnx_cases.cpp) exports every seed model into DIR and writes weft's
inputs and outputs on random inputs and on real Fashion-MNIST images. For each export this
script checks:
  - onnx.checker.check_model(full_check=True) (with shape inference) accepts it;
  - IR version 8, opset 17, named inputs whose first dimension is the symbolic "batch", and the
    preprocessing metadata (input_size, normalization_*, and class_names where the model has them);
  - ONNX Runtime's outputs match weft's within 1e-4 (absolute, or relative to the value where
    weft's output exceeds 1 in magnitude), on every input set.
With --exports, the files the apps wrote with --export-onnx get the checker, the structure
checks and one ONNX Runtime run on random inputs of batch 2 (finite outputs of the declared
shape); their agreement with weft is what the cases above check, through the same export code.
Exit status 77 (ctest: skipped), with a message, when onnx, onnxruntime or numpy is missing.
"""
import argparse
import json
import os
import subprocess
import sys

try:
    import numpy as np
    import onnx
    import onnxruntime as ort
except ImportError as error:
    print(f"SKIPPED: {error} (scripts/setup.sh installs onnx, onnxruntime and numpy into .venv)")
    sys.exit(77)

TOLERANCE = 1e-4
REQUIRED_METADATA = ["weft_model", "input_size", "inputs", "output", "normalization_scale",
                     "normalization_mean", "normalization_std", "preprocessing"]


def load(directory, entry):
    array = np.fromfile(os.path.join(directory, entry["file"]), dtype=entry["dtype"])
    return array.reshape(entry["shape"])


def check_structure(name, model, case_inputs):
    problems = []
    if model.ir_version != 8:
        problems.append(f"IR version {model.ir_version}, expected 8")
    opsets = {o.domain: o.version for o in model.opset_import}
    if opsets.get("", opsets.get("ai.onnx")) != 17:
        problems.append(f"opset {opsets}, expected 17")
    graph_inputs = [i.name for i in model.graph.input]
    if graph_inputs != list(case_inputs):
        problems.append(f"inputs {graph_inputs}, expected {list(case_inputs)}")
    for value in list(model.graph.input) + list(model.graph.output):
        first = value.type.tensor_type.shape.dim[0]
        if first.dim_param != "batch":
            problems.append(f"{value.name}: first dimension {first}, expected the symbolic 'batch'")
    metadata = {p.key: p.value for p in model.metadata_props}
    for key in REQUIRED_METADATA:
        if key not in metadata:
            problems.append(f"metadata lacks {key}")
    if name.startswith(("fashion", "shoe", "resnet", "apparel")) and "class_names" not in metadata:
        problems.append("metadata lacks class_names")
    return problems


def check_app_exports(paths):
    """The --exports mode: each file valid, well described, and runnable with a batch of 2."""
    failures = []
    for path in paths:
        try:
            onnx.checker.check_model(path, full_check=True)
        except Exception as error:  # the checker raises several exception types
            failures.append(f"{path}: onnx.checker: {error}")
            continue
        model = onnx.load(path)
        inputs = [i.name for i in model.graph.input]
        metadata = {p.key: p.value for p in model.metadata_props}
        failures += [f"{path}: {p}" for p in check_structure("", model, inputs)]
        if "app" not in metadata or "class_names" not in metadata:
            failures.append(f"{path}: metadata lacks app or class_names")
        session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        rng = np.random.default_rng(1)
        feeds = {}
        for value in session.get_inputs():
            shape = [2] + list(value.shape[1:])
            if value.type == "tensor(int64)":
                feeds[value.name] = np.zeros(shape, dtype=np.int64)
            else:
                feeds[value.name] = rng.standard_normal(shape).astype(np.float32)
        outputs = session.run(None, feeds)
        for declared, got in zip(session.get_outputs(), outputs):
            if list(got.shape) != [2] + list(declared.shape[1:]) or not np.isfinite(got).all():
                failures.append(f"{path}: {declared.name} has shape {got.shape} or non-finite values")
        print(f"{path}: {metadata.get('app')} {metadata.get('weft_model')}, inputs {inputs}, "
              f"outputs {[o.shape for o in outputs]}: ok")
    for failure in failures:
        print("  " + failure)
    return 1 if failures else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases-tool")
    parser.add_argument("--out")
    parser.add_argument("--exports", nargs="+", help="ONNX files written by the apps")
    parser.add_argument("--fashion-mnist", default="/usr/share/datasets/fashion-mnist")
    args = parser.parse_args()
    if args.exports:
        return check_app_exports(args.exports)
    if not (args.cases_tool and args.out):
        parser.error("give --cases-tool and --out, or --exports")

    if not os.path.isdir(args.fashion_mnist):
        print(f"SKIPPED: no Fashion-MNIST at {args.fashion_mnist} (Debian's dataset-fashion-mnist)")
        return 77
    subprocess.run([args.cases_tool, args.out, args.fashion_mnist], check=True)
    with open(os.path.join(args.out, "cases.json")) as f:
        cases = json.load(f)["cases"]

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    failures = []
    print(f"onnx {onnx.__version__}, onnxruntime {ort.__version__}, tolerance {TOLERANCE}")
    for case in cases:
        path = os.path.join(args.out, case["onnx"])
        name = case["name"]
        try:
            onnx.checker.check_model(path, full_check=True)
        except Exception as error:  # the checker raises several exception types
            failures.append(f"{name}: onnx.checker: {error}")
            continue
        model = onnx.load(path)
        problems = check_structure(name, model, case["sets"][0]["inputs"])
        failures += [f"{name}: {p}" for p in problems]
        session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        for input_set in case["sets"]:
            feeds = {k: load(args.out, v) for k, v in input_set["inputs"].items()}
            names = list(input_set["outputs"])
            results = session.run(names, feeds)
            for output_name, got in zip(names, results):
                want = load(args.out, input_set["outputs"][output_name])
                if got.shape != want.shape:
                    failures.append(f"{name}/{input_set['name']}: {output_name} shape {got.shape}, "
                                    f"weft {want.shape}")
                    continue
                error = np.abs(got.astype(np.float64) - want)
                scaled = error / np.maximum(1.0, np.abs(want))
                worst = float(scaled.max())
                status = "ok" if worst <= TOLERANCE else "MISMATCH"
                print(f"{name:36s} {input_set['name']:6s} {output_name:13s} "
                      f"batch {want.shape[0]}  max |ort - weft| {float(error.max()):.2e}  "
                      f"scaled {worst:.2e}  max |weft| {float(np.abs(want).max()):.3g}  {status}")
                if worst > TOLERANCE:
                    failures.append(f"{name}/{input_set['name']}: {output_name} differs by "
                                    f"{worst:.3g} (scaled) > {TOLERANCE}")
    if failures:
        print(f"{len(failures)} failure(s):")
        for failure in failures:
            print("  " + failure)
        return 1
    print(f"all {len(cases)} exports pass")
    return 0


if __name__ == "__main__":
    sys.exit(main())
