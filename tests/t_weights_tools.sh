#!/usr/bin/env bash
# t_weights_tools.sh - weights/convert_pth.py and weights/fetch.sh.
# Parts that need torch (writing real .pth files) are reported as skipped when torch is missing;
# everything else runs with /usr/bin/python3 and numpy. Prints "N passed, N failed" last.
set -u
cd "$(dirname "$0")/.." || exit 1
PY=/usr/bin/python3
BUILD=${BUILD:-build}
CONV=weights/convert_pth.py
FETCH=weights/fetch.sh
pass=0
fail=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tessera-weights.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

ok() { pass=$((pass + 1)); echo "ok   $*"; }
bad() { fail=$((fail + 1)); echo "NOT OK $*"; }
skip() { pass=$((pass + 1)); echo "ok   $* (skipped: $skip_reason)"; }

# check NAME CMD...: passes when CMD succeeds.
check() {
    local name=$1
    shift
    if "$@" >"$tmp/log" 2>&1; then ok "$name"; else bad "$name"; sed 's/^/    /' "$tmp/log"; fi
}
# refuses NAME PATTERN CMD...: passes when CMD fails and its output matches PATTERN.
refuses() {
    local name=$1 pattern=$2
    shift 2
    if "$@" >"$tmp/log" 2>&1; then
        bad "$name (command succeeded)"
    elif grep -qE "$pattern" "$tmp/log"; then
        ok "$name"
        return
    else
        bad "$name (message lacks /$pattern/)"
    fi
    sed 's/^/    /' "$tmp/log" | head -5
}

# ---- helper: numpy writer/reader and the torch fixtures ------------------------------------------
cat >"$tmp/helper.py" <<'EOF'
import json, struct, sys
import numpy as np

WIDTHS = [4, 8, 16, 32, 32]
BLOCKS = {"vgg19": [2, 2, 4, 4, 4], "vgg16": [2, 2, 3, 3, 3]}

def layout(arch):
    """[(feature index, out channels, in channels)] in torchvision numbering."""
    out, idx, cin = [], 0, 3
    for width, n in zip(WIDTHS, BLOCKS[arch]):
        for _ in range(n):
            out.append((idx, width, cin))
            cin = width
            idx += 2          # conv, relu
        idx += 1              # pool
    return out

def make_state(arch, seed=1):
    rng = np.random.default_rng(seed)
    sd = {}
    for i, k, c in layout(arch):
        sd[f"features.{i}.weight"] = rng.standard_normal((k, c, 3, 3)).astype(np.float32)
        sd[f"features.{i}.bias"] = rng.standard_normal(k).astype(np.float32)
    return sd

def write_st(path, arrays, meta=None, dtypes=None):
    dtypes = dtypes or {}
    header, blobs, off = {}, [], 0
    if meta is not None:
        header["__metadata__"] = meta
    for name in sorted(arrays):
        a = arrays[name]
        dt = dtypes.get(name, "F32")
        if dt == "BF16":
            raw = (a.astype(np.float32).view(np.uint32) >> 16).astype("<u2").tobytes()
        else:
            raw = a.astype({"F32": "<f4", "F16": "<f2", "F64": "<f8"}[dt]).tobytes()
        header[name] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    text = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))

def read_st(path):
    with open(path, "rb") as f:
        buf = f.read()
    (n,) = struct.unpack("<Q", buf[:8])
    assert (8 + n) % 8 == 0, "header not padded to 8 bytes"
    header = json.loads(buf[8:8 + n])
    keys = [k for k in json.loads(buf[8:8 + n], object_pairs_hook=lambda p: [k for k, _ in p])]
    assert keys == sorted(keys), "header keys not sorted"
    meta = header.pop("__metadata__", {})
    data = buf[8 + n:]
    out, end = {}, 0
    for name, info in header.items():
        b, e = info["data_offsets"]
        dt = {"F32": "<f4", "F16": "<f2"}[info["dtype"]]
        out[name] = np.frombuffer(data[b:e], dtype=dt).reshape(info["shape"])
        end = max(end, e)
    assert end == len(data), "data region has trailing bytes"
    return out, meta

def cmd_mkst(path, ref, *opts):
    """A VGG-shaped safetensors input (numpy only) with extra keys the converter must drop."""
    arch = "vgg16" if "vgg16" in opts else "vgg19"
    sd = make_state(arch)
    if "bf16" in opts:  # values representable in bf16, stored as BF16
        sd = {k: (v.view(np.uint32) & 0xFFFF0000).view(np.float32) for k, v in sd.items()}
    if "nan" in opts:
        sd["features.2.weight"][0, 0, 1, 1] = np.nan
    if "chain" in opts:
        sd["features.5.weight"] = np.zeros((8, 5, 3, 3), np.float32)
    if "drop" in opts:
        del sd["features.34.weight"], sd["features.34.bias"]
    if "nobias" in opts:
        del sd["features.0.bias"]
    np.savez(ref, **sd)
    extra = {"classifier.0.weight": np.ones((3, 4), np.float32), "features.1.other": np.ones(2, np.float32)}
    dtypes = {k: "BF16" for k in sd} if "bf16" in opts else {}
    dtypes["classifier.0.weight"] = "F64"
    meta = {"preprocessing": "caffe"} if "caffe" in opts else None
    write_st(path, {**sd, **extra}, meta, dtypes)

def cmd_compare(path, ref, *opts):
    """Every tensor of ref equals the output (exactly, or f16 rounding with 'f16'); metadata k=v."""
    out, meta = read_st(path)
    want = dict(np.load(ref))
    assert sorted(out) == sorted(want), f"keys differ: {sorted(set(out) ^ set(want))}"
    for name, w in want.items():
        o = out[name]
        assert o.shape == w.shape, f"{name}: shape {o.shape} != {w.shape}"
        if "f16" in opts:
            assert o.dtype == np.float16, f"{name}: dtype {o.dtype}"
            assert np.array_equal(o, w.astype(np.float16)), f"{name}: not round-to-nearest f16"
            err = np.abs(o.astype(np.float64) - w) / np.maximum(np.abs(w), 2.0 ** -14)
            assert err.max() <= 2.0 ** -11, f"{name}: f16 error {err.max()}"
        else:
            assert o.dtype == np.float32, f"{name}: dtype {o.dtype}"
            assert np.array_equal(o, w), f"{name}: values differ (max {np.abs(o - w).max()})"
    for kv in opts:
        if "=" in kv:
            k, v = kv.split("=", 1)
            assert meta.get(k) == v, f"metadata {k}={meta.get(k)!r}, want {v!r}"
    print(f"{len(want)} tensors equal")

def cmd_legacy2017(path, ref):
    """A torch < 0.4 style legacy .pth written without torch: _rebuild_tensor (4 arguments),
    protocol 2, and tensors that are views into one shared storage (view_metadata)."""
    import pickle, types
    torch_mod, utils_mod = types.ModuleType("torch"), types.ModuleType("torch._utils")
    def _rebuild_tensor(*args):
        raise AssertionError("never called while writing")
    _rebuild_tensor.__module__, _rebuild_tensor.__qualname__ = "torch._utils", "_rebuild_tensor"
    utils_mod._rebuild_tensor = _rebuild_tensor
    FloatStorage = type("FloatStorage", (), {"__module__": "torch"})
    torch_mod.FloatStorage = FloatStorage
    sys.modules["torch"], sys.modules["torch._utils"] = torch_mod, utils_mod
    sd = make_state("vgg19", seed=3)
    names = list(sd)
    # the first four tensors share root storage "100" through views; the rest own a storage each
    shared = np.concatenate([np.zeros(7, np.float32)] + [sd[n].ravel() for n in names[:4]])
    roots = {"100": shared}
    class StorageRef:
        def __init__(self, root, view=None):
            self.root, self.view = root, view
    class Tensor:
        def __init__(self, storage, offset, size):
            self.args = (storage, offset, size, tuple(int(np.prod(size[i + 1:])) for i in range(len(size))))
        def __reduce__(self):
            return (_rebuild_tensor, self.args)
    obj, pos = {}, 7
    for i, n in enumerate(names):
        a = sd[n]
        if i < 4:
            obj[n] = Tensor(StorageRef("100", (str(200 + i), pos, a.size)), 0, a.shape)
            pos += a.size
        else:
            key = str(300 + i)
            roots[key] = a.ravel()
            obj[n] = Tensor(StorageRef(key), 0, a.shape)
    class P(pickle.Pickler):
        def persistent_id(self, o):
            if isinstance(o, StorageRef):
                return ("storage", FloatStorage, o.root, "cpu", roots[o.root].size, o.view)
            return None
    with open(path, "wb") as f:
        pickle.dump(0x1950A86A20F9469CFC6C, f, protocol=2)
        pickle.dump(1001, f, protocol=2)
        pickle.dump({"protocol_version": 1001, "little_endian": True,
                     "type_sizes": {"short": 2, "int": 4, "long": 8}}, f, protocol=2)
        P(f, protocol=2).dump(obj)
        keys = sorted(roots)
        pickle.dump(keys, f, protocol=2)
        for k in keys:
            f.write(struct.pack("<q", roots[k].size) + roots[k].astype("<f4").tobytes())
    np.savez(ref, **sd)

def cmd_torch(d):
    """.pth fixtures written by torch itself, with reference arrays."""
    import torch
    def to_torch(sd):
        return {k: torch.from_numpy(v.copy()) for k, v in sd.items()}
    sd = to_torch(make_state("vgg19"))
    full = dict(sd)
    full["classifier.0.weight"] = torch.randn(10, 32)
    full["classifier.0.bias"] = torch.randn(10)
    full["features.1.num_batches_tracked"] = torch.tensor(3)  # a LongStorage the converter must skip
    torch.save(full, f"{d}/zip.pth")
    torch.save(full, f"{d}/legacy.pth", _use_new_zipfile_serialization=False)
    np.savez(f"{d}/ref.npz", **{k: v.numpy() for k, v in sd.items()})
    # f16 and bf16 storages; the reference is torch's own widening to float32
    low = {k: (v.half() if i % 2 else v.bfloat16()) for i, (k, v) in enumerate(sd.items())}
    torch.save(low, f"{d}/lowp.pth")
    np.savez(f"{d}/ref_lowp.npz", **{k: v.float().numpy() for k, v in low.items()})
    # non-contiguous tensors and tensors sharing one storage
    odd = {}
    for k, v in sd.items():
        if v.dim() == 4:
            odd[k] = v.permute(3, 2, 1, 0).contiguous().permute(3, 2, 1, 0)  # same values, odd strides
        else:
            odd[k] = torch.cat([torch.zeros(5), v, torch.zeros(3)])[5:5 + v.numel()]  # offset view
    assert not odd["features.0.weight"].is_contiguous()
    torch.save(odd, f"{d}/strided.pth")
    torch.save(odd, f"{d}/strided_legacy.pth", _use_new_zipfile_serialization=False)
    # VGG16 layout
    sd16 = to_torch(make_state("vgg16", seed=2))
    torch.save(sd16, f"{d}/vgg16.pth")
    np.savez(f"{d}/ref16.npz", **{k: v.numpy() for k, v in sd16.items()})
    # a whole module (pickles classes): must be refused without running anything
    torch.save(torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3)), f"{d}/module.pth")
    # NaN in a kept tensor
    nan = dict(sd)
    nan["features.0.bias"] = nan["features.0.bias"].clone()
    nan["features.0.bias"][1] = float("nan")
    torch.save(nan, f"{d}/nan.pth")
    # a truncated zip
    raw = open(f"{d}/zip.pth", "rb").read()
    open(f"{d}/truncated.pth", "wb").write(raw[: len(raw) // 2])
    raw = open(f"{d}/legacy.pth", "rb").read()
    open(f"{d}/truncated_legacy.pth", "wb").write(raw[: len(raw) - 100])

if __name__ == "__main__":
    globals()["cmd_" + sys.argv[1]](*sys.argv[2:])
EOF
H() { "$PY" "$tmp/helper.py" "$@"; }

# ---- fetch.sh --verify, download errors -----------------------------------------------------------
head -c 100000 /dev/urandom >"$tmp/blob"
sum=$(sha256sum "$tmp/blob" | cut -c1-8)
cp "$tmp/blob" "$tmp/vggx-$sum.pth"
check "fetch --verify accepts a matching prefix" bash "$FETCH" --verify "$tmp/vggx-$sum.pth"
wrong=$(printf '%08x' $(((0x$sum + 1) % 0x100000000)))
cp "$tmp/blob" "$tmp/vggx-$wrong.pth"
refuses "fetch --verify rejects a wrong prefix" "does not start with $wrong" \
    bash "$FETCH" --verify "$tmp/vggx-$wrong.pth"
cp "$tmp/blob" "$tmp/noprefix.pth"
refuses "fetch --verify rejects a name without prefix" "no hash prefix" bash "$FETCH" --verify "$tmp/noprefix.pth"
refuses "fetch --verify on a missing file" "no such file" bash "$FETCH" --verify "$tmp/none-12345678.pth"
refuses "fetch rejects an unknown network" "unknown network" bash "$FETCH" vgg11 "$tmp/dl"
mkdir -p "$tmp/mirror" "$tmp/dl"
cp "$tmp/blob" "$tmp/mirror/vgg19-dcbb9e9d.pth"
refuses "fetch deletes a download with the wrong hash" "checksum mismatch: deleted" \
    env TESSERA_WEIGHTS_BASE_URL="file://$tmp/mirror" bash "$FETCH" vgg19 "$tmp/dl"
if [ ! -e "$tmp/dl/vgg19-dcbb9e9d.pth" ] && [ ! -e "$tmp/dl/vgg19-dcbb9e9d.pth.part" ]; then
    ok "mismatched download removed"
else
    bad "mismatched download left on disk"
fi
refuses "fetch explains a failed download" "download of .* failed \(no network\?\)" \
    env TESSERA_WEIGHTS_BASE_URL="file://$tmp/nowhere" bash "$FETCH" vgg16 "$tmp/dl"

# ---- converter, numpy only ------------------------------------------------------------------------
if ! "$PY" -c 'import numpy' 2>/dev/null; then
    skip_reason="no numpy in $PY"
    for n in $(seq 1 19); do skip "converter check $n"; done
else
    H mkst "$tmp/in.safetensors" "$tmp/in.npz"
    check "convert safetensors -> safetensors (vgg19 auto)" "$PY" "$CONV" "$tmp/in.safetensors" "$tmp/out.safetensors"
    check "output equals input conv tensors, extras dropped" H compare "$tmp/out.safetensors" "$tmp/in.npz" \
        preprocessing=torchvision arch=vgg19 source=in.safetensors
    check "convert --dtype f16" "$PY" "$CONV" "$tmp/in.safetensors" "$tmp/out16.safetensors" --dtype f16 --arch vgg19
    check "f16 output within f16 rounding" H compare "$tmp/out16.safetensors" "$tmp/in.npz" f16
    H mkst "$tmp/caffe.safetensors" "$tmp/caffe.npz" caffe bf16
    check "convert keeps caffe metadata, reads BF16" "$PY" "$CONV" "$tmp/caffe.safetensors" "$tmp/caffe_out.safetensors"
    check "BF16 input widened exactly" H compare "$tmp/caffe_out.safetensors" "$tmp/caffe.npz" preprocessing=caffe
    check "--preprocessing overrides" "$PY" "$CONV" "$tmp/caffe.safetensors" "$tmp/tv.safetensors" --preprocessing torchvision
    check "overridden metadata" H compare "$tmp/tv.safetensors" "$tmp/caffe.npz" preprocessing=torchvision
    H mkst "$tmp/v16.safetensors" "$tmp/v16.npz" vgg16
    refuses "vgg16 file with --arch vgg19 refused" "but vgg19 has them at" \
        "$PY" "$CONV" "$tmp/v16.safetensors" "$tmp/x.safetensors" --arch vgg19
    H mkst "$tmp/drop.safetensors" "$tmp/drop.npz" drop
    refuses "missing conv layer refused" "match neither VGG19" "$PY" "$CONV" "$tmp/drop.safetensors" "$tmp/x.safetensors"
    H mkst "$tmp/nobias.safetensors" "$tmp/nobias.npz" nobias
    refuses "missing bias refused" "features.0.bias missing" "$PY" "$CONV" "$tmp/nobias.safetensors" "$tmp/x.safetensors"
    H mkst "$tmp/chain.safetensors" "$tmp/chain.npz" chain
    refuses "channel widths that do not chain refused" "features.5.weight has shape \[8, 5, 3, 3\], want \[K, 4, 3, 3\]" \
        "$PY" "$CONV" "$tmp/chain.safetensors" "$tmp/x.safetensors"
    H mkst "$tmp/nan.safetensors" "$tmp/nan.npz" nan
    refuses "NaN weight refused" "features.2.weight holds NaN.*weights must be finite" \
        "$PY" "$CONV" "$tmp/nan.safetensors" "$tmp/x.safetensors"
    refuses "random bytes refused" "error: .*blob: not a torch" "$PY" "$CONV" "$tmp/blob" "$tmp/x.safetensors"
    refuses "missing input refused" "error: .*cannot read" "$PY" "$CONV" "$tmp/none.pth" "$tmp/x.safetensors"
    if [ ! -e "$tmp/x.safetensors" ]; then ok "no output written on failure"; else bad "output written on failure"; fi
    H legacy2017 "$tmp/old.pth" "$tmp/old.npz"
    check "convert a 2017-style legacy .pth (no torch)" "$PY" "$CONV" "$tmp/old.pth" "$tmp/old.safetensors"
    check "2017-style tensors and storage views equal" H compare "$tmp/old.safetensors" "$tmp/old.npz" arch=vgg19
    # the C reader accepts the converter's output
    if [ -x "$BUILD/tests/test_safetensors" ]; then
        if "$BUILD/tests/test_safetensors" "$tmp/out.safetensors" "$tmp/out16.safetensors" >"$tmp/log" 2>&1 &&
            [ "$(grep -c '^tensor features\.' "$tmp/log")" -eq 64 ] &&
            grep -q '^meta preprocessing=torchvision' "$tmp/log" &&
            grep -q '^tensor features.34.weight F16 \[32,32,3,3\]' "$tmp/log"; then
            ok "C reader loads converter output"
        else
            bad "C reader loads converter output"
            sed 's/^/    /' "$tmp/log" | head
        fi
    else
        skip_reason="$BUILD/tests/test_safetensors not built"
        skip "C reader loads converter output"
    fi
fi

# ---- converter on real torch files ----------------------------------------------------------------
if ! "$PY" -c 'import torch, numpy' 2>/dev/null; then
    skip_reason="no torch"
    for n in $(seq 1 18); do skip "torch check $n"; done
else
    check "torch writes the .pth fixtures" H torch "$tmp"
    check "convert zip-format .pth" "$PY" "$CONV" "$tmp/zip.pth" "$tmp/zip.safetensors"
    check "zip .pth: every tensor equals torch's" H compare "$tmp/zip.safetensors" "$tmp/ref.npz" \
        arch=vgg19 preprocessing=torchvision source=zip.pth
    check "convert legacy-format .pth" "$PY" "$CONV" "$tmp/legacy.pth" "$tmp/legacy.safetensors" --arch vgg19
    check "legacy .pth: every tensor equals torch's" H compare "$tmp/legacy.safetensors" "$tmp/ref.npz"
    check "convert .pth --dtype f16 --preprocessing caffe" "$PY" "$CONV" "$tmp/zip.pth" "$tmp/zip16.safetensors" \
        --dtype f16 --preprocessing caffe
    check "f16 from .pth within f16 rounding" H compare "$tmp/zip16.safetensors" "$tmp/ref.npz" f16 preprocessing=caffe
    check "convert F16/BF16 storages" "$PY" "$CONV" "$tmp/lowp.pth" "$tmp/lowp.safetensors"
    check "F16/BF16 storages widened exactly" H compare "$tmp/lowp.safetensors" "$tmp/ref_lowp.npz"
    check "convert strided and offset tensors (zip, legacy)" "$PY" "$CONV" "$tmp/strided.pth" "$tmp/strided.safetensors"
    check "strided tensors equal" H compare "$tmp/strided.safetensors" "$tmp/ref.npz"
    "$PY" "$CONV" "$tmp/strided_legacy.pth" "$tmp/strided_legacy.safetensors" >/dev/null 2>&1
    check "strided legacy tensors equal" H compare "$tmp/strided_legacy.safetensors" "$tmp/ref.npz"
    check "vgg16 .pth detected and converted" "$PY" "$CONV" "$tmp/vgg16.pth" "$tmp/vgg16.safetensors"
    check "vgg16 tensors equal" H compare "$tmp/vgg16.safetensors" "$tmp/ref16.npz" arch=vgg16
    refuses "pickled module refused" "refers to torch.nn.modules" "$PY" "$CONV" "$tmp/module.pth" "$tmp/x.safetensors"
    refuses "NaN in .pth refused" "features.0.bias holds NaN" "$PY" "$CONV" "$tmp/nan.pth" "$tmp/x.safetensors"
    refuses "truncated zip refused" "error: .*truncated.pth" "$PY" "$CONV" "$tmp/truncated.pth" "$tmp/x.safetensors"
    refuses "truncated legacy refused" "error: .*truncated_legacy.pth" "$PY" "$CONV" "$tmp/truncated_legacy.pth" "$tmp/x.safetensors"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
