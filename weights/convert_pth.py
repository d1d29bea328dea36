#!/usr/bin/env python3
"""convert_pth.py - keep the VGG conv trunk of a torch .pth (or safetensors) file, write safetensors.

Usage: convert_pth.py IN OUT.safetensors [--arch auto|vgg19|vgg16] [--dtype f32|f16]
                      [--preprocessing torchvision|caffe]

Needs Python 3 and numpy only; torch is never imported. A .pth is read by a restricted unpickler that
knows only OrderedDict, the tensor-rebuild functions and the storage types, so no code from the file
is run. Both torch formats are read: the zip format (torch >= 1.6) and the older single-stream format
the torchvision VGG files use. The output keeps features.N.weight (K x C x 3 x 3) and features.N.bias
(K) for the conv layers, with __metadata__ {"preprocessing", "arch", "source"}.
"""
import argparse
import collections
import json
import math
import os
import pickle
import re
import struct
import sys
import zipfile

try:
    import numpy as np
except ImportError:
    sys.exit(f"convert_pth.py: error: {sys.executable} has no numpy "
             f"(Debian: apt-get install python3-numpy)")

CONV_INDICES = {
    "vgg19": [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34],
    "vgg16": [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28],
}
PREPROCESSING = ("torchvision", "caffe")

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001

# torch storage type -> (numpy dtype, bytes per element); "bf16" is read as uint16 and widened.
STORAGE_TYPES = {
    "FloatStorage": ("<f4", 4),
    "DoubleStorage": ("<f8", 8),
    "HalfStorage": ("<f2", 2),
    "BFloat16Storage": ("bf16", 2),
    "LongStorage": ("<i8", 8),
    "IntStorage": ("<i4", 4),
    "ShortStorage": ("<i2", 2),
    "CharStorage": ("i1", 1),
    "ByteStorage": ("u1", 1),
    "BoolStorage": ("?", 1),
}
FLOAT_DTYPES = ("<f4", "<f8", "<f2", "bf16")


class ConvertError(Exception):
    pass


def bf16_to_f32(u16):
    return (u16.astype(np.uint32) << 16).view(np.float32)


# ---- .pth reading --------------------------------------------------------------------------------


class StorageType:
    """Stands for torch.<Name>Storage in the pickle."""

    def __init__(self, name):
        self.name = name
        self.dtype, self.itemsize = STORAGE_TYPES.get(name, (None, None))


class Storage:
    """A torch storage: its element type and a function that returns its raw bytes when needed."""

    def __init__(self, stype, key, read_bytes=None, base=None, offset=0, numel=None):
        self.stype, self.key = stype, key
        self.read_bytes, self.base, self.offset, self.numel = read_bytes, base, offset, numel
        self._array = None

    def array(self):
        if self._array is None:
            if self.base is not None:  # a view of another storage (older files)
                whole = self.base.array()
                if self.offset < 0 or self.offset + self.numel > whole.size:
                    raise ConvertError(f"storage view {self.key} lies outside its storage")
                self._array = whole[self.offset:self.offset + self.numel]
            else:
                if self.stype.dtype is None:
                    raise ConvertError(f"storage type {self.stype.name} is not supported")
                raw = self.read_bytes()
                if len(raw) % self.stype.itemsize:
                    raise ConvertError(f"storage {self.key}: {len(raw)} bytes is not a whole number "
                                       f"of {self.stype.name} elements")
                dt = "<u2" if self.stype.dtype == "bf16" else self.stype.dtype
                self._array = np.frombuffer(raw, dtype=dt)
        return self._array


class TensorRef:
    """A tensor in the pickle: storage, offset, size, stride; read only when kept."""

    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset = storage, offset
        self.size, self.stride = tuple(size), tuple(stride)

    @property
    def shape(self):
        return self.size

    def to_numpy(self, name):
        st = self.storage
        if not isinstance(st, Storage):
            raise ConvertError(f"{name}: tensor without a storage")
        if st.stype.dtype not in FLOAT_DTYPES:
            raise ConvertError(f"{name}: storage type {st.stype.name} is not a floating-point type")
        if len(self.size) != len(self.stride) or any(
                not isinstance(v, int) or v < 0 for v in self.size + self.stride + (self.offset,)):
            raise ConvertError(f"{name}: bad size {self.size} / stride {self.stride}")
        flat = st.array()
        if math.prod(self.size) == 0:
            out = np.zeros(self.size, dtype=flat.dtype)
        else:
            last = self.offset + sum((n - 1) * s for n, s in zip(self.size, self.stride))
            if last >= flat.size:
                raise ConvertError(f"{name}: tensor reaches element {last} of a storage of {flat.size}")
            view = np.lib.stride_tricks.as_strided(
                flat[self.offset:], shape=self.size,
                strides=[s * flat.itemsize for s in self.stride], writeable=False)
            out = np.array(view)
        if st.stype.dtype == "bf16":
            return bf16_to_f32(out)
        return out.astype(np.float32)


def _rebuild_tensor(storage, storage_offset, size, stride, *unused):
    return TensorRef(storage, storage_offset, size, stride)


def _rebuild_parameter(data, *unused):
    return data


class TorchUnpickler(pickle.Unpickler):
    """Maps the few globals a state dict needs to local stand-ins; refuses everything else."""

    ALLOWED = {
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
        ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
        ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    }

    def __init__(self, f, persistent_load=None):
        super().__init__(f)
        self._persistent_load = persistent_load

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            return self.ALLOWED[(module, name)]
        if module in ("torch", "torch.cuda") and name.endswith("Storage"):
            return StorageType(name)
        raise ConvertError(f"the pickle refers to {module}.{name}; only state dicts of tensors "
                           f"are read (save model.state_dict(), not the model)")

    def persistent_load(self, pid):
        if self._persistent_load is None:
            raise ConvertError("unexpected persistent id in the pickle")
        return self._persistent_load(pid)


def _text(v):
    return v.decode("ascii") if isinstance(v, bytes) else v


def _storage_id(pid):
    if not isinstance(pid, tuple) or not pid or _text(pid[0]) != "storage":
        raise ConvertError(f"unsupported persistent id {pid!r:.80}")
    stype = pid[1]
    if not isinstance(stype, StorageType):
        raise ConvertError(f"unsupported storage type {stype!r:.80}")
    return pid


def load_pth_zip(path):
    """torch >= 1.6 format: a zip with <prefix>/data.pkl and <prefix>/data/<key>."""
    zf = zipfile.ZipFile(path)
    names = zf.namelist()
    pkl = [n for n in names if n == "data.pkl" or n.endswith("/data.pkl")]
    if len(pkl) != 1:
        raise ConvertError("zip file holds no single data.pkl: not a torch.save file")
    prefix = pkl[0][:-len("data.pkl")]
    if prefix + "byteorder" in names and zf.read(prefix + "byteorder").strip() != b"little":
        raise ConvertError("big-endian torch files are not supported")
    storages = {}

    def persistent_load(pid):
        _, stype, key, _location, numel = _storage_id(pid)[:5]
        key = _text(key)
        if key not in storages:
            entry = f"{prefix}data/{key}"
            if entry not in names:
                raise ConvertError(f"storage {entry} missing from the zip")
            storages[key] = Storage(stype, key, read_bytes=lambda e=entry: zf.read(e))
        return storages[key]

    with zf.open(pkl[0]) as f:
        obj = TorchUnpickler(f, persistent_load).load()
    return obj, zf


def load_pth_legacy(f):
    """torch < 1.6 format: pickles (magic, protocol, sys_info, object, storage keys), then each
    storage as an int64 element count and its raw bytes, in key order."""
    if TorchUnpickler(f).load() != LEGACY_MAGIC:
        raise ConvertError("not a torch file (bad magic number)")
    if TorchUnpickler(f).load() != LEGACY_PROTOCOL:
        raise ConvertError("unsupported torch legacy protocol version")
    sys_info = TorchUnpickler(f).load()
    if isinstance(sys_info, dict) and not sys_info.get("little_endian", True):
        raise ConvertError("big-endian torch files are not supported")
    storages = {}

    def persistent_load(pid):
        _, stype, key, _location, numel, view = _storage_id(pid)[:6]
        key = _text(key)
        if key not in storages:
            storages[key] = Storage(stype, key)
        root = storages[key]
        if view is None:
            return root
        view_key, offset, size = view
        view_key = _text(view_key)
        if view_key not in storages:
            storages[view_key] = Storage(stype, view_key, base=root, offset=offset, numel=size)
        return storages[view_key]

    obj = TorchUnpickler(f, persistent_load).load()
    keys = TorchUnpickler(f).load()
    if not isinstance(keys, list):
        raise ConvertError("storage key list missing")
    size = os.fstat(f.fileno()).st_size
    for key in keys:
        key = _text(key)
        st = storages.get(key)
        if st is None or st.stype.itemsize is None:
            raise ConvertError(f"storage {key} has an unknown type")
        head = f.read(8)
        if len(head) != 8:
            raise ConvertError("file is truncated")
        (numel,) = struct.unpack("<q", head)
        start, nbytes = f.tell(), numel * st.stype.itemsize
        if numel < 0 or start + nbytes > size:
            raise ConvertError("file is truncated")

        def read(start=start, nbytes=nbytes):
            f.seek(start)
            return f.read(nbytes)

        st.read_bytes = read
        f.seek(start + nbytes)
    for st in storages.values():
        if st.base is None and st.read_bytes is None:
            raise ConvertError(f"storage {st.key} has no data in the file")
    return obj


# ---- safetensors reading -------------------------------------------------------------------------

ST_DTYPES = {"F32": "<f4", "F16": "<f2", "BF16": "bf16", "F64": "<f8"}


class SafetensorsRef:
    def __init__(self, f, start, dtype, shape):
        self.f, self.start, self.dtype, self.shape = f, start, dtype, tuple(shape)

    def to_numpy(self, name):
        dt = "<u2" if self.dtype == "bf16" else self.dtype
        n = math.prod(self.shape)
        self.f.seek(self.start)
        raw = self.f.read(n * np.dtype(dt).itemsize)
        a = np.frombuffer(raw, dtype=dt).reshape(self.shape)
        return bf16_to_f32(a) if self.dtype == "bf16" else a.astype(np.float32)


def load_safetensors(f):
    size = os.fstat(f.fileno()).st_size
    head = f.read(8)
    if len(head) != 8:
        raise ConvertError("file too short")
    (hlen,) = struct.unpack("<Q", head)
    if hlen == 0 or hlen > size - 8 or hlen > 100_000_000:
        raise ConvertError(f"bad safetensors header length {hlen}")
    try:
        header = json.loads(f.read(hlen))
    except ValueError as e:
        raise ConvertError(f"safetensors header is not valid JSON: {e}") from None
    if not isinstance(header, dict):
        raise ConvertError("safetensors header is not a JSON object")
    meta = header.pop("__metadata__", {}) or {}
    data_start, data_len = 8 + hlen, size - 8 - hlen
    tensors = {}
    for name, info in header.items():
        try:
            dtype, shape, (begin, end) = info["dtype"], info["shape"], info["data_offsets"]
        except (KeyError, TypeError, ValueError):
            raise ConvertError(f"tensor {name}: malformed entry") from None
        if dtype not in ST_DTYPES:
            tensors[name] = None  # only an error if the tensor is kept
            continue
        ok = all(isinstance(v, int) and v >= 0 for v in list(shape) + [begin, end])
        nbytes = math.prod(shape) * np.dtype("<u2" if dtype == "BF16" else ST_DTYPES[dtype]).itemsize \
            if ok else -1
        if not ok or begin > end or end > data_len or end - begin != nbytes:
            raise ConvertError(f"tensor {name}: bad shape or data_offsets")
        tensors[name] = SafetensorsRef(f, data_start + begin, ST_DTYPES[dtype], shape)
    return tensors, meta


# ---- selection, checks, output -------------------------------------------------------------------


def select_trunk(state, arch):
    """Returns (arch, [(name, ref)]) for the conv layers, checked against the VGG layout."""
    if not isinstance(state, dict):
        raise ConvertError(f"the file holds a {type(state).__name__}, not a state dict")
    if "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    found = sorted({int(m.group(1)) for k in state
                    if isinstance(k, str) and (m := re.fullmatch(r"features\.(\d+)\.weight", k))})
    if arch == "auto":
        match = [a for a, idx in CONV_INDICES.items() if idx == found]
        if not match:
            raise ConvertError(f"conv layers at features {found} match neither VGG19 "
                               f"{CONV_INDICES['vgg19']} nor VGG16 {CONV_INDICES['vgg16']}")
        arch = match[0]
    elif found != CONV_INDICES[arch]:
        raise ConvertError(f"conv layers at features {found}, but {arch} has them at "
                           f"{CONV_INDICES[arch]}")
    out, channels = [], 3
    for i in CONV_INDICES[arch]:
        wname, bname = f"features.{i}.weight", f"features.{i}.bias"
        if bname not in state:
            raise ConvertError(f"{bname} missing")
        w, b = state[wname], state[bname]
        for n, t in ((wname, w), (bname, b)):
            if not isinstance(t, (TensorRef, SafetensorsRef)):
                raise ConvertError(f"{n} is not a readable float tensor")
        ws, bs = tuple(w.shape), tuple(b.shape)
        if len(ws) != 4 or ws[2:] != (3, 3) or ws[1] != channels or ws[0] < 1:
            raise ConvertError(f"{wname} has shape {list(ws)}, want [K, {channels}, 3, 3]")
        if bs != (ws[0],):
            raise ConvertError(f"{bname} has shape {list(bs)}, want [{ws[0]}]")
        channels = ws[0]
        out += [(wname, w), (bname, b)]
    return arch, out


def write_safetensors(path, arrays, metadata):
    """arrays: {name: numpy float32 or float16 array}. Keys sorted, data in key order, header padded
    with spaces to a multiple of 8 bytes; written to a temporary name and renamed."""
    header, offset = {"__metadata__": metadata}, 0
    names = sorted(arrays)
    for name in names:
        a = arrays[name]
        nbytes = a.size * a.itemsize
        header[name] = {"dtype": "F16" if a.dtype == np.float16 else "F32", "shape": list(a.shape),
                        "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    text += b" " * (-(8 + len(text)) % 8)
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            f.write(struct.pack("<Q", len(text)))
            f.write(text)
            for name in names:
                a = arrays[name]
                f.write(a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return 8 + len(text) + offset


def sniff(path):
    with open(path, "rb") as f:
        head = f.read(16)
    if head[:4] == b"PK\x03\x04":
        return "zip"
    if head[:1] == b"\x80":
        return "legacy"
    if len(head) >= 9 and head[8:9] == b"{":
        return "safetensors"
    return "unknown"


def convert(args):
    src = args.input
    kind = sniff(src)
    meta_in = {}
    with open(src, "rb") as f:
        if kind == "zip":
            state, zf = load_pth_zip(src)
        elif kind == "legacy":
            state, zf = load_pth_legacy(f), None
        elif kind == "safetensors":
            state, meta_in = load_safetensors(f)
            zf = None
        else:
            raise ConvertError("not a torch .pth (zip or pickle) or safetensors file "
                               "(very old tar-format .pth files must be re-saved with torch first)")
        arch, refs = select_trunk(state, args.arch)
        arrays = {}
        for name, ref in refs:
            a = ref.to_numpy(name)
            if not np.isfinite(a).all():
                raise ConvertError(f"{name} holds NaN or infinite values; weights must be finite")
            if args.dtype == "f16":
                a = a.astype(np.float16)
                if not np.isfinite(a).all():
                    raise ConvertError(f"{name} overflows float16; use --dtype f32")
            arrays[name] = a
        if zf is not None:
            zf.close()
    pre = args.preprocessing or meta_in.get("preprocessing") or "torchvision"
    if pre not in PREPROCESSING:
        raise ConvertError(f"preprocessing '{pre}' in the input is neither torchvision nor caffe")
    meta = {"preprocessing": pre, "arch": arch, "source": os.path.basename(src)}
    total = write_safetensors(args.output, arrays, meta)
    widths = [arrays[n].shape[0] for n in sorted(arrays, key=lambda k: int(k.split(".")[1]))
              if n.endswith(".weight")]
    print(f"wrote {args.output}: {arch}, {len(arrays)} tensors, {args.dtype}, preprocessing={pre}, "
          f"{total} bytes; channel widths {widths}")


def main(argv=None):
    p = argparse.ArgumentParser(description="Keep the VGG conv trunk of a .pth or safetensors file "
                                            "and write it as safetensors (numpy only, no torch).")
    p.add_argument("input", help="torch .pth (zip or legacy format) or .safetensors")
    p.add_argument("output", help="output .safetensors")
    p.add_argument("--arch", choices=["auto", "vgg19", "vgg16"], default="auto",
                   help="expected layout (default: detect from the conv indices)")
    p.add_argument("--dtype", choices=["f32", "f16"], default="f32", help="output dtype (default f32)")
    p.add_argument("--preprocessing", choices=list(PREPROCESSING), default=None,
                   help="input preprocessing the weights expect (default: the input's metadata, "
                        "else torchvision)")
    args = p.parse_args(argv)
    try:
        convert(args)
    except ConvertError as e:
        print(f"convert_pth.py: error: {args.input}: {e}", file=sys.stderr)
        return 2
    except (OSError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile, struct.error,
            ValueError, TypeError, KeyError, IndexError, AttributeError, MemoryError) as e:
        print(f"convert_pth.py: error: {args.input}: cannot read ({type(e).__name__}: {e})",
              file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
