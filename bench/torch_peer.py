#!/usr/bin/python3
"""torch_peer.py - the PyTorch peer of `tessera run`: on the CPU for bench/cpu.sh, on a GPU (cuDNN)
for bench/gpu.sh.

Usage:
  /usr/bin/python3 bench/torch_peer.py --write-weights FILE [--seed S]
  /usr/bin/python3 bench/torch_peer.py --weights FILE --content C.png --style S.png
                                       [--iterations N] [--threads T] [--history M]
                                       [--line-search strong_wolfe|none]
                                       [--device cpu|cuda] [--gpu-math fp32|tf32]

--device cuda runs the same loss on the first visible GPU with cuDNN (torch.backends.cudnn.benchmark on,
so it picks its fastest convolution algorithms during the excluded first iteration); --gpu-math
fp32 switches TF32 off for both cuDNN convolutions and matmuls (PyTorch allows it for cuDNN by
default), tf32 switches it on for both, matching `tessera --gpu-math`. On the GPU every evaluation
ends with torch.cuda.synchronize(), so the times are the GPU's, and the JSON line adds gpu (the
device name) and peak_gpu_mb (torch.cuda.max_memory_allocated).

--write-weights writes a VGG19 conv trunk up to conv5_1 (the 13 convs that relu5_1 needs;
torchvision keys features.N.weight/bias, N = 0,2,5,7,10,12,14,16,19,21,23,25,28; standard widths
64,128,256,512,512; seeded Kaiming-normal fan-out weights and zero biases like Tessera's random
stand-in; F32; metadata preprocessing=torchvision) as safetensors, with numpy and struct only.
`tessera run --weights FILE` reads the same file, so both programs use the same network.

The benchmark run optimises the content image with torch.optim.LBFGS (history M, default 20 as in
Tessera) on the loss of docs/DESIGN.md §1, taken from tests/torch_ref.py, the reference that
Tessera's gradient tests are checked against: VGG19 to relu5_1, max pooling, torchvision
normalisation, Gram F F^T/M, style sum_l lambda_l/(4 C^2) sum (G-A)^2 over relu1_1..relu5_1 with
lambda_l = 4096/C_l^2, content 1/(4CM) sum (F-P)^2 at relu4_2, TV 1/(3HW) sum (dx)^2, and weights
alpha=4, beta=4e6/4096, gamma=1000 (Tessera's "torchvision" preset; bench/cpu.sh passes the same
values to Tessera explicitly). The images are PNGs that Tessera itself wrote at the benchmark size
(`tessera run --iterations 0`), so both programs see the same pixels; they are read by the small
stdlib PNG reader below.

What is measured (float32, torch.set_num_threads(T)): one step() call runs N iterations; the closure
(forward + backward of the loss = one evaluation) records when it ends and which iteration it
belongs to (the optimizer's n_iter). Iteration k lasts from the end of iteration k-1's last
evaluation (k=1: the initial one) to the end of its own last evaluation (the last iteration: to the
return of step()). Start-up (imports, weights, targets, the initial evaluation and iteration 1,
where oneDNN primitives are created) is excluded, as in Tessera's log:
  s_per_iter = median of iteration times 2..N
  s_per_eval = sum of iteration times 2..N / evaluations in iterations 2..N
  eval_median = median of the evaluation (closure) times after the first
  peak_rss_kb = getrusage(RUSAGE_SELF).ru_maxrss at the end (import_rss_kb: after the imports)
It prints one JSON line with these. torch's line search (strong Wolfe) is not Tessera's
(backtracking Armijo), so evaluations per iteration may differ; compare s_per_eval.
"""
import argparse
import json
import os
import resource
import struct
import sys
import time
import zlib

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
import torch_ref  # noqa: E402  (the loss of docs/DESIGN.md §1)

STYLE_LAYERS = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]
STYLE_CHANNELS = [64, 128, 256, 512, 512]
CONTENT_LAYERS = ["relu4_2"]
ALPHA, BETA, GAMMA = 4.0, 4.0e6 / 4096.0, 1000.0
NCONV = 13  # conv1_1 .. conv5_1


# ---------------------------------------------------------------------------------------------
# Weights file

def write_weights(path, seed):
    rng = np.random.default_rng(seed)
    idx = torch_ref.conv_indices("vgg19")[:NCONV]
    widths = [64] * 2 + [128] * 2 + [256] * 4 + [512] * 4 + [512]
    tensors, c_in = [], 3
    for i, k in zip(idx, widths):
        std = np.sqrt(2.0 / (9.0 * k))  # Kaiming normal, fan-out, ReLU gain (as Tessera's stand-in)
        tensors.append((f"features.{i}.weight", rng.normal(0.0, std, (k, c_in, 3, 3)).astype(np.float32)))
        tensors.append((f"features.{i}.bias", np.zeros(k, np.float32)))
        c_in = k
    torch_ref.write_safetensors(path, tensors, "F32",
                                {"preprocessing": "torchvision", "arch": "vgg19",
                                 "source": f"bench/torch_peer.py seed {seed}"})


def read_safetensors_f32(path):
    """{name: float32 array}; each tensor is read straight into its own array (one copy in memory)."""
    out = {}
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        for name, h in header.items():
            if name == "__metadata__":
                continue
            if h["dtype"] != "F32":
                raise SystemExit(f"{path}: {name}: only F32 is supported here")
            a, b = h["data_offsets"]
            f.seek(8 + n + a)
            out[name] = np.fromfile(f, dtype="<f4", count=(b - a) // 4).reshape(h["shape"])
    return out


# ---------------------------------------------------------------------------------------------
# PNG reader: non-interlaced 8/16-bit RGB or RGBA (what Tessera writes), all five row filters

def read_png(path):
    """Returns float64 array (3, H, W) in [0, 1]."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise SystemExit(f"{path}: not a PNG file")
    pos, idat = 8, []
    while pos < len(data):
        n, tag = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if tag == b"IHDR":
            w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
        elif tag == b"IDAT":
            idat.append(body)
        elif tag == b"IEND":
            break
        pos += 12 + n
    if ctype not in (2, 6) or depth not in (8, 16) or interlace:
        raise SystemExit(f"{path}: only non-interlaced 8/16-bit RGB(A) PNGs are supported")
    chans = 3 if ctype == 2 else 4
    bpp = chans * depth // 8
    stride = w * bpp
    raw = zlib.decompress(b"".join(idat))
    out = np.zeros((h, stride), np.uint8)
    prev = np.zeros(stride, np.uint8)
    for y in range(h):
        ftype = raw[y * (stride + 1)]
        line = np.frombuffer(raw, np.uint8, stride, y * (stride + 1) + 1)
        if ftype == 0:
            cur = line.copy()
        elif ftype == 1:  # Sub: running sum per byte position within a pixel, modulo 256
            cur = np.cumsum(line.reshape(w, bpp), axis=0, dtype=np.uint64).astype(np.uint8).reshape(-1)
        elif ftype == 2:  # Up
            cur = line + prev
        else:  # Average and Paeth depend on the decoded left neighbour: byte by byte
            cur = bytearray(line.tobytes())
            up = prev.tobytes()
            for i in range(stride):
                a = cur[i - bpp] if i >= bpp else 0
                b = up[i]
                if ftype == 3:
                    cur[i] = (cur[i] + ((a + b) >> 1)) & 255
                else:
                    c = up[i - bpp] if i >= bpp else 0
                    p = a + b - c
                    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                    pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                    cur[i] = (cur[i] + pred) & 255
            cur = np.frombuffer(bytes(cur), np.uint8)
        out[y] = cur
        prev = out[y]
    if depth == 16:
        img = out.view(">u2").reshape(h, w, chans).astype(np.float64) / 65535.0
    else:
        img = out.reshape(h, w, chans).astype(np.float64) / 255.0
    return np.ascontiguousarray(img[:, :, :3].transpose(2, 0, 1))


# ---------------------------------------------------------------------------------------------
# Benchmark

def preprocess_on_device(x, mode):
    """torch_ref.preprocess with its constants made on x's device (the reference makes them on the CPU)."""
    if mode == "torchvision":
        mean = torch.tensor(torch_ref.TV_MEAN, dtype=x.dtype, device=x.device).view(3, 1, 1)
        std = torch.tensor(torch_ref.TV_STD, dtype=x.dtype, device=x.device).view(3, 1, 1)
        y = (x - mean) / std
    else:
        y = 255.0 * x.flip(0) - torch.tensor(torch_ref.CAFFE_MEAN_BGR, dtype=x.dtype, device=x.device).view(3, 1, 1)
    return y.unsqueeze(0)


def setup_device(a):
    """The torch.device to run on; on a GPU also cuDNN's autotuner and the TF32 switches."""
    if a.device == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise SystemExit("torch_peer.py: --device cuda, but this torch has no usable GPU "
                         f"(torch {torch.__version__}, built with CUDA {torch.version.cuda})")
    tf32 = a.gpu_math == "tf32"
    torch.backends.cudnn.benchmark = True
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch_ref.preprocess = preprocess_on_device
    return torch.device("cuda")


def bench(a):
    rss_import = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # interpreter + torch + numpy
    torch.set_num_threads(a.threads)
    dev = setup_device(a)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    stored = read_safetensors_f32(a.weights)
    # the layout torch_ref.features() walks; it stops at the deepest layer the loss needs (relu5_1)
    net = {"layers": torch_ref.layer_table("vgg19"), "pool": "max", "preprocessing": "torchvision",
           "w": {}, "b": {}}
    for i in torch_ref.conv_indices("vgg19")[:NCONV]:
        net["w"][i] = torch.from_numpy(stored[f"features.{i}.weight"]).to(dev)
        net["b"][i] = torch.from_numpy(stored[f"features.{i}.bias"]).to(dev)
    cfg = dict(style_layers=STYLE_LAYERS, layer_weights=[4096.0 / (c * c) for c in STYLE_CHANNELS],
               content_layers=CONTENT_LAYERS, blend=[1.0], alpha=ALPHA, beta=BETA, gamma=GAMMA)
    content = torch.from_numpy(read_png(a.content)).float().to(dev)
    style = torch.from_numpy(read_png(a.style)).float().to(dev)
    st, ct = torch_ref.targets(net, cfg, content, [style])
    x = content.clone().requires_grad_(True)
    opt = torch.optim.LBFGS([x], lr=1, max_iter=a.iterations, max_eval=a.iterations * 50,
                            tolerance_grad=0.0, tolerance_change=0.0, history_size=a.history,
                            line_search_fn=None if a.line_search == "none" else a.line_search)
    evals = []  # (iteration, seconds, end time)

    def closure():
        t0 = time.perf_counter()
        opt.zero_grad()
        loss = sum(torch_ref.loss_terms(x, net, cfg, st, ct))
        loss.backward()
        sync()
        t1 = time.perf_counter()
        evals.append((opt.state[x].get("n_iter", 0), t1 - t0, t1))
        return loss

    sync()
    t_start = time.perf_counter()
    loss = float(opt.step(closure))
    sync()
    t_stop = time.perf_counter()
    n = max(k for k, _, _ in evals)
    n = a.iterations if t_stop > evals[-1][2] else n
    ends = {k: t for k, _, t in evals}  # last evaluation of each iteration
    ends[n] = t_stop
    iters = [ends[k] - ends[k - 1] for k in range(2, n + 1) if k in ends and k - 1 in ends]
    nev = sum(1 for k, _, _ in evals if k >= 2)
    res = dict(width=x.shape[2], height=x.shape[1], threads=a.threads, iterations=n,
               evaluations=len(evals), loss=loss,
               s_per_iter=float(np.median(iters)) if iters else None,
               s_per_eval=sum(iters) / nev if nev else None,
               evals_per_iter=nev / len(iters) if iters else None,
               eval_median=float(np.median([s for _, s, _ in evals[1:]])) if len(evals) > 1 else None,
               seconds_total=t_stop - t_start,
               peak_rss_kb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, import_rss_kb=rss_import,
               torch=torch.__version__, device=a.device)
    if dev.type == "cuda":
        res.update(gpu=torch.cuda.get_device_name(0), gpu_math=a.gpu_math,
                   peak_gpu_mb=torch.cuda.max_memory_allocated() / 2**20,
                   cudnn=torch.backends.cudnn.version())
    if a.verbose:
        res["evals_detail"] = [(k, round(s, 4), round(t - t_start, 4)) for k, s, t in evals]
    print(json.dumps(res))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--write-weights", metavar="FILE")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--weights")
    ap.add_argument("--content")
    ap.add_argument("--style")
    ap.add_argument("--iterations", type=int, default=6)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--history", type=int, default=20)
    ap.add_argument("--verbose", action="store_true", help="also list every evaluation")
    ap.add_argument("--line-search", default="strong_wolfe", choices=["strong_wolfe", "none"])
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--gpu-math", default="fp32", choices=["fp32", "tf32"],
                    help="on the GPU: TF32 off (fp32) or on (tf32) for cuDNN convolutions and matmuls")
    a = ap.parse_args()
    if a.write_weights:
        write_weights(a.write_weights, a.seed)
        return 0
    if not (a.weights and a.content and a.style):
        ap.error("--weights, --content and --style are required (or --write-weights)")
    bench(a)
    return 0


if __name__ == "__main__":
    sys.exit(main())
