#!/usr/bin/env python3
"""Static evidence for every hand CUDA kernel, without a GPU: registers, spills, shared memory,
theoretical occupancy on sm_90 and the main loop's instruction mix, from the built library.

    bench/kernel_static_table.py [--build build]          regenerate the table in
                                                         docs/kernels.md (between the marker
                                                         comments) and the JSON beside it
    bench/kernel_static_table.py --check                 fail (exit 1) if any kernel spills or
                                                         the table in docs/kernels.md or the
                                                         JSON is not what the library gives
    (also: cmake --build build --target kernel_static_table)

Where each number comes from:
  registers, static shared   `cuobjdump --dump-resource-usage` on build/libweft_kernels_cuda.a
                             (REG, SHARED), the SASS that the library carries for sm_90
  spill stores / loads       `ptxas -v -arch=sm_90` (the build's own ptxas, next to its nvcc)
                             re-run on the PTX the library embeds (`cuobjdump -ptx`): "bytes
                             spill stores/loads"; its register count is checked against REG.
                             Spilled registers live in the thread's stack frame, so a file whose
                             kernels all have STACK:0 and LOCAL:0 in the library has no spills,
                             and ptxas is re-run only on files with a kernel that has either or
                             whose PTX asks for spilling to shared memory (--ptxas-all: on every
                             file; it took about half of the check's 80 s on 2 cores). Also the
                             local-memory instructions in the SASS (STL, LDL), which spill code
                             is made of
  block size                 `.maxntid` in the PTX where the kernel has __launch_bounds__;
                             otherwise the block argument of its launch sites (WEFT_LAUNCH in
                             kernels/cuda/*.cu, *.h), evaluated from the constexpr constants
                             there; a block size only known at run time (an upper bound) comes
                             from RUNTIME_BLOCKS below, which says why
  dynamic shared memory      the launch sites' shared-bytes argument (WEFT_LAUNCH and
                             WEFT_LAUNCH_LARGE_SHARED); for a tensor-core kernel whose stages
                             live in dynamic shared memory (dynamic_stage_bytes<Tile>(),
                             kernels/cuda/tensor_core_pipeline.h) the stages' bytes worked out
                             from the TensorTile<rows, cols, depth, stages, blocks> in its name
  occupancy                  the limits of compute capability 9.0 (CUDA C++ Programming Guide,
                             "Technical Specifications per Compute Capability"; CUDA Occupancy
                             Calculator): 64 warps, 2048 threads and 32 blocks per SM; 65,536
                             registers per SM allocated per warp in units of 256; 228 KB of
                             shared memory per SM, at most 227 KB per block, plus 1 KB that
                             the system reserves per block, allocated in units of 128 bytes
  main loop                  `cuobjdump -sass`: a loop is a backward branch (BRA to a lower
                             address; branches to one target are one loop); the innermost loops
                             contain no other loop; the main loop is the innermost loop with the
                             most instructions (of those with a 16-byte global load or store,
                             where any has one: a float4 path before its one-float fallback).
                             Its instructions are counted by opcode class
  machine code's hash        sha256 of each kernel's .text section in the cubins the library
                             carries (`cuobjdump -xelf all`, read as ELF here). --check compares
                             them with the JSON's: where every kernel's machine code is the one
                             the JSON was made from, its disassembly is too, and the SASS columns
                             are taken from the JSON instead of disassembling again (nvdisasm
                             took 33 of the check's 40 s on 2 cores); any difference and the
                             library is disassembled as when regenerating (--disassemble:
                             always). So the check trusts the JSON's SASS columns for machine
                             code it was made from: it finds a table gone stale, not one edited
                             by hand to match

Tools: cuobjdump from --cuobjdump, $WEFT_CUOBJDUMP, PATH, the build's CUDA bin directory, NVIDIA's
`nvidia-cuda-cuobjdump` wheel (nvidia/cu13/bin; scripts/setup.sh installs it and
`nvidia-cuda-nvdisasm`, which `cuobjdump -sass` runs, into the project's .venv where the toolkit
has neither, as CUDA 13.0's at /usr/local/cuda has not), or the copy
that Triton's wheel bundles (triton/backends/nvidia/bin). Standard library only. --check does
not compare cuobjdump's own version: another release that prints the same table passes.
"""
import argparse
import ast
import hashlib
import json
import operator
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "kernels.md"
JSON_OUT = ROOT / "docs" / "benchmarks" / "cuda_kernels_static_sm90.json"
BEGIN = "<!-- kernel-static-table:begin (bench/kernel_static_table.py writes this) -->"
END = "<!-- kernel-static-table:end -->"
ARCH = "sm_90"

# sm_90 limits (see the module docstring for the source).
SM = {"warps": 64, "threads": 2048, "blocks": 32, "registers": 65536, "reg_unit": 256,
      "shared": 228 * 1024, "shared_per_block": 227 * 1024, "shared_reserved": 1024,
      "shared_unit": 128, "max_regs_per_thread": 255}

# Kernels whose block size is computed at run time: the largest it can be, and why.
RUNTIME_BLOCKS = {
    "channel_moments_kernel": (256, "plan.threads: the slice rounded up to a multiple of 32, "
                                    "clamped to [32, kBlockThreads] (batchnorm.cu)"),
    "gradient_sums_kernel": (256, "plan.threads, as channel_moments_kernel (batchnorm.cu)"),
    "reduce_broadcast_kernel": (256, "the summed count rounded up to a multiple of 32, at most "
                                     "kBlockThreads (elementwise.cu)"),
}

# Opcode classes of the instruction mix.
CLASSES = [
    ("FFMA", {"FFMA"}),
    ("HMMA/HFMA2", {"HMMA", "HFMA2", "HADD2", "HMUL2"}),
    ("other FP", {"FADD", "FMUL", "FMNMX", "FSEL", "FSETP", "FCHK", "MUFU", "FRND", "FSWZADD",
                  "DFMA", "DADD", "DMUL", "DSETP", "F2F", "F2I", "I2F", "I2FP", "F2FP"}),
    ("global ld", {"LDG"}),
    ("shared ld", {"LDS", "LDSM"}),
    ("st", {"STG", "STS", "ST", "STL"}),
    ("other ld", {"LDC", "LD", "LDL", "LDGSTS", "ULDC"}),
    ("int", {"IMAD", "IADD3", "ISETP", "LEA", "LOP3", "SHF", "VIADD", "SEL", "IABS", "IMNMX",
             "VIMNMX", "VIADDMNMX", "PRMT", "POPC", "FLO", "BREV", "IMUL", "IADD", "PLOP3",
             "UIADD3", "ULEA", "UIMAD", "USHF", "ULOP3", "UISETP", "USEL", "UMOV", "MOV",
             "SGXT", "BMSK", "LEA.HI", "IDP", "UPRMT", "UFLO", "UPOPC", "UBREV"}),
]


def fail(message):
    print(f"kernel_static_table: {message}", file=sys.stderr)
    sys.exit(1)


def run(args):
    result = subprocess.run(args, capture_output=True, text=True)
    if result.returncode != 0:
        fail(f"{' '.join(map(str, args))} failed: {result.stderr.strip()[:400]}")
    return result.stdout + result.stderr


# ---- tools and build ------------------------------------------------------------------------

def cuda_compiler(build):
    """{CMAKE_CUDA_COMPILER, CMAKE_CUDA_COMPILER_VERSION} of the build (empty without CUDA)."""
    found = {}
    for path in sorted(build.glob("CMakeFiles/*/CMakeCUDACompiler.cmake")):
        for m in re.finditer(r'set\((CMAKE_CUDA_COMPILER(?:_VERSION)?) "([^"]*)"\)',
                             path.read_text()):
            found[m.group(1)] = m.group(2)
    return found


def find_cuobjdump(given, cuda_bin):
    candidates = [given, os.environ.get("WEFT_CUOBJDUMP"), shutil.which("cuobjdump")]
    if cuda_bin:
        candidates.append(str(Path(cuda_bin) / "cuobjdump"))
    venv = sorted(str(p) for p in ROOT.glob(".venv/lib/python3*/site-packages"))
    site_dirs = list(sys.path) + venv
    for entry in site_dirs:
        candidates.append(str(Path(entry) / "nvidia" / "cu13" / "bin" / "cuobjdump"))
    for entry in site_dirs:
        candidates.append(str(Path(entry) / "triton" / "backends" / "nvidia" / "bin" / "cuobjdump"))
    for c in candidates:
        if c and Path(c).is_file() and os.access(c, os.X_OK):
            return c
    return None


def tool_version(tool):
    text = run([tool, "--version"])
    m = re.search(r"release [0-9.]+, V([0-9.]+)", text)
    return m.group(1) if m else "unknown"


# ---- launch sites -------------------------------------------------------------------------

def split_args(text):
    """Top-level comma-separated arguments of text (which starts after an opening paren)."""
    args, depth, current = [], 0, ""
    for ch in text:
        if ch in "(<[{":
            depth += 1
        elif ch in ")>]}":
            if depth == 0:
                args.append(current.strip())
                return args
            depth -= 1
        if ch == "," and depth == 0:
            args.append(current.strip())
            current = ""
        else:
            current += ch
    return args


OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
       ast.FloorDiv: operator.floordiv, ast.Div: operator.floordiv}


def evaluate(expr, constants):
    """Integer value of a C++ constant expression of names, literals and + - * /, or None."""
    expr = re.sub(r"\b(\d+)[uUlL]*\b", r"\1", expr.strip())

    def walk(node):
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return node.value
        if isinstance(node, ast.Name) and node.id in constants:
            return constants[node.id]
        if isinstance(node, ast.BinOp) and type(node.op) in OPS:
            left, right = walk(node.left), walk(node.right)
            return None if left is None or right is None else OPS[type(node.op)](left, right)
        return None

    try:
        return walk(ast.parse(expr, mode="eval"))
    except SyntaxError:
        return None


def tensor_stage_bytes(name):
    """Dynamic shared memory of a tensor-core kernel's stages (tensor_core_pipeline.h:
    kDynamicStages, TensorStages): stages x (rows + cols) rows of depth + 4 floats, or for a
    kernel on BF16 copies (HalfStages: an `unsigned short` element in its name) of depth + 8
    16-bit values, when that is above 46 KiB; 0 otherwise or when the name holds no TensorTile."""
    m = re.search(r"TensorTile<(\d+), (\d+), (\d+), (\d+), (\d+)", name)
    if not m:
        return 0
    rows, cols, depth, stages = (int(m.group(i)) for i in range(1, 5))
    if "unsigned short" in name:
        size = stages * (rows + cols) * (depth + 8) * 2
    else:
        size = stages * (rows + cols) * (depth + 4) * 4
    return size if size > 46 * 1024 else 0


def launch_sites(source_dir):
    """{kernel base name: [(block, dynamic shared bytes, where)]} from every WEFT_LAUNCH."""
    texts = {p: p.read_text() for p in sorted(source_dir.glob("*.cu")) + sorted(
        source_dir.glob("*.h"))}
    constants = {}
    for _ in range(4):  # constants defined from other constants: a few passes
        for text in texts.values():
            for m in re.finditer(r"constexpr\s+[\w:]+\s+(\w+)\s*=\s*([^;]+);", text):
                value = evaluate(m.group(2), constants)
                if value is not None:
                    constants[m.group(1)] = value
    sites = {}
    for path, text in texts.items():
        for m in re.finditer(r"WEFT_LAUNCH(?:_LARGE_SHARED)?\(", text):
            line_start = text.rfind("\n", 0, m.start()) + 1
            if "#define" in text[line_start:m.start()] or "//" in text[line_start:m.start()]:
                continue
            args = split_args(text[m.end():])
            if len(args) < 5:
                continue
            name = re.sub(r"<.*", "", args[0].strip("() "))
            line = text.count("\n", 0, m.start()) + 1
            sites.setdefault(name, []).append(
                (evaluate(args[2], constants), evaluate(args[3], constants), args[2],
                 f"{path.name}:{line}", args[3]))
    return sites


# ---- the library --------------------------------------------------------------------------

def demangle(names):
    out = run(["c++filt"] + names) if shutil.which("c++filt") else "\n".join(names)
    return out.splitlines()


def readable(demangled):
    text = demangled.replace("weft::cuda::gpu::", "").replace("(anonymous namespace)::", "")
    text = re.sub(r"\bweft::", "", text)
    text = re.sub(r"^void ", "", text)  # a template's return type
    depth, cut = 0, len(text)
    for i, ch in enumerate(text):  # drop the parameter list: the first '(' outside <...>
        if ch == "<":
            depth += 1
        elif ch == ">":
            depth -= 1
        elif ch == "(" and depth == 0:
            cut = i
            break
    return text[:cut]


def resource_usage(cuobjdump, library):
    usage, member = {}, None
    for line in run([cuobjdump, "--dump-resource-usage", str(library)]).splitlines():
        m = re.match(r"member .*:(\S+\.o):", line)
        if m:
            member = m.group(1).replace(".o", "")
            continue
        m = re.match(r"\s*Function (\S+):", line)
        if m:
            current = m.group(1)
            continue
        m = re.match(r"\s*REG:(\d+) STACK:(\d+) SHARED:(\d+) LOCAL:(\d+)", line)
        if m:
            usage[current] = {"file": member, "registers": int(m.group(1)),
                              "stack": int(m.group(2)), "static_shared": int(m.group(3)),
                              "local": int(m.group(4))}
    return usage


def ptxas_report(cuobjdump, ptxas, library, files):
    """{mangled entry: {registers, spill_stores, spill_loads, maxntid}} from the embedded PTX;
    ptxas runs on the members named in `files` (as resource_usage names them), or on all."""
    report, chunks, current = {}, [], None
    for line in run([cuobjdump, "-ptx", str(library)]).splitlines():
        if line.startswith("member "):
            m = re.match(r"member .*:(\S+\.o):", line)
            current = []
            chunks.append((m.group(1).replace(".o", "") if m else None, current))
        elif current is not None:
            current.append(line)
    with tempfile.TemporaryDirectory() as tmp:
        for index, (member, chunk) in enumerate(chunks):
            text = "\n".join(chunk)
            start = text.find(".version")
            if start < 0 or ".entry" not in text:
                continue
            ptx = text[start:]
            stop = re.search(r"^Fatbin ", ptx, re.M)  # the member's next fatbin section
            ptx = ptx[:stop.start()] if stop else ptx
            for m in re.finditer(r"\.entry\s+(\w+)\s*\(([^)]*)\)\s*([^{]*)\{", ptx):
                nt = re.search(r"\.maxntid\s+(\d+)\s*,\s*(\d+)\s*,\s*(\d+)", m.group(3))
                entry = report.setdefault(m.group(1), {})
                entry["maxntid"] = (int(nt.group(1)) * int(nt.group(2)) * int(nt.group(3))
                                    if nt else None)
            # A kernel may ask ptxas to spill into shared memory (PTX ISA 9.0), which needs no
            # stack frame: its file is always re-run.
            if files is not None and member not in files and "enable_smem_spilling" not in ptx:
                continue
            path = Path(tmp) / f"member{index}.ptx"
            path.write_text(ptx)
            out = run([ptxas, "-v", f"-arch={ARCH}", "-o", os.devnull, str(path)])
            name = None
            for line in out.splitlines():
                m = re.search(r"Compiling entry function '(\w+)'", line)
                if m:
                    name = m.group(1)
                    continue
                m = re.search(r"(\d+) bytes stack frame, (\d+) bytes spill stores, "
                              r"(\d+) bytes spill loads", line)
                if m and name:
                    report.setdefault(name, {}).update(
                        stack=int(m.group(1)), spill_stores=int(m.group(2)),
                        spill_loads=int(m.group(3)))
                m = re.search(r"Used (\d+) registers", line)
                if m and name:
                    report.setdefault(name, {})["registers"] = int(m.group(1))
                    name = None
    return report


def sass_functions(cuobjdump, library):
    """{mangled: [(address, opcode, branch target or None)]} from `cuobjdump -sass`."""
    functions, current = {}, None
    pattern = re.compile(r"/\*([0-9a-f]{4,})\*/\s+(.*?)\s*;")
    for line in run([cuobjdump, "-sass", str(library)]).splitlines():
        m = re.match(r"\s*Function : (\S+)", line)
        if m:
            current = functions.setdefault(m.group(1), [])
            continue
        m = pattern.search(line)
        if not m or current is None:
            continue
        text = re.sub(r"^@!?U?P[T0-9]+\s+", "", m.group(2))
        opcode = text.split()[0]
        if opcode == "HFMA2.MMA" and "-RZ, RZ" in text:
            opcode = "MOV.HFMA2"  # how the compiler loads a constant, not half math
        target = None
        b = re.match(r"BRA(\.\S+)?\s+(?:.*,\s*)?(0x[0-9a-f]+)$", text)
        if b:
            target = int(b.group(2), 16)
        current.append((int(m.group(1), 16), opcode, target))
    return functions


def text_hashes(cuobjdump, library):
    """{mangled: sha256 of the kernel's machine code} from the library's sm_90 cubins.

    A cubin is an ELF file whose section `.text.<mangled name>` holds a kernel's code. A name in
    several cubins (a template instantiated in two files) gets its hashes joined, sorted."""
    found = {}
    with tempfile.TemporaryDirectory() as folder:
        # -xelf writes the cubins into the current directory.
        result = subprocess.run([cuobjdump, "-xelf", "all", str(library)], cwd=folder,
                                capture_output=True, text=True)
        if result.returncode != 0:
            fail(f"cuobjdump -xelf failed: {result.stderr.strip()[:400]}")
        for cubin in sorted(Path(folder).glob("*.cubin")):
            data = cubin.read_bytes()
            if data[:4] != b"\x7fELF" or data[4] != 2:
                fail(f"{cubin.name} from {library}: not a 64-bit ELF file")
            shoff = struct.unpack_from("<Q", data, 0x28)[0]
            shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
            sections = [struct.unpack_from("<IIQQQQ", data, shoff + i * shentsize)
                        for i in range(shnum)]
            names_at = sections[shstrndx][4]
            for name_offset, _, _, _, offset, size in sections:
                end = data.index(b"\0", names_at + name_offset)
                name = data[names_at + name_offset:end].decode()
                if name.startswith(".text."):
                    digest = hashlib.sha256(data[offset:offset + size]).hexdigest()
                    found.setdefault(name[len(".text."):], []).append(digest)
    return {m: "+".join(sorted(d)) for m, d in found.items()}


def opcode_class(opcode):
    base = opcode.split(".")[0]
    for name, members in CLASSES:
        if base in members:
            return name
    return "other"


FMA_OPS = ("FFMA", "HMMA", "HFMA2")


def main_loop(instructions):
    """The main loop: (start, end, [opcodes]) or None when the kernel has no loop.

    Loops are backward branches (branches to one target are one loop, ending at the last of
    them); a loop's instructions are all those in its address span, nested loops included. The
    main loop is the loop with the most FFMA/HMMA/HFMA2 instructions, the smallest of those that
    tie (an outer loop holds its inner loops' FMAs too, so the innermost one that has them all
    wins); where no loop has an FMA, the innermost loop (one with no loop inside) with the most
    instructions, among those with a 16-byte global load or store where any has one (a
    memory-bound kernel's float4 path, which it takes on aligned arrays, rather than its
    one-float fallback)."""
    loops = {}
    for address, _, target in instructions:
        if target is not None and target < address:
            loops[target] = max(loops.get(target, 0), address)
    candidates = []
    for s, e in sorted(loops.items()):
        body = [op for a, op, _ in instructions if s <= a <= e]
        fmas = sum(1 for op in body if op.split(".")[0] in FMA_OPS)
        nested = any((s2, e2) != (s, e) and s <= s2 and e2 <= e for s2, e2 in loops.items())
        wide = any(op.split(".")[0] in ("LDG", "STG") and ".128" in op for op in body)
        candidates.append((s, e, body, fmas, nested, wide))
    if not candidates:
        return None
    most = max(c[3] for c in candidates)
    if most > 0:
        best = min((c for c in candidates if c[3] == most), key=lambda c: (len(c[2]), c[0]))
    else:
        innermost = [c for c in candidates if not c[4]]
        if any(c[5] for c in innermost):
            innermost = [c for c in innermost if c[5]]
        best = max(innermost, key=lambda c: (len(c[2]), -c[0]))
    return best[0], best[1], best[2]


def instruction_mix(opcodes):
    mix = {name: 0 for name, _ in CLASSES}
    mix["other"] = 0
    for op in opcodes:
        mix[opcode_class(op)] += 1
    return mix


# ---- occupancy ----------------------------------------------------------------------------

def occupancy(threads, registers, shared_bytes):
    warps = -(-threads // 32)
    limits = {"warps": SM["warps"] // warps, "blocks": SM["blocks"]}
    regs_per_warp = -(-registers * 32 // SM["reg_unit"]) * SM["reg_unit"]
    limits["registers"] = (SM["registers"] // regs_per_warp) // warps if registers else 10**9
    per_block = shared_bytes + SM["shared_reserved"]
    per_block = -(-per_block // SM["shared_unit"]) * SM["shared_unit"]
    limits["shared"] = (SM["shared"] // per_block
                        if shared_bytes <= SM["shared_per_block"] else 0)
    blocks = min(limits.values())
    limiter = [k for k, v in limits.items() if v == blocks]
    return {"blocks_per_sm": blocks, "warps_per_sm": blocks * warps,
            "occupancy": blocks * warps / SM["warps"], "limited_by": limiter}


# ---- the table ----------------------------------------------------------------------------

def collect(build):
    cache = cuda_compiler(build)
    nvcc = cache.get("CMAKE_CUDA_COMPILER")
    if not nvcc:
        fail(f"{build}: no CUDA build (no CMakeFiles/*/CMakeCUDACompiler.cmake)")
    cuda_bin = Path(nvcc).parent
    library = build / "libweft_kernels_cuda.a"
    if not library.exists():
        fail(f"{library} not built")
    cuobjdump = find_cuobjdump(ARGS.cuobjdump, cuda_bin)
    if not cuobjdump:
        print("kernel_static_table: cuobjdump not found (--cuobjdump, WEFT_CUOBJDUMP, PATH, CUDA "
              "bin, Triton's wheel); nothing checked", file=sys.stderr)
        sys.exit(77)  # ctest's SKIP_RETURN_CODE: reported as skipped, never as passed
    # `cuobjdump -sass` runs nvdisasm, looked up on PATH: the one beside cuobjdump first.
    os.environ["PATH"] = os.pathsep.join([str(Path(cuobjdump).parent), str(cuda_bin),
                                          os.environ.get("PATH", "")])
    if not shutil.which("nvdisasm") and not os.environ.get("NVDISASM_PATH"):
        print(f"kernel_static_table: nvdisasm, which `cuobjdump -sass` runs, not found (beside "
              f"{cuobjdump}, in CUDA bin, PATH or NVDISASM_PATH); nothing checked",
              file=sys.stderr)
        sys.exit(77)
    ptxas = str(cuda_bin / "ptxas")
    usage = resource_usage(cuobjdump, library)
    with_frames = {u["file"] for u in usage.values() if u["stack"] or u["local"]}
    ptx = ptxas_report(cuobjdump, ptxas, library, None if ARGS.ptxas_all else with_frames)
    hashes = text_hashes(cuobjdump, library)
    sites = launch_sites(ROOT / "kernels" / "cuda")
    mangled = sorted(usage)
    names = dict(zip(mangled, demangle(mangled)))
    recorded = (recorded_sass(mangled, names, hashes) if ARGS.check and not ARGS.disassemble
                else None)
    sass = sass_functions(cuobjdump, library) if recorded is None else {}
    kernels, problems = [], []
    for m in mangled:
        name = readable(names[m])
        base = re.sub(r"<.*", "", name)
        info = dict(usage[m])
        p = ptx.get(m, {})
        if "registers" not in p and not ARGS.ptxas_all and info["file"] not in with_frames:
            # No stack frame and no local memory: nowhere for a spill to go.
            p = dict(p, registers=info["registers"], spill_stores=0, spill_loads=0)
        if p.get("registers") != info["registers"]:
            problems.append(f"{name}: ptxas says {p.get('registers')} registers, the library "
                            f"{info['registers']}")
        if p.get("maxntid"):
            threads, block_from, dynamic = p["maxntid"], "__launch_bounds__ (.maxntid)", 0
            for site in sites.get(base, []):
                dynamic = max(dynamic, site[1] or 0)
            if any("dynamic_stage_bytes" in site[4] for site in sites.get(base, [])):
                dynamic = max(dynamic, tensor_stage_bytes(name))
        elif base in RUNTIME_BLOCKS:
            threads, block_from = RUNTIME_BLOCKS[base]
            dynamic = max([s[1] or 0 for s in sites.get(base, [])] + [0])
            block_from = "at most; " + block_from
        else:
            found = sites.get(base, [])
            values = {s[0] for s in found}
            if not found or None in values:
                problems.append(f"{name}: no launch site with a block size the script can "
                                f"evaluate (add it to RUNTIME_BLOCKS)")
                continue
            if any(s[1] is None for s in found):
                problems.append(f"{name}: a launch site's dynamic shared memory is not a "
                                f"constant")
                continue
            threads = max(values)
            dynamic = max(s[1] for s in found)
            exprs = sorted({s[2] for s in found})
            # File names without line numbers, so that an edit elsewhere in a file does not make
            # the table stale.
            files = sorted({s[3].split(":")[0] for s in found})
            sites_word = "sites" if len(found) > 1 else "site"
            block_from = f"{', '.join(exprs)} at the WEFT_LAUNCH {sites_word} in {', '.join(files)}"
        if recorded is None:
            instructions = sass.get(m, [])
            local_ops = sum(1 for _, op, _ in instructions
                            if op.split(".")[0] in ("STL", "LDL"))
            loop = main_loop(instructions)
            body = loop[2] if loop else [op for _, op, _ in instructions]
            from_sass = {
                "sass_local_memory_instructions": local_ops,
                "sass_instructions": len(instructions),
                "main_loop": ({"start": f"0x{loop[0]:x}", "end": f"0x{loop[1]:x}",
                               "instructions": len(loop[2])} if loop else None),
                "main_loop_mix": instruction_mix(body),
            }
        else:
            from_sass = recorded[m]
        kernels.append({
            "kernel": name, "file": info["file"],
            "registers": info["registers"], "stack_bytes": info["stack"],
            "spill_store_bytes": p.get("spill_stores"), "spill_load_bytes": p.get("spill_loads"),
            "sass_local_memory_instructions": from_sass["sass_local_memory_instructions"],
            "static_shared_bytes": info["static_shared"], "dynamic_shared_bytes": dynamic,
            "block_threads": threads, "block_threads_from": block_from,
            "occupancy": occupancy(threads, info["registers"],
                                   info["static_shared"] + dynamic),
            "sass_instructions": from_sass["sass_instructions"],
            "main_loop": from_sass["main_loop"],
            "main_loop_mix": from_sass["main_loop_mix"],
            "sass_sha256": hashes.get(m, ""),
        })
    kernels.sort(key=lambda k: (k["file"], k["kernel"]))
    # Versions, not paths: the JSON must not depend on where the tools or the build live.
    tools = {"cuobjdump": tool_version(cuobjdump), "ptxas": tool_version(ptxas),
             "nvcc": cache.get("CMAKE_CUDA_COMPILER_VERSION", "?"),
             "arch": ARCH, "library": "build/libweft_kernels_cuda.a"}
    return {"tools": tools, "limits_sm90": SM, "kernels": kernels}, problems


def recorded_sass(mangled, names, hashes):
    """The JSON's SASS columns by mangled name, if every kernel's machine code is the one the JSON
    was made from (same kernels, same sha256); otherwise None: disassemble."""
    if not JSON_OUT.exists():
        return None
    rows = {(k["kernel"], k.get("sass_sha256")): k
            for k in json.loads(JSON_OUT.read_text()).get("kernels", [])}
    if len(rows) != len(mangled):
        return None
    taken = {}
    for m in mangled:
        row = rows.get((readable(names[m]), hashes.get(m)))
        if row is None or not hashes.get(m):
            return None
        taken[m] = {key: row[key] for key in ("sass_local_memory_instructions",
                                               "sass_instructions", "main_loop",
                                               "main_loop_mix")}
    print(f"kernel_static_table: the machine code of all {len(mangled)} kernels is the JSON's "
          f"(sha256); its SASS columns stand without disassembling")
    return taken


def spills(k):
    return bool(k["spill_store_bytes"] or k["spill_load_bytes"]
                or k["sass_local_memory_instructions"])


def markdown(doc):
    head = ["kernel", "file", "regs", "spill st/ld B", "static smem B", "block",
            "occupancy (blocks/SM, limit)", "main loop instrs", "FFMA", "HMMA/HFMA2",
            "other FP", "LDG", "LDS", "st", "other ld", "int", "other"]
    lines = ["| " + " | ".join(head) + " |", "|---|---|" + "---:|" * (len(head) - 2)]
    for k in doc["kernels"]:
        o, mix = k["occupancy"], k["main_loop_mix"]
        spill = f"{k['spill_store_bytes']}/{k['spill_load_bytes']}"
        if spills(k):
            spill = f"**SPILLS {spill}**"
        loop = (str(k["main_loop"]["instructions"]) if k["main_loop"]
                else f"no loop ({k['sass_instructions']} in kernel)")
        block = str(k["block_threads"])
        if k["block_threads_from"].startswith("at most"):
            block = f"<= {block}"
        cells = [f"`{k['kernel']}`", k["file"], str(k["registers"]), spill,
                 str(k["static_shared_bytes"]), block,
                 f"{100 * o['occupancy']:.0f}% ({o['blocks_per_sm']}, "
                 f"{'/'.join(o['limited_by'])})", loop,
                 *[str(mix[c]) for c in ("FFMA", "HMMA/HFMA2", "other FP", "global ld",
                                          "shared ld", "st", "other ld", "int", "other")]]
        lines.append("| " + " | ".join(cells) + " |")
    t = doc["tools"]
    spilling = [k["kernel"] for k in doc["kernels"] if spills(k)]
    lines += ["", f"{len(doc['kernels'])} kernels; spilling: "
              f"{', '.join(spilling) if spilling else 'none'}.",
              f"From {t['library']} ({t['arch']}, nvcc {t['nvcc']}); cuobjdump {t['cuobjdump']}, "
              f"ptxas {t['ptxas']}.",
              f"Raw data and each block size's source: "
              f"[{JSON_OUT.name}](benchmarks/{JSON_OUT.name})."]
    return "\n".join(lines)


def spliced(doc_text, table):
    if BEGIN not in doc_text or END not in doc_text:
        fail(f"{DOC} has no marker comments {BEGIN} ... {END}")
    before, rest = doc_text.split(BEGIN, 1)
    _, after = rest.split(END, 1)
    return f"{before}{BEGIN}\n{table}\n{END}{after}"


def main():
    doc, problems = collect(Path(ARGS.build).resolve())
    if ARGS.check and JSON_OUT.exists():
        recorded = json.loads(JSON_OUT.read_text()).get("tools", {}).get("cuobjdump")
        if recorded and recorded != doc["tools"]["cuobjdump"]:
            print(f"kernel_static_table: cuobjdump {doc['tools']['cuobjdump']} here, {recorded} "
                  f"recorded; its version is not compared")
            doc["tools"]["cuobjdump"] = recorded
    for p in problems:
        print(f"kernel_static_table: {p}", file=sys.stderr)
    table = markdown(doc)
    doc_text = DOC.read_text()
    new_doc = spliced(doc_text, table)
    new_json = json.dumps(doc, indent=1) + "\n"
    spilling = [k["kernel"] for k in doc["kernels"] if spills(k)]
    if ARGS.check:
        ok = not problems
        if spilling:
            print(f"kernel_static_table: kernels that spill: {', '.join(spilling)}",
                  file=sys.stderr)
            ok = False
        if new_doc != doc_text or not JSON_OUT.exists() or JSON_OUT.read_text() != new_json:
            print("kernel_static_table: docs/kernels.md or the JSON is not what the built library "
                  "gives; run bench/kernel_static_table.py", file=sys.stderr)
            ok = False
        print(f"kernel_static_table: {len(doc['kernels'])} kernels, "
              f"{len(spilling)} spilling: {'ok' if ok else 'FAILED'}")
        return 0 if ok else 1
    DOC.write_text(new_doc)
    JSON_OUT.write_text(new_json)
    print(f"kernel_static_table: {len(doc['kernels'])} kernels ({len(spilling)} spilling) -> "
          f"{DOC.relative_to(ROOT)}, {JSON_OUT.relative_to(ROOT)}")
    return 1 if problems else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", default=str(ROOT / "build"), help="the CMake build directory")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; fail on a spill or a stale table or JSON")
    parser.add_argument("--cuobjdump", default=None, help="the cuobjdump to use")
    parser.add_argument("--disassemble", action="store_true",
                        help="with --check: disassemble even where the machine code is the JSON's")
    parser.add_argument("--ptxas-all", action="store_true",
                        help="re-run ptxas on every file, not only on those with a stack frame")
    ARGS = parser.parse_args()
    sys.exit(main())
