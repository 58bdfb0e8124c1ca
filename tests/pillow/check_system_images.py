"""weft's decoding of every image file on this machine against Pillow's (run by hand).

Files no test of weft wrote: the PNG icons, JPEG and BMP/PGM/PPM files that Debian packages and
toolchains install. Each is decoded by weft (tests/tools/decode_image.cpp, full size, as RGB
and as one channel) and by Pillow (`convert("RGB")`, `convert("L")`; 16-bit grey compared by its
high byte, as weft takes it), and the counts are printed: equal, differing (with examples),
refused by one side or both. docs/benchmarks.md ("Image decoding") has a run.

Usage: .venv/bin/python tests/pillow/check_system_images.py build/tests/weft_decode_image [ROOT]
"""

import collections
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".pgm", ".ppm"}
SKIPPED = ("/proc/", "/sys/", "/tmp/", "/build", "weft_test")


def weft_pixels(tool, path, channels, raw):
    result = subprocess.run([tool, str(path), "0", "0", str(channels), "pad", raw],
                            capture_output=True, text=True)
    if result.returncode != 0:
        return None
    h, w = map(int, result.stdout.split())
    planes = np.fromfile(raw, dtype=np.uint8).reshape(channels, h, w)
    return planes.transpose(1, 2, 0) if channels == 3 else planes[0]


def pillow_pixels(image, mode):
    if image.mode in ("I;16", "I;16B", "I"):
        high = (np.asarray(image).astype(np.int64) >> 8).astype(np.uint8)
        return high if mode == "L" else np.dstack([high] * 3)
    return np.asarray(image.convert(mode))


def main():
    tool = sys.argv[1]
    root = Path(sys.argv[2] if len(sys.argv) > 2 else "/")
    counts = collections.Counter()
    differing = []
    refused = []
    raw = tempfile.mktemp(suffix=".raw")
    for path in root.rglob("*"):
        text = str(path)
        if path.suffix.lower() not in SUFFIXES or any(s in text for s in SKIPPED):
            continue
        try:
            if not path.is_file():
                continue
            image = Image.open(path)
            image.load()
        except Exception:
            image = None
        for channels, mode in [(3, "RGB"), (1, "L")]:
            ours = weft_pixels(tool, path, channels, raw)
            if ours is None or image is None:
                if ours is None and image is None:
                    counts["both refuse"] += 1
                elif ours is None:
                    counts["weft refuses, Pillow reads"] += 1
                    refused.append(text)
                else:
                    counts["Pillow refuses, weft reads"] += 1
                break
            theirs = pillow_pixels(image, mode)
            same = theirs.shape == ours.shape and np.array_equal(theirs, ours)
            counts[f"{mode} {'equal' if same else 'differs'}"] += 1
            if not same:
                differing.append((text, mode))
    for key, value in sorted(counts.items()):
        print(f"{key}: {value}")
    for text, mode in differing[:20]:
        print("differs:", mode, text)
    for text in refused[:20]:
        print("weft refuses:", text)
    return 1 if differing else 0


if __name__ == "__main__":
    sys.exit(main())
