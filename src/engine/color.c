/* color.c - YIQ transforms (NTSC 1953 coefficients) for --original-colors and --luminance-only. */
#include "tessera/color.h"

static const double YIQ[3][3] = {
    {0.299, 0.587, 0.114}, {0.595716, -0.274453, -0.321263}, {0.211456, -0.522591, 0.311135}};

/* inverse of YIQ by the adjugate, computed once */
static void inverse(double inv[3][3]) {
    const double(*m)[3] = YIQ;
    double det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) -
                 m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0]) +
                 m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            int r0 = (j + 1) % 3, r1 = (j + 2) % 3, c0 = (i + 1) % 3, c1 = (i + 2) % 3;
            inv[i][j] = (m[r0][c0] * m[r1][c1] - m[r0][c1] * m[r1][c0]) / det;
        }
}

void ts_color_to_luminance(float *rgb, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float y = (float)(YIQ[0][0] * rgb[i] + YIQ[0][1] * rgb[n + i] + YIQ[0][2] * rgb[2 * n + i]);
        rgb[i] = rgb[n + i] = rgb[2 * n + i] = y;
    }
}

void ts_color_combine(const float *luma_src, const float *chroma_src, float *rgb, size_t n) {
    double inv[3][3];
    inverse(inv);
    for (size_t i = 0; i < n; i++) {
        double y = YIQ[0][0] * luma_src[i] + YIQ[0][1] * luma_src[n + i] + YIQ[0][2] * luma_src[2 * n + i];
        double q1 = YIQ[1][0] * chroma_src[i] + YIQ[1][1] * chroma_src[n + i] + YIQ[1][2] * chroma_src[2 * n + i];
        double q2 = YIQ[2][0] * chroma_src[i] + YIQ[2][1] * chroma_src[n + i] + YIQ[2][2] * chroma_src[2 * n + i];
        for (int c = 0; c < 3; c++) rgb[(size_t)c * n + i] = (float)(inv[c][0] * y + inv[c][1] * q1 + inv[c][2] * q2);
    }
}
