#!/usr/bin/env python3
"""cost_model.py - time per evaluation of Tessera's exact mode on N ranks, from FLOPs and bytes.

Per evaluation each rank runs VGG19 (up to relu5_1) forward and backward-to-input over its extended
tile, then takes part in one allreduce of the packed partial sums (style Grams, content and TV sums)
and in the halo exchanges and their adjoints. Two halo exchanges (--halo-exchange):
  image  one 80 px image halo per tile, exchanged once; every tile recomputes its halo's features
  layer  a 1-position ring at every conv input, exchanged before each conv (13 exchanges each way:
         the image ring, then the inputs of conv1_2 .. conv5_1)
L-BFGS adds a few scalar allreduces per iteration (latency only).
Efficiency = T(1 rank, whole image) / (N * T(N ranks)).
On the CPU the convolutions after conv1_1 are Winograd F(4x4,3x3): they cost whole 4x4 output tiles,
so a ring that makes a tensor one position wider can cost a whole extra column of tiles (33 wide
costs as 36); the forward pass skips the ring there, the backward pass cannot (it produces the ring's
gradient for the neighbours); `check` counts that. It also takes the measured ceiling (bench/scaling.sh's line for N
copies of the 1-rank job at once: what sharing the machine costs, which FLOPs cannot see) and
multiplies it in.

Usage:
  cost_model.py check SIZE SECONDS_PER_EVAL_1RANK [--layer EFF] [--image EFF] [--ceiling EFF]   # 1x2 tiles
  cost_model.py predict [--ranks 16] [--size 16384] [--tflops 20] [--gbps 12.5] [--latency-us 2]
Standard library only.
"""
import argparse
import math

VGG19 = [(3, 64), (64, 64), 'P', (64, 128), (128, 128), 'P', (128, 256), (256, 256), (256, 256), (256, 256), 'P',
         (256, 512), (512, 512), (512, 512), (512, 512), 'P', (512, 512)]  # up to conv5_1 (relu5_1)
STYLE_C = [64, 128, 256, 512, 512]  # relu1_1 .. relu5_1
HALO = 80  # the 70 px receptive margin of relu5_1, rounded up to the 16 px tile stride


def padded(n, tile):
    return -(-n // tile) * tile


def flops(h, w, ring_y=0, ring_x=0, tile=1, forward_ring=True):
    """FLOPs of one forward and one backward-to-input pass over an h x w input; with per-layer rings,
    every layer's tensor is ring_y (ring_x) positions taller (wider): one per neighbouring side. tile:
    output tile of the convolutions with 16 or more input channels (4: Winograd F(4x4,3x3), counted
    as the direct convolution over the padded size, so that only ratios are meaningful).
    forward_ring=False: the forward pass computes the owned part only (the CPU's Winograd path; the
    backward pass always produces the ring's gradient)."""
    total, s = 0.0, 1
    for layer in VGG19:
        if layer == 'P':
            s *= 2
            continue
        c, k = layer
        t = tile if c >= 16 else 1
        fy, fx = (ring_y, ring_x) if forward_ring or t == 1 else (0, 0)
        fwd = padded(h // s + fy, t) * padded(w // s + fx, t)
        bwd = padded(h // s + ring_y, t) * padded(w // s + ring_x, t)
        total += 2 * c * k * 9 * (fwd + bwd)  # 2 FLOPs per MAC
    return total


def ring_floats(h, w, ring_y, ring_x):
    """floats a tile receives in one forward pass of per-layer ring exchanges (inputs of conv1_2 ..)"""
    total, s = 0, 1
    for i, layer in enumerate(VGG19):
        if layer == 'P':
            s *= 2
            continue
        if i == 0:  # the image ring: 3 channels, exchanged with the image
            total += 3 * ((h + ring_y) * (w + ring_x) - h * w)
            continue
        c = layer[0]
        total += c * ((h // s + ring_y) * (w // s + ring_x) - (h // s) * (w // s))
    return total


def tile_extent(n, parts, halo, index):
    """owned length of part `index` of n split in `parts`, plus the halo on inner sides"""
    base = n // parts
    own = base if index < parts - 1 else n - base * (parts - 1)
    inner = (index > 0) + (index < parts - 1)
    return own + inner * halo


def grid_for(ranks, h, w):
    best = None
    for r in range(1, ranks + 1):
        if ranks % r:
            continue
        c = ranks // r
        aspect = abs(math.log((h / r) / (w / c)))
        if best is None or aspect < best[0]:
            best = (aspect, r, c)
    return best[1], best[2]


def sides(parts, index):
    return (index > 0) + (index < parts - 1)


def evaluation_time(h, w, ranks, rate, gbps, latency, exchange='layer', tile=1):
    r, c = grid_for(ranks, h, w)
    partial_bytes = 8 * (sum(x * x for x in STYLE_C) + 2)
    allreduce = 0 if ranks == 1 else 2 * partial_bytes * (ranks - 1) / ranks / (gbps * 1e9) + 2 * math.log2(ranks) * latency
    th, tw = h // r, w // c
    if exchange == 'image':
        worst = max(flops(tile_extent(h, r, HALO, i), tile_extent(w, c, HALO, j), tile=tile)
                    for i in range(r) for j in range(c))
        # halo pixels a tile receives: its extended area minus its owned area; values and adjoint gradients
        halo_px = (th + 2 * HALO) * (tw + 2 * HALO) - th * tw if ranks > 1 else 0
        halo = 2 * 3 * 4 * halo_px / (gbps * 1e9) + (8 * latency if ranks > 1 else 0)
    else:
        worst = max(flops(tile_extent(h, r, 0, i), tile_extent(w, c, 0, j), sides(r, i), sides(c, j), tile, tile == 1)
                    for i in range(r) for j in range(c))
        nconv = sum(1 for layer in VGG19 if layer != 'P')
        fl = ring_floats(th, tw, 2 if r > 1 else 0, 2 if c > 1 else 0) if ranks > 1 else 0
        halo = 2 * 4 * fl / (gbps * 1e9) + (2 * nconv * 8 * latency if ranks > 1 else 0)
    return worst / rate, allreduce, halo, (r, c)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest='cmd', required=True)
    ck = sub.add_parser('check')
    ck.add_argument('size', type=int)
    ck.add_argument('seconds_1rank', type=float)
    ck.add_argument('--layer', type=float, help='measured 2-rank efficiency (%%), per-layer exchange')
    ck.add_argument('--image', type=float, help='measured 2-rank efficiency (%%), image halo')
    ck.add_argument('--ceiling', type=float, default=100.0,
                    help="measured efficiency of 2 copies of the 1-rank job at once (%%), scaling.sh's ceiling line")
    ck.add_argument('--im2col', action='store_true', help='the 1-rank time was measured with --conv im2col')
    pr = sub.add_parser('predict')
    pr.add_argument('--ranks', type=int, default=16)
    pr.add_argument('--size', type=int, default=16384)
    pr.add_argument('--tflops', type=float, default=20.0, help='sustained FP32 TFLOP/s per GPU')
    pr.add_argument('--gbps', type=float, default=12.5, help='network GB/s per rank (100 Gb/s InfiniBand: 12.5)')
    pr.add_argument('--latency-us', type=float, default=2.0)
    a = ap.parse_args()
    if a.cmd == 'check':
        h, w = a.size * 3 // 4, a.size  # the sample photo is 4:3
        tile = 1 if a.im2col else 4
        rate = flops(h, w, tile=tile) / a.seconds_1rank
        print(f'{w}x{h}: calibrated {rate / 1e9:.1f} GFLOP/s per rank (direct-convolution FLOPs over '
              f'{"whole" if tile == 1 else "4x4 Winograd"} tiles); ceiling {a.ceiling:.1f}%')
        for ex, measured in (('layer', a.layer), ('image', a.image)):
            c2, ar, hx, g = evaluation_time(h, w, 2, rate, 5.0, 1e-6, ex, tile)  # shared memory: ~5 GB/s, 1 us
            t2 = c2 + ar + hx
            model = 100 * a.seconds_1rank / (2 * t2)
            m = f', measured {measured:.1f}%' if measured is not None else ''
            print(f'  2 ranks {g[0]}x{g[1]}, {ex} halo: compute {c2:.3f} s, allreduce {ar * 1e3:.2f} ms, '
                  f'halo {hx * 1e3:.2f} ms; efficiency from the work {model:.1f}%, times the ceiling '
                  f'{model * a.ceiling / 100:.1f}%{m}')
    else:
        n = a.size
        rate = a.tflops * 1e12
        t1 = flops(n, n) / rate
        print(f'{n}x{n} on {a.ranks} ranks at {a.tflops} TFLOP/s, {a.gbps} GB/s; whole image on one device: {t1:.2f} s')
        for ex in ('layer', 'image'):
            c, ar, hx, g = evaluation_time(n, n, a.ranks, rate, a.gbps, a.latency_us * 1e-6, ex)
            tn = c + ar + hx
            print(f'  {g[0]}x{g[1]} tiles, {ex} halo: compute {c:.3f} s, allreduce {ar * 1e3:.2f} ms, '
                  f'halo exchange {hx * 1e3:.2f} ms; predicted parallel efficiency {100 * t1 / (a.ranks * tn):.1f}%')


if __name__ == '__main__':
    main()
