/* image_resize.c - separable resampling with a triangle filter.
 * Output pixel i samples the input at centre (i+0.5)*scale-0.5 (pixel centres aligned). When shrinking
 * by s the triangle is widened to support s (anti-aliasing, like PIL's BILINEAR resize); when enlarging
 * it is plain bilinear (support 1). Taps past an edge use the edge pixel; weights are normalised per
 * output pixel. Accumulation in double. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tessera/image.h"

#ifdef _OPENMP
#define TS_OMP_FOR _Pragma("omp parallel for schedule(static)")
#else
#define TS_OMP_FOR
#endif

/* Taps for one axis: output i reads in[first[i] .. first[i]+count[i]-1] with weights w[i*maxtaps ..]. */
typedef struct {
    int *first, *count;
    double *w;
    int maxtaps;
} taps;

static void make_taps(int in, int out, taps *t) {
    double scale = (double)in / out;
    double fs = scale > 1.0 ? scale : 1.0; /* filter scale */
    double support = fs;                   /* triangle of half-width 1, widened by fs */
    t->maxtaps = (int)ceil(2.0 * support) + 3;
    if (t->maxtaps > in) t->maxtaps = in;
    t->first = ts_malloc(sizeof(int) * out);
    t->count = ts_malloc(sizeof(int) * out);
    t->w = ts_calloc((size_t)out * t->maxtaps, sizeof(double));
    for (int i = 0; i < out; i++) {
        double c = (i + 0.5) * scale - 0.5;
        int j0 = (int)floor(c - support), j1 = (int)ceil(c + support);
        int lo = j0 < 0 ? 0 : j0, hi = j1 > in - 1 ? in - 1 : j1;
        if (lo > in - 1) lo = in - 1;
        if (hi < 0) hi = 0;
        double *w = t->w + (size_t)i * t->maxtaps;
        double sum = 0.0;
        for (int j = j0; j <= j1; j++) {
            double d = fabs(j - c) / fs;
            if (d >= 1.0) continue;
            int k = j < 0 ? 0 : j > in - 1 ? in - 1 : j; /* clamp to the edge */
            w[k - lo] += 1.0 - d;
            sum += 1.0 - d;
        }
        int n = hi - lo + 1;
        if (sum > 0.0) {
            for (int k = 0; k < n; k++) w[k] /= sum;
        } else { /* cannot happen (the nearest tap is within 0.5); nearest pixel as a fallback */
            int k = (int)floor(c + 0.5);
            w[(k < lo ? lo : k > hi ? hi : k) - lo] = 1.0;
        }
        t->first[i] = lo;
        t->count[i] = n;
    }
}

static void free_taps(taps *t) {
    free(t->first);
    free(t->count);
    free(t->w);
}

void ts_image_resize(const ts_image *in, int nw, int nh, ts_image *out) {
    TS_CHECK(in && in->data && in->w > 0 && in->h > 0, "ts_image_resize: empty input");
    TS_CHECK(nw > 0 && nh > 0, "ts_image_resize: bad size %dx%d", nw, nh);
    int w = in->w, h = in->h;
    ts_image_alloc(out, nw, nh);
    if (nw == w && nh == h) {
        memcpy(out->data, in->data, sizeof(float) * 3 * (size_t)w * h);
        return;
    }
    taps tx, ty;
    make_taps(w, nw, &tx);
    make_taps(h, nh, &ty);

    /* Horizontal pass: in (w x h) -> tmp (nw x h), per channel row. */
    float *tmp = ts_malloc(sizeof(float) * 3 * (size_t)nw * h);
    TS_OMP_FOR
    for (int r = 0; r < 3 * h; r++) {
        const float *src = in->data + (size_t)r * w;
        float *dst = tmp + (size_t)r * nw;
        for (int i = 0; i < nw; i++) {
            const double *wt = tx.w + (size_t)i * tx.maxtaps;
            const float *s = src + tx.first[i];
            double acc = 0.0;
            for (int k = 0; k < tx.count[i]; k++) acc += wt[k] * s[k];
            dst[i] = (float)acc;
        }
    }
    /* Vertical pass: tmp (nw x h) -> out (nw x nh), one output row at a time. */
    TS_OMP_FOR
    for (int r = 0; r < 3 * nh; r++) {
        int c = r / nh, i = r % nh;
        const float *src = tmp + (size_t)c * nw * h;
        float *dst = out->data + (size_t)c * nw * nh + (size_t)i * nw;
        double *acc = ts_calloc((size_t)nw, sizeof(double));
        const double *wt = ty.w + (size_t)i * ty.maxtaps;
        for (int k = 0; k < ty.count[i]; k++) {
            const float *s = src + (size_t)(ty.first[i] + k) * nw;
            for (int x = 0; x < nw; x++) acc[x] += wt[k] * s[x];
        }
        for (int x = 0; x < nw; x++) dst[x] = (float)acc[x];
        free(acc);
    }
    free(tmp);
    free_taps(&tx);
    free_taps(&ty);
}
