/* naive_conv.h - the textbook 3x3 convolution (stride 1, zero padding 1, double accumulation) that
 * the fast paths are checked against. CHW input, weights K x C x 3 x 3, bias K or NULL. */
#ifndef TESSERA_NAIVE_CONV_H
#define TESSERA_NAIVE_CONV_H

#include <stddef.h>

static inline void conv_naive(const float *x, int C, int H, int W, const float *w, const float *b, int K, float *y) {
    for (int k = 0; k < K; k++)
        for (int i = 0; i < H; i++)
            for (int j = 0; j < W; j++) {
                double s = b ? b[k] : 0.0;
                for (int c = 0; c < C; c++)
                    for (int a = 0; a < 3; a++) {
                        int yy = i + a - 1;
                        if (yy < 0 || yy >= H) continue;
                        for (int d = 0; d < 3; d++) {
                            int xx = j + d - 1;
                            if (xx < 0 || xx >= W) continue;
                            s += (double)w[((size_t)(k * C + c) * 3 + a) * 3 + d] * x[((size_t)c * H + yy) * W + xx];
                        }
                    }
                y[((size_t)k * H + i) * W + j] = (float)s;
            }
}

#endif
