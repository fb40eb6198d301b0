#!/usr/bin/python3
"""Reference decodes of JPEG files by Pillow, the decoder VIP-ANT's frames went through (`Image.open(f).convert("RGB")`).

Writes test/fixtures/image/jpeg/: small synthetic JPEGs covering what libjpeg-turbo's decoder does differently per
file (chroma subsampling 4:2:0, 4:2:2, 4:4:4, 4:4:0, 4:1:1; grayscale; progressive; restart markers; arithmetic
coding; an RGB-coded JPEG; sizes that are not whole MCUs; an ICC profile and an EXIF orientation, both ignored by
Pillow; corrupt entropy-coded data, which libjpeg decodes past; CMYK), and for each one Pillow decodes, its pixels as
<name>.rgb (8-bit RGB, row-major). jpeg.json lists them, and gives for the shared data's JPEG frames
(../shared/data/derived/frames, when present) the sha256 of Pillow's RGB and a few pixels, so that the tests need
neither Python nor those pixels in the repository.

Pillow 9.4 writes most files; the variants it cannot write come from cjpeg (Debian's libjpeg-turbo-progs).
Run from the repository root: /usr/bin/python3 test/reference/jpeg.py. Rerunning gives identical bytes.
"""
import hashlib
import io
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "test" / "fixtures" / "image" / "jpeg"
SHARED_FRAMES = ROOT.parent / "shared" / "data" / "derived" / "frames"


def picture(w: int, h: int, seed: int) -> Image.Image:
    """Gradients, an XOR pattern and noise: every 8x8 block has detail, and chroma varies between neighbours."""
    rng = np.random.default_rng(seed)
    x, y = np.meshgrid(np.arange(w), np.arange(h))
    a = np.stack([x * 255 // max(w - 1, 1), y * 255 // max(h - 1, 1), (x ^ y) * 7 & 255], -1)
    a = a + rng.integers(-24, 25, (h, w, 3))
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8), "RGB")


def pillow_jpeg(img: Image.Image, **options) -> bytes:
    out = io.BytesIO()
    img.save(out, "JPEG", **options)
    return out.getvalue()


def cjpeg(img: Image.Image, *options: str) -> bytes:
    if shutil.which("cjpeg") is None:
        sys.exit("cjpeg not found: apt-get install libjpeg-turbo-progs")
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "in.ppm"
        img.save(source)
        return subprocess.run(["cjpeg", "-quality", "90", *options, str(source)], check=True, capture_output=True).stdout


def corrupt(data: bytes) -> bytes:
    """Flips bits in the entropy-coded data: libjpeg warns ("Corrupt JPEG data: 67 extraneous bytes before marker
    0xd9") and decodes on, and so does Pillow."""
    out = bytearray(data)
    sos = data.index(b"\xff\xda")
    for i in range(sos + 400, sos + 412):
        out[i] ^= 0x5A
    return bytes(out)


def with_icc_and_orientation(img: Image.Image) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display": Pillow's open() does not apply it
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    return pillow_jpeg(img, quality=90, icc_profile=icc, exif=exif.tobytes())


def cases() -> dict:
    base = picture(48, 40, 0)
    return {
        "s420": pillow_jpeg(base, quality=90, subsampling=2),
        "s422": pillow_jpeg(base, quality=90, subsampling=1),
        "s444": pillow_jpeg(base, quality=90, subsampling=0),
        "s440": cjpeg(base, "-sample", "1x2"),
        "s411": cjpeg(base, "-sample", "4x1"),
        "gray": pillow_jpeg(base.convert("L"), quality=90),
        "progressive": pillow_jpeg(base, quality=85, progressive=True),
        "restart": cjpeg(base, "-restart", "1"),
        "progressive_restart": cjpeg(base, "-progressive", "-restart", "2B"),
        "arithmetic": cjpeg(base, "-arithmetic"),
        "rgb_coded": cjpeg(base, "-rgb"),
        "odd_17x13": pillow_jpeg(picture(17, 13, 1), quality=95, subsampling=2),
        "odd_33x21": pillow_jpeg(picture(33, 21, 2), quality=75, subsampling=1),
        "icc_exif": with_icc_and_orientation(base),
        "corrupt": corrupt(pillow_jpeg(base, quality=90, subsampling=2)),
        "cmyk": pillow_jpeg(picture(24, 16, 3).convert("CMYK"), quality=90),
    }


def rgb(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data)).convert("RGB")


def shared_frames() -> list:
    frames = []
    for file in sorted(SHARED_FRAMES.glob("*.jpg")):
        img = rgb(file.read_bytes())
        a = np.asarray(img)
        h, w = a.shape[:2]
        points = [(0, 0), (w // 2, h // 2), (w - 1, h - 1), (w // 3, 2 * h // 3)]
        frames.append({"file": f"derived/frames/{file.name}", "width": w, "height": h,
                       "sha256": hashlib.sha256(img.tobytes()).hexdigest(),
                       "pixels": [[x, y, *map(int, a[y, x])] for x, y in points]})
    return frames


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    files = []
    for name, data in cases().items():
        (OUT / f"{name}.jpg").write_bytes(data)
        img = Image.open(io.BytesIO(data))
        entry = {"name": name, "file": f"{name}.jpg", "mode": img.mode, "width": img.size[0], "height": img.size[1]}
        if img.mode != "CMYK":
            (OUT / f"{name}.rgb").write_bytes(rgb(data).tobytes())
            entry["rgb"] = f"{name}.rgb"
        files.append(entry)
    manifest = {"pillow": Image.__version__, "files": files, "shared": shared_frames()}
    (OUT / "jpeg.json").write_text(json.dumps(manifest, indent=1) + "\n")


if __name__ == "__main__":
    main()
