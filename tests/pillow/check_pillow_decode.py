"""weft's image decoding against Pillow's, on the same files (ctest: pillow.decode).

A PyTorch user reads images with Pillow (torchvision's default loader: Image.open(...).convert(
"RGB")). This writes JPEG files with Pillow as photo sites do (4:2:0 and 4:4:4 chroma, baseline
and progressive, optimised tables, restart markers, grayscale, CMYK), PNG files (RGB, RGBA,
grayscale, palette, 16-bit), a BMP and a PPM, decodes each at full size with weft
(tests/tools/decode_image.cpp) and with Pillow, and compares the pixels:

- JPEG: Pillow and weft both decode with libjpeg-turbo (its accurate integer IDCT, "fancy"
  chroma upsampling), so the pixels must be equal, or within 1 where two libjpeg-turbo versions
  round a colour conversion differently (Pillow's wheel bundles its own); CMYK files are
  converted to RGB the way stb_image and weft do (R = C * K / 255 on Adobe's inverted values),
  which Pillow does differently, so those are checked against weft's own formula.
- PNG: lossless, so equal: RGBA and grey + alpha with alpha dropped as Pillow's convert("RGB")
  drops it, palettes (with transparency, 4-bit), 1-bit; 16-bit, where weft takes the high byte
  (Pillow's "I;16" to "L" clips instead, so that one is compared with the high byte).
- BMP and PPM: equal, as RGB and as one channel.
- grayscale output (weft's channels 1) against Pillow's convert("L"), for grayscale files and
  for colour files (Pillow's luma of the RGB pixels for every format, JPEG included: the file's
  own Y differs from it where RGB clips, by up to 24 on the saturated file here).

Usage: check_pillow_decode.py DECODE_TOOL WORK_DIR
"""

import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image


def picture(w, h, seed):
    """A photo-like RGB picture: smooth colour gradients, a texture and some noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    base = np.stack([200 * x / w + 30, 160 * y / h + 50, 120 * (1 - x * y / (w * h)) + 60], -1)
    texture = 18 * np.sin(x * 0.9)[..., None] * np.cos(y * 0.7)[..., None]
    noise = rng.normal(0, 6, size=(h, w, 3))
    return np.clip(base + texture + noise, 0, 255).astype(np.uint8)


def weft_decode(tool, path, out, channels=3):
    result = subprocess.run([tool, str(path), "0", "0", str(channels), "pad", str(out)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise AssertionError(f"weft refused {path}: {result.stderr.strip()}")
    h, w = map(int, result.stdout.split())
    planes = np.fromfile(out, dtype=np.uint8).reshape(channels, h, w)
    return planes.transpose(1, 2, 0) if channels == 3 else planes[0]


def compare(name, ours, theirs, tolerance):
    if ours.shape != theirs.shape:
        return f"{name}: weft {ours.shape}, Pillow {theirs.shape}"
    diff = np.abs(ours.astype(np.int32) - theirs.astype(np.int32))
    worst, unequal = int(diff.max()), int((diff > 0).sum())
    print(f"{name}: largest difference {worst}, {unequal} of {diff.size} values differ")
    return f"{name}: largest difference {worst} > {tolerance}" if worst > tolerance else None


def main():
    tool, work = sys.argv[1], Path(sys.argv[2])
    work.mkdir(parents=True, exist_ok=True)
    raw = work / "weft.raw"
    failures = []
    rgb = picture(333, 250, 1)

    jpegs = {
        "jpeg-420-q90": dict(quality=90, subsampling=2),
        "jpeg-444-q95": dict(quality=95, subsampling=0),
        "jpeg-422-q75": dict(quality=75, subsampling=1),
        "jpeg-progressive": dict(quality=85, progressive=True),
        "jpeg-optimized": dict(quality=80, optimize=True),
        "jpeg-restart": dict(quality=85, restart_marker_blocks=4),
    }
    for name, options in jpegs.items():
        path = work / f"{name}.jpg"
        Image.fromarray(rgb).save(path, "JPEG", **options)
        theirs = np.asarray(Image.open(path).convert("RGB"))
        failures.append(compare(name, weft_decode(tool, path, raw), theirs, 1))

    path = work / "jpeg-420-q90.jpg"
    theirs = np.asarray(Image.open(path).convert("L"))
    failures.append(compare("jpeg-420-q90 as one channel", weft_decode(tool, path, raw, 1),
                            theirs, 1))

    # Saturated colours: decoding to RGB clips there, so the file's own luma (Y) and Pillow's
    # convert("L") of the RGB pixels part by up to 24; weft's one channel is Pillow's.
    y, x = np.mgrid[0:120, 0:160]
    saturated = np.stack([np.where((x // 20) % 2 == 0, 250, 10),
                          np.where((y // 15) % 2 == 0, 5, 240),
                          np.where(((x + y) // 25) % 2 == 0, 255, 0)], -1).astype(np.float64)
    noise = np.random.default_rng(3).normal(0, 20, saturated.shape)
    path = work / "jpeg-saturated.jpg"
    Image.fromarray(np.clip(saturated + noise, 0, 255).astype(np.uint8)).save(path, quality=85)
    theirs = np.asarray(Image.open(path).convert("L"))
    failures.append(compare("jpeg-saturated as one channel", weft_decode(tool, path, raw, 1),
                            theirs, 1))

    path = work / "jpeg-gray.jpg"
    Image.fromarray(rgb).convert("L").save(path, "JPEG", quality=90)
    theirs = np.asarray(Image.open(path).convert("L"))
    failures.append(compare("jpeg-gray as one channel", weft_decode(tool, path, raw, 1), theirs, 1))
    theirs_rgb = np.asarray(Image.open(path).convert("RGB"))
    failures.append(compare("jpeg-gray as RGB", weft_decode(tool, path, raw), theirs_rgb, 1))

    path = work / "jpeg-cmyk.jpg"
    Image.fromarray(rgb).convert("CMYK").save(path, "JPEG", quality=95)
    # Pillow inverts Adobe CMYK on reading; the stored (inverted) values are 255 - those.
    stored = 255 - np.asarray(Image.open(path)).astype(np.uint32)
    k = stored[..., 3:4]
    t = stored[..., :3] * k + 128
    expected = ((t + (t >> 8)) >> 8).astype(np.uint8)
    failures.append(compare("jpeg-cmyk (R = C * K / 255)", weft_decode(tool, path, raw), expected,
                            1))

    pngs = {
        "png-rgb": (Image.fromarray(rgb), "RGB"),
        "png-rgba": (Image.fromarray(np.dstack([rgb, rgb[..., :1]])), "RGB"),
        "png-gray": (Image.fromarray(rgb).convert("L"), "L"),
        "png-palette": (Image.fromarray(rgb).convert("P", palette=Image.ADAPTIVE), "RGB"),
    }
    for name, (image, mode) in pngs.items():
        path = work / f"{name}.png"
        image.save(path)
        theirs = np.asarray(Image.open(path).convert(mode))
        channels = 1 if mode == "L" else 3
        failures.append(compare(name, weft_decode(tool, path, raw, channels), theirs, 0))

    # Colour files as one channel (Pillow's luma), grey + alpha, a palette with transparency.
    palette = Image.fromarray(rgb).convert("P", palette=Image.ADAPTIVE, colors=64)
    more = {
        "png-rgb as one channel": (Image.fromarray(rgb), {}, "L"),
        "png-rgba as one channel": (Image.fromarray(np.dstack([rgb, rgb[..., 1:2]])), {}, "L"),
        "png-palette as one channel": (palette, {}, "L"),
        "png-gray-alpha": (Image.fromarray(rgb).convert("LA"), {}, "RGB"),
        "png-palette-transparent": (palette, {"transparency": 3}, "RGB"),
        "png-palette-4bit": (Image.fromarray(rgb).convert("P", palette=Image.ADAPTIVE, colors=16),
                             {"bits": 4}, "RGB"),
        "png-1bit": (Image.fromarray(rgb).convert("1"), {}, "L"),
    }
    for name, (image, options, mode) in more.items():
        path = work / f"{name.replace(' ', '-')}.png"
        image.save(path, **options)
        theirs = np.asarray(Image.open(path).convert(mode))
        channels = 1 if mode == "L" else 3
        failures.append(compare(name, weft_decode(tool, path, raw, channels), theirs, 0))

    # BMP and PPM (stb_image's formats in weft), as RGB and as one channel.
    for name, fmt in [("bmp", "BMP"), ("ppm", "PPM")]:
        path = work / f"picture.{name}"
        Image.fromarray(rgb).save(path, fmt)
        for mode, channels in [("RGB", 3), ("L", 1)]:
            theirs = np.asarray(Image.open(path).convert(mode))
            failures.append(compare(f"{name} as {mode}", weft_decode(tool, path, raw, channels),
                                    theirs, 0))

    path = work / "png-16bit.png"
    sixteen = (rgb[..., 0].astype(np.uint16) * 257 + 100).clip(0, 65535).astype(np.uint16)
    Image.fromarray(sixteen).save(path)
    failures.append(compare("png-16bit (high byte)", weft_decode(tool, path, raw, 1),
                            (sixteen >> 8).astype(np.uint8), 0))

    failures = [f for f in failures if f]
    for failure in failures:
        print("FAILED", failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
