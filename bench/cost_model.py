#!/usr/bin/env python3
"""cost_model.py - time per evaluation of Tessera's exact mode on N ranks, from FLOPs and bytes.

Per evaluation each rank runs VGG19 (up to relu5_1) forward and backward-to-input over its extended
tile (owned pixels plus halo), then takes part in one allreduce of the packed partial sums (style
Grams, content and TV sums) and in the halo exchange and its adjoint. L-BFGS adds a few scalar
allreduces per iteration (latency only). Efficiency = T(1 rank, whole image) / (N * T(N ranks)).

Usage:
  cost_model.py check SIZE SECONDS_1RANK MEASURED_EFF_2RANKS   # this machine, 1x2 tiles
  cost_model.py predict [--ranks 16] [--size 16384] [--tflops 20] [--gbps 12.5] [--latency-us 2]
Standard library only.
"""
import argparse
import math

VGG19 = [(3, 64), (64, 64), 'P', (64, 128), (128, 128), 'P', (128, 256), (256, 256), (256, 256), (256, 256), 'P',
         (256, 512), (512, 512), (512, 512), (512, 512), 'P', (512, 512)]  # up to conv5_1 (relu5_1)
STYLE_C = [64, 128, 256, 512, 512]  # relu1_1 .. relu5_1
HALO = 80  # the 70 px receptive margin of relu5_1, rounded up to the 16 px tile stride


def flops(h, w):
    """FLOPs of one forward and one backward-to-input pass over an h x w input."""
    total, s = 0.0, 1
    for layer in VGG19:
        if layer == 'P':
            s *= 2
            continue
        c, k = layer
        total += 2 * 2 * c * k * 9 * (h // s) * (w // s)  # forward + backward, 2 FLOPs per MAC
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


def evaluation_time(h, w, ranks, rate, gbps, latency):
    r, c = grid_for(ranks, h, w)
    worst = max(flops(tile_extent(h, r, HALO, i), tile_extent(w, c, HALO, j)) for i in range(r) for j in range(c))
    compute = worst / rate
    partial_bytes = 8 * (sum(x * x for x in STYLE_C) + 2)
    allreduce = 0 if ranks == 1 else 2 * partial_bytes * (ranks - 1) / ranks / (gbps * 1e9) + 2 * math.log2(ranks) * latency
    # halo pixels a tile receives: its extended area minus its owned area; forward values and adjoint gradients
    th, tw = h // r, w // c
    halo_px = (th + 2 * HALO) * (tw + 2 * HALO) - th * tw if ranks > 1 else 0
    halo = 2 * 3 * 4 * halo_px / (gbps * 1e9) + (8 * latency if ranks > 1 else 0)
    return compute, allreduce, halo, (r, c)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest='cmd', required=True)
    ck = sub.add_parser('check')
    ck.add_argument('size', type=int)
    ck.add_argument('seconds_1rank', type=float)
    ck.add_argument('measured_eff', type=float)
    pr = sub.add_parser('predict')
    pr.add_argument('--ranks', type=int, default=16)
    pr.add_argument('--size', type=int, default=16384)
    pr.add_argument('--tflops', type=float, default=20.0, help='sustained FP32 TFLOP/s per GPU')
    pr.add_argument('--gbps', type=float, default=12.5, help='network GB/s per rank (100 Gb/s InfiniBand: 12.5)')
    pr.add_argument('--latency-us', type=float, default=2.0)
    a = ap.parse_args()
    if a.cmd == 'check':
        h, w = a.size * 3 // 4, a.size  # the sample photo is 4:3
        rate = flops(h, w) / a.seconds_1rank
        c2, ar, hx, g = evaluation_time(h, w, 2, rate, 5.0, 1e-6)  # shared memory: ~5 GB/s, 1 us
        t2 = c2 + ar + hx
        print(f'{w}x{h}: calibrated {rate / 1e9:.1f} GFLOP/s per rank; 2 ranks {g[0]}x{g[1]}: compute {c2:.3f} s, '
              f'allreduce {ar * 1e3:.2f} ms, halo {hx * 1e3:.2f} ms')
        print(f'predicted efficiency {100 * a.seconds_1rank / (2 * t2):.1f}%, measured {a.measured_eff:.1f}%')
    else:
        n = a.size
        rate = a.tflops * 1e12
        t1 = flops(n, n) / rate
        c, ar, hx, g = evaluation_time(n, n, a.ranks, rate, a.gbps, a.latency_us * 1e-6)
        tn = c + ar + hx
        print(f'{n}x{n} on {a.ranks} ranks ({g[0]}x{g[1]} tiles, halo {HALO} px) at {a.tflops} TFLOP/s, {a.gbps} GB/s:')
        print(f'  one evaluation: compute {c:.3f} s, allreduce {ar * 1e3:.2f} ms, halo exchange {hx * 1e3:.2f} ms')
        print(f'  whole image on one device would take {t1:.2f} s; predicted parallel efficiency {100 * t1 / (a.ranks * tn):.1f}%')


if __name__ == '__main__':
    main()
