#!/usr/bin/python3
"""make_corpus.py - writes the committed seed corpora of the fuzz targets (tests/fuzz/corpus/<target>/).

Seeds are small valid files of every layout each reader handles, plus a few near-valid ones (cut short,
one field wrong), so that the fuzzer starts deep inside the parsers. The files are committed; this
script documents how they were made and regenerates them:

    /usr/bin/python3 tests/fuzz/make_corpus.py          # needs numpy and PIL (python3-pil)

Deterministic: the same files on every run. Not written here: png/srgb_icc.png, tiff/srgb_icc.tif and
jpeg/srgb_icc.jpg, 16x12 outputs of `tessera run --iterations 0` built with lcms2, so the readers'
colour-profile paths start from a real embedded ICC profile (the sRGB one Tessera writes).
"""
import io
import json
import os
import struct
import sys

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus")


def write(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def picture(w=16, h=12):
    """A smooth RGB gradient with a little seeded noise, uint8 (h, w, 3)."""
    rng = np.random.default_rng(7)
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([x * 255 / (w - 1), y * 255 / (h - 1), (x + y) * 255 / (w + h - 2)], axis=-1)
    img = img + rng.normal(0, 8, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def encode(img, fmt, **kw):
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def images():
    rgb = Image.fromarray(picture())
    grey = rgb.convert("L")
    pal = rgb.quantize(8)
    # PNG: every colour type, 1/8/16-bit, transparency
    write("png", "rgb8.png", encode(rgb, "PNG"))
    write("png", "rgba8.png", encode(rgb.convert("RGBA"), "PNG"))
    write("png", "grey8.png", encode(grey, "PNG"))
    write("png", "greyalpha8.png", encode(grey.convert("LA"), "PNG"))
    write("png", "grey16.png", encode(Image.fromarray((np.asarray(grey).astype(np.uint16) * 257)), "PNG"))
    write("png", "bilevel1.png", encode(grey.convert("1"), "PNG"))
    write("png", "palette.png", encode(pal, "PNG"))
    write("png", "palette_trns.png", encode(pal, "PNG", transparency=0))
    good = encode(rgb, "PNG")
    write("png", "cut.png", good[: len(good) // 2])
    # JPEG: baseline, progressive, grey, subsampling variants, CMYK (refused), cut short
    write("jpeg", "rgb.jpg", encode(rgb, "JPEG", quality=90))
    write("jpeg", "rgb_444.jpg", encode(rgb, "JPEG", quality=90, subsampling=0))
    write("jpeg", "progressive.jpg", encode(rgb, "JPEG", quality=80, progressive=True))
    write("jpeg", "grey.jpg", encode(grey, "JPEG", quality=90))
    write("jpeg", "cmyk.jpg", encode(rgb.convert("CMYK"), "JPEG", quality=90))
    good = encode(rgb, "JPEG", quality=90)
    write("jpeg", "cut.jpg", good[: len(good) // 2])
    # TIFF: 8-bit RGB (none, deflate, LZW, PackBits), grey, 16-bit grey, float32 grey, 1-bit,
    # palette and CMYK (refused), big-endian, cut short
    write("tiff", "rgb8.tif", encode(rgb, "TIFF"))
    write("tiff", "rgb8_deflate.tif", encode(rgb, "TIFF", compression="tiff_adobe_deflate"))
    write("tiff", "rgb8_lzw.tif", encode(rgb, "TIFF", compression="tiff_lzw"))
    write("tiff", "rgb8_packbits.tif", encode(rgb, "TIFF", compression="packbits"))
    write("tiff", "grey8.tif", encode(grey, "TIFF"))
    write("tiff", "grey16.tif", encode(Image.fromarray(np.asarray(grey).astype(np.uint16) * 257), "TIFF"))
    write("tiff", "float32.tif", encode(Image.fromarray(np.asarray(grey).astype(np.float32) / 255), "TIFF"))
    write("tiff", "bilevel1.tif", encode(grey.convert("1"), "TIFF"))
    write("tiff", "palette.tif", encode(pal, "TIFF"))
    write("tiff", "cmyk.tif", encode(rgb.convert("CMYK"), "TIFF"))
    write("tiff", "int32.tif", encode(Image.fromarray(np.asarray(grey).astype(np.int32)), "TIFF"))
    good = encode(rgb, "TIFF", compression="tiff_adobe_deflate")
    write("tiff", "cut.tif", good[: len(good) // 2])
    # hand-written layouts: tiles, separate planes, big-endian 16-bit, min-is-white, RGBA, 64-bit float
    pic = picture(24, 12)
    write("tiff", "tiled.tif", raw_tiff(pic, tile=(16, 16)))
    write("tiff", "planar.tif", raw_tiff(pic, planar=2))
    write("tiff", "tiled_planar.tif", raw_tiff(pic, planar=2, tile=(16, 16)))
    write("tiff", "be16.tif", raw_tiff(pic.astype(np.uint16) * 257, bps=16, big_endian=True))
    write("tiff", "miniswhite.tif", raw_tiff(pic[:, :, :1], photometric=0))
    rgba = np.concatenate([pic, np.full(pic.shape[:2] + (1,), 255, np.uint8)], axis=2)
    write("tiff", "rgba.tif", raw_tiff(rgba))
    write("tiff", "float64.tif", raw_tiff(pic.astype(np.float64) / 255, bps=64, sample_format=3))


def raw_tiff(img, bps=8, photometric=2, planar=1, tile=None, big_endian=False, sample_format=1):
    """An uncompressed TIFF written field by field (PIL writes neither tiles nor separate planes).
    img: (h, w, spp) array of the sample type; tile: (tw, th) or None for one strip per row."""
    e = ">" if big_endian else "<"
    h, w, spp = img.shape
    planes = [img[:, :, c:c + 1] for c in range(spp)] if planar == 2 else [img]
    chunks = []
    for p in planes:
        if tile:
            tw, th = tile
            for ty in range(0, h, th):
                for tx in range(0, w, tw):
                    t = np.zeros((th, tw, p.shape[2]), img.dtype)
                    part = p[ty:ty + th, tx:tx + tw]
                    t[:part.shape[0], :part.shape[1]] = part
                    chunks.append(t.astype(img.dtype.newbyteorder(e)).tobytes())
        else:
            for y in range(h):
                chunks.append(p[y:y + 1].astype(img.dtype.newbyteorder(e)).tobytes())
    tags = [(256, 4, [w]), (257, 4, [h]), (258, 3, [bps] * spp), (259, 3, [1]), (262, 3, [photometric]),
            (277, 3, [spp]), (284, 3, [planar]), (339, 3, [sample_format] * spp)]
    if tile:
        tags += [(322, 4, [tile[0]]), (323, 4, [tile[1]]), (324, 4, "offsets"), (325, 4, [len(c) for c in chunks])]
    else:
        tags += [(273, 4, "offsets"), (278, 4, [1]), (279, 4, [len(c) for c in chunks])]
    tags.sort()
    n = len(tags)
    head = 8
    extra_at = head + 2 + 12 * n + 4
    extra = b""
    entries = []
    offsets_entry = None
    for tag, typ, vals in tags:
        if vals == "offsets":
            vals = [0] * len(chunks)
            offsets_entry = len(entries)
        fmt = "H" if typ == 3 else "I"
        raw = b"".join(struct.pack(e + fmt, v) for v in vals)
        entries.append([tag, typ, len(vals), raw])
    # values over 4 bytes go after the IFD, then the image data
    for ent in entries:
        if len(ent[3]) > 4 and entries.index(ent) != offsets_entry:
            ent.append(extra_at + len(extra))
            extra += ent[3]
    off_at = extra_at + len(extra)
    data_at = off_at + (4 * len(chunks) if len(chunks) > 1 else 0)
    offs, pos = [], data_at
    for c in chunks:
        offs.append(pos)
        pos += len(c)
    entries[offsets_entry][3] = b"".join(struct.pack(e + "I", v) for v in offs)
    if len(chunks) > 1:
        entries[offsets_entry].append(off_at)
        extra += entries[offsets_entry][3]
    out = (b"MM\x00*" if big_endian else b"II*\x00") + struct.pack(e + "I", head) + struct.pack(e + "H", n)
    for ent in entries:
        tag, typ, cnt, raw = ent[:4]
        val = struct.pack(e + "I", ent[4]) if len(ent) > 4 else raw.ljust(4, b"\0")
        out += struct.pack(e + "HHI", tag, typ, cnt) + val
    return out + struct.pack(e + "I", 0) + extra + b"".join(chunks)


def safetensors_bytes(tensors, meta=None, pad=True):
    """tensors: list of (name, dtype, shape, raw bytes). Offsets follow the list order."""
    header, data, off = {}, b"", 0
    if meta is not None:
        header["__metadata__"] = meta
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(raw)]}
        data += raw
        off += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    if pad:
        text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + data


def safetensors():
    rng = np.random.default_rng(3)
    w = rng.normal(0, 0.5, (2, 3, 3, 3)).astype(np.float32)
    b = rng.normal(0, 0.5, (2,)).astype(np.float32)
    f16 = w.astype(np.float16)
    bf16 = (w.view(np.uint32) >> 16).astype(np.uint16)
    write("safetensors", "f32.safetensors", safetensors_bytes(
        [("features.0.weight", "F32", [2, 3, 3, 3], w.tobytes()), ("features.0.bias", "F32", [2], b.tobytes())],
        {"preprocessing": "torchvision"}))
    write("safetensors", "f16.safetensors", safetensors_bytes(
        [("features.0.weight", "F16", [2, 3, 3, 3], f16.tobytes()),
         ("features.0.bias", "F16", [2], b.astype(np.float16).tobytes())], {"preprocessing": "caffe"}))
    write("safetensors", "bf16.safetensors", safetensors_bytes(
        [("features.0.weight", "BF16", [2, 3, 3, 3], bf16.tobytes()), ("empty", "F32", [0, 4], b"")]))
    write("safetensors", "scalar.safetensors", safetensors_bytes([("s", "F32", [], b"\x00\x00\x80\x3f")], pad=False))
    # near-valid: overlapping regions, an end beyond the data, a NaN, a dtype that is not read
    good = safetensors_bytes([("a", "F32", [2], b"\0" * 8), ("b", "F32", [2], b"\0" * 8)])
    write("safetensors", "overlap.safetensors", good.replace(b'"data_offsets":[8,16]', b'"data_offsets":[4,12]'))
    write("safetensors", "beyond.safetensors", good.replace(b'"data_offsets":[8,16]', b'"data_offsets":[8,99]'))
    write("safetensors", "nan.safetensors", safetensors_bytes([("n", "F32", [1], b"\x00\x00\xc0\x7f")]))
    write("safetensors", "i64.safetensors", safetensors_bytes([("i", "I64", [1], b"\0" * 8)]))


def npy_bytes(arr, descr=None, version=1, fortran=False):
    descr = descr or arr.dtype.str
    head = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (descr, fortran, tuple(arr.shape))
    lenfmt, pre = ("<H", 10) if version == 1 else ("<I", 12)
    head += " " * ((64 - (pre + len(head) + 1) % 64) % 64) + "\n"
    return b"\x93NUMPY" + bytes([version, 0]) + struct.pack(lenfmt, len(head)) + head.encode() + arr.tobytes()


def npy():
    img = (picture(6, 4).transpose(2, 0, 1) / 255.0)
    write("npy", "f4.npy", npy_bytes(img.astype("<f4")))
    write("npy", "f8.npy", npy_bytes(img.astype("<f8")))
    write("npy", "v2.npy", npy_bytes(img.astype("<f4"), version=2))
    write("npy", "shape2d.npy", npy_bytes(img[0].astype("<f4")))
    write("npy", "fortran.npy", npy_bytes(img.astype("<f4"), fortran=True))
    good = npy_bytes(img.astype("<f4"))
    write("npy", "cut.npy", good[: len(good) - 10])


def configs():
    with open(os.path.join(HERE, "..", "..", "configs", "default.json"), "rb") as f:
        write("config", "default.json", f.read())
    write("config", "small.json", b'{"size": 64, "iterations": [10, 5], "scales": [32, 64], "quiet": true}\n')
    write("config", "lists.json", b'{"style_layers": "relu1_1,relu2_1", "layer_weights": [1e3, 2.5e-1],'
                                  b' "style_blend_weights": 1, "content_layers": ["relu3_1"]}\n')
    write("config", "strings.json", b'{"_comment": "ignored", "arch": "vgg16", "pool": "avg", "init": "random",'
                                    b' "weights": "random:3", "mode": "exact", "tiles": "2x1", "halo": 96,'
                                    b' "content_weight": 5, "tv_weight": null, "unknown_key": [1, {"a": 2}]}\n')
    write("config", "bad_type.json", b'{"size": "big", "original_colors": 1}\n')
    write("config", "malformed.json", b'{"size": 64, "iterations": [1,\n')
    write("config", "dup.json", b'{"seed": 1, "seed": 2}\n')


def jobs():
    """Batch job files (fuzz_job). Paths are relative to the repository root, where the targets run."""
    png, jpg = "tests/fuzz/corpus/png/rgb8.png", "tests/fuzz/corpus/jpeg/rgb.jpg"
    tif, cfg = "tests/fuzz/corpus/tiff/rgb8.tif", "tests/fuzz/corpus/config/small.json"
    def js(obj):
        return (json.dumps(obj, indent=1) + "\n").encode()
    write("job", "sweep.json", js({"_comment": "1 pair x 2 x 2", "output_dir": "out/fuzz", "config": cfg,
                                   "content": [png], "style": [jpg],
                                   "options": {"weights": "random", "iterations": 10},
                                   "grid": {"style_weight": [1e5, 1e6], "size": [48, 64]}}))
    write("job", "pairs.json", js({"output_dir": "out/fuzz", "format": "jpg",
                                   "pairs": [[png, jpg], [jpg, [png, tif]]],
                                   "options": {"style_blend_weights": [1, 2], "tv_weight": 0},
                                   "grid": {"layer_weights": [[1, 1, 1, 1, 1], [2, 1, 1, 1, 0.5]],
                                            "pool": ["max", "avg"], "original_colors": [True, False]}}))
    write("job", "crossed.json", js({"output_dir": "out/fuzz", "content": [png, tif], "style": [jpg, [png, jpg]],
                                     "grid": {"init": ["content", "random"], "scales": [None, [32, 64]]}}))
    write("job", "unknown_key.json", js({"output_dir": "out/fuzz", "content": png, "style": jpg, "colour": 1}))
    write("job", "bad_value.json", js({"output_dir": "out/fuzz", "content": png, "style": jpg,
                                       "grid": {"size": [64, 5]}}))
    write("job", "missing_input.json", js({"output_dir": "out/fuzz", "content": "nosuch.png", "style": jpg}))


def exif():
    """EXIF blocks (fuzz_exif): Orientation 6 in a little-endian IFD0, and 8 after another entry in a
    big-endian one."""
    write("exif", "le_6", b"II*\x00\x08\x00\x00\x00\x01\x00\x12\x01\x03\x00\x01\x00\x00\x00\x06\x00"
          b"\x00\x00\x00\x00\x00\x00")
    write("exif", "be_two_entries_8", b"MM\x00*\x00\x00\x00\x08\x00\x02\x01\x0f\x00\x02\x00\x00\x00\x04"
          b"\x00\x00\x00\x26\x01\x12\x00\x03\x00\x00\x00\x01\x00\x08\x00\x00\x00\x00\x00\x00")


def main():
    images()
    exif()
    safetensors()
    npy()
    configs()
    jobs()
    n = sum(len(files) for _, _, files in os.walk(OUT))
    print(f"wrote {n} seed files under {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
