/* bench_conv.c - 3x3 convolution speed: im2col + sgemm (backend/cpu.c) against Winograd F(4x4, 3x3)
 * (backend/cpu_winograd.c), forward and backward to the input, for the 13 convolutions of VGG19 up to
 * conv5_1 at a given input size (default 512 x 384). Winograd is timed twice: with the weight
 * transform on every call (plain API) and with a plan made beforehand.
 *
 * All methods run interleaved in the same loop, so machine noise hits them alike; each figure is the
 * median of the repetitions. GFLOP/s counts direct-convolution FLOPs, 2 K C 9 H W. One "iteration"
 * is one forward and one backward of every layer (conv1_1's backward included: the gradient goes to
 * the image), as in one L-BFGS evaluation.
 *
 * Build and run (after `make`, which builds build/libtessera.a):
 *   mpicc -std=c11 -O2 -Wall -Wextra -fopenmp -Iinclude -Isrc/backend -I/usr/include/x86_64-linux-gnu/openblas-openmp \
 *     bench/bench_conv.c build/libtessera.a -L/usr/lib/x86_64-linux-gnu/openblas-openmp \
 *     -Wl,-rpath,/usr/lib/x86_64-linux-gnu/openblas-openmp -lopenblas -lm -o build/bench_conv
 *   build/bench_conv [threads=2] [reps=5] [width=512] [height=384] */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tessera/backend.h"
#include "tessera/rng.h"
#include "cpu_winograd.h"

typedef struct {
    const char *name;
    int C, K, down; /* input channels, output channels, image size divided by 2^down */
} layer;

static const layer vgg19[] = {
    {"conv1_1", 3, 64, 0},    {"conv1_2", 64, 64, 0},   {"conv2_1", 64, 128, 1},  {"conv2_2", 128, 128, 1},
    {"conv3_1", 128, 256, 2}, {"conv3_2", 256, 256, 2}, {"conv3_3", 256, 256, 2}, {"conv3_4", 256, 256, 2},
    {"conv4_1", 256, 512, 3}, {"conv4_2", 512, 512, 3}, {"conv4_3", 512, 512, 3}, {"conv4_4", 512, 512, 3},
    {"conv5_1", 512, 512, 4},
};
#define NLAYERS ((int)(sizeof vgg19 / sizeof vgg19[0]))

enum { IM_F, IM_B, WP_F, WP_B, WN_F, WN_B, NMETH }; /* im2col, Winograd plain, Winograd with plan */
static const char *meth_name[NMETH] = {"im2col fwd", "im2col bwd", "wino fwd", "wino bwd", "plan fwd", "plan bwd"};

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static float *alloc_rand(size_t n, double lo, double hi, uint64_t *seed) {
    float *p = malloc(n * sizeof(float));
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < n; i++) p[i] = (float)(lo + (hi - lo) * ts_rng_uniform(seed));
    return p;
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 2;
    int reps = argc > 2 ? atoi(argv[2]) : 5;
    int W0 = argc > 3 ? atoi(argv[3]) : 512;
    int H0 = argc > 4 ? atoi(argv[4]) : 384;
    if (threads < 1 || reps < 1 || W0 < 16 || H0 < 16) {
        fprintf(stderr, "usage: bench_conv [threads] [reps] [width] [height]\n");
        return 2;
    }
    const ts_backend *cpu = ts_backend_cpu();
    cpu->set_threads(threads);
    printf("VGG19 conv1_1..conv5_1 at %dx%d, %d threads, median of %d runs (ms, GFLOP/s direct-equivalent)\n",
           W0, H0, threads, reps);
    printf("%-8s %4s %4s %9s | %17s %17s | %17s %17s | %17s %17s | %8s\n", "layer", "C", "K", "HxW",
           meth_name[0], meth_name[1], meth_name[2], meth_name[3], meth_name[4], meth_name[5], "U ms");

    double total[NMETH] = {0}, total_gflop = 0, total_plan = 0;
    size_t plan_bytes = 0;
    uint64_t seed = 7;
    double *t = malloc(sizeof(double) * NMETH * reps);
    for (int l = 0; l < NLAYERS; l++) {
        const layer *L = &vgg19[l];
        int H = H0 >> L->down, W = W0 >> L->down, C = L->C, K = L->K;
        size_t nx = (size_t)C * H * W, ny = (size_t)K * H * W, nw = (size_t)K * C * 9;
        float *x = alloc_rand(nx, 0, 2, &seed), *dy = alloc_rand(ny, -1, 1, &seed);
        float *w = alloc_rand(nw, -0.05, 0.05, &seed), *b = alloc_rand(K, -0.1, 0.1, &seed);
        float *y = malloc(ny * sizeof(float)), *dx = malloc(nx * sizeof(float));
        double t0 = omp_get_wtime();
        ts_winograd_plan *plan = ts_winograd_plan_create(w, C, K);
        double t_plan = omp_get_wtime() - t0;
        plan_bytes += ts_winograd_plan_bytes(plan);
        total_plan += t_plan;

        for (int r = -1; r < reps; r++) { /* r = -1: warm-up */
            double s[NMETH];
            t0 = omp_get_wtime();
            cpu->conv3x3_forward(x, C, H, W, w, b, K, NULL, y);
            s[IM_F] = omp_get_wtime();
            cpu->conv3x3_backward_input(dy, K, H, W, w, C, NULL, dx);
            s[IM_B] = omp_get_wtime();
            ts_winograd_conv3x3_forward(x, C, H, W, w, b, K, y);
            s[WP_F] = omp_get_wtime();
            ts_winograd_conv3x3_backward_input(dy, K, H, W, w, C, dx);
            s[WP_B] = omp_get_wtime();
            ts_winograd_plan_forward(plan, x, H, W, b, y);
            s[WN_F] = omp_get_wtime();
            ts_winograd_plan_backward_input(plan, dy, H, W, dx);
            s[WN_B] = omp_get_wtime();
            if (r < 0) continue;
            for (int m = 0; m < NMETH; m++) t[m * reps + r] = s[m] - (m ? s[m - 1] : t0);
        }
        double gflop = 2.0 * K * C * 9 * (double)H * W * 1e-9;
        total_gflop += 2 * gflop;
        printf("%-8s %4d %4d %4dx%-4d |", L->name, C, K, H, W);
        for (int m = 0; m < NMETH; m++) {
            double med = median(t + m * reps, reps);
            total[m] += med;
            printf(" %8.2f %6.1f GF%s", med * 1e3, gflop / med, m % 2 ? " |" : "");
        }
        printf(" %8.2f\n", t_plan * 1e3);
        ts_winograd_plan_free(plan);
        free(x), free(dy), free(w), free(b), free(y), free(dx);
    }
    printf("\nper iteration (%.1f GFLOP direct-equivalent, forward + backward of every layer):\n", total_gflop);
    const char *label[3] = {"im2col + sgemm", "Winograd, weight transform per call", "Winograd with plans"};
    for (int k = 0; k < 3; k++) {
        double s = total[2 * k] + total[2 * k + 1];
        printf("  %-36s %7.3f s  (fwd %.3f, bwd %.3f)  %6.1f GFLOP/s  %.2fx im2col\n", label[k], s,
               total[2 * k], total[2 * k + 1], total_gflop / s, (total[0] + total[1]) / s);
    }
    printf("  plans: %.1f MB of transformed weights, made in %.3f s\n", plan_bytes / 1048576.0, total_plan);
    free(t);
    return 0;
}
