/* icc.c - colour profiles with Little CMS (image_formats.h): an input's embedded profile converted to
 * sRGB, the sRGB profile outputs carry, and sRGB back to an input's profile (--keep-profile). Built
 * without lcms2 (no TS_HAVE_LCMS2) every call reports that profiles cannot be used. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image_formats.h"

#ifdef TS_HAVE_LCMS2
#include <lcms2.h>

int ts_icc_available(void) { return 1; }

/* lcms2 reports through a global handler: quiet, the caller says what failed */
static void quiet(cmsContext id, cmsUInt32Number code, const char *text) {
    (void)id;
    (void)code;
    (void)text;
}

static cmsHPROFILE open_profile(const void *icc, size_t n) {
    static int once;
    if (!once) {
        cmsSetLogErrorHandler(quiet);
        once = 1;
    }
    return n ? cmsOpenProfileFromMem(icc, (cmsUInt32Number)n) : NULL;
}

/* Converts the planar RGB float image between profiles (from -> to, either NULL for sRGB); a grey
 * "from" profile reads the first channel. */
static int convert(ts_image *img, const void *icc, size_t n, int to_srgb, char *why, size_t nw) {
    cmsHPROFILE p = open_profile(icc, n), srgb = cmsCreate_sRGBProfile();
    if (!p) {
        cmsCloseProfile(srgb);
        snprintf(why, nw, "its colour profile cannot be read");
        return -1;
    }
    cmsColorSpaceSignature cs = cmsGetColorSpace(p);
    int grey = cs == cmsSigGrayData;
    if ((cs != cmsSigRgbData && !grey) || (grey && !to_srgb)) {
        cmsCloseProfile(p);
        cmsCloseProfile(srgb);
        snprintf(why, nw, "its colour profile is not an RGB%s one", to_srgb ? " or grey" : "");
        return -1;
    }
    cmsUInt32Number fin = grey ? TYPE_GRAY_FLT : TYPE_RGB_FLT;
    /* in float, unoptimised: the curves are evaluated, not tabulated (an optimised float transform
     * rounds through 16-bit tables, 3e-4 off) */
    cmsUInt32Number flags = cmsFLAGS_NOOPTIMIZE;
    cmsHTRANSFORM t = to_srgb ? cmsCreateTransform(p, fin, srgb, TYPE_RGB_FLT, INTENT_PERCEPTUAL, flags)
                              : cmsCreateTransform(srgb, TYPE_RGB_FLT, p, TYPE_RGB_FLT, INTENT_PERCEPTUAL, flags);
    cmsCloseProfile(p);
    cmsCloseProfile(srgb);
    if (!t) {
        snprintf(why, nw, "no transform between its colour profile and sRGB");
        return -1;
    }
    size_t plane = (size_t)img->w * img->h, w = (size_t)img->w;
    float *in = ts_malloc(sizeof(float) * 3 * w), *out = ts_malloc(sizeof(float) * 3 * w);
    for (int y = 0; y < img->h; y++) {
        float *row = img->data + (size_t)y * w;
        for (size_t x = 0; x < w; x++)
            if (grey) in[x] = row[x];
            else
                for (int c = 0; c < 3; c++) in[3 * x + c] = row[c * plane + x];
        cmsDoTransform(t, in, out, (cmsUInt32Number)w);
        for (size_t x = 0; x < w; x++) /* colours outside the target's gamut are clipped to it */
            for (int c = 0; c < 3; c++) {
                float v = out[3 * x + c];
                row[c * plane + x] = v > 0.0f ? (v < 1.0f ? v : 1.0f) : 0.0f;
            }
    }
    free(in);
    free(out);
    cmsDeleteTransform(t);
    return 0;
}

/* 1 when the profile is the one Tessera writes for sRGB: the same tags (its 128-byte header holds
 * the time it was made). Converting through it would only add rounding. */
static int is_own_srgb(const void *icc, size_t n) {
    static unsigned char *own;
    static size_t own_n;
    if (!own) own = ts_icc_srgb(&own_n);
    return own && n == own_n && n > 128 && memcmp((const unsigned char *)icc + 128, own + 128, n - 128) == 0;
}

int ts_icc_to_srgb(ts_image *img, const void *icc, size_t n, char *why, size_t nw) {
    if (is_own_srgb(icc, n)) return 0;
    return convert(img, icc, n, 1, why, nw);
}

int ts_icc_from_srgb(ts_image *img, const void *icc, size_t n, char *why, size_t nw) {
    return convert(img, icc, n, 0, why, nw);
}

void *ts_icc_cmyk_open(const void *icc, size_t n, int inverted) {
    cmsHPROFILE p = open_profile(icc, n);
    if (!p) return NULL;
    cmsHTRANSFORM t = NULL;
    if (cmsGetColorSpace(p) == cmsSigCmykData) {
        cmsHPROFILE srgb = cmsCreate_sRGBProfile();
        /* _REV: the stored values are 1 - ink, as Adobe's applications write them */
        t = cmsCreateTransform(p, inverted ? TYPE_CMYK_8_REV : TYPE_CMYK_8, srgb, TYPE_RGB_16, INTENT_PERCEPTUAL, 0);
        cmsCloseProfile(srgb);
    }
    cmsCloseProfile(p);
    return t;
}

/* 8-bit inks to 16-bit RGB (lcms2 does not mix integer input with float output), then to float */
void ts_icc_cmyk_row(void *t, const unsigned char *cmyk, float *rgb, size_t npix) {
    uint16_t *v = ts_malloc(sizeof(uint16_t) * 3 * (npix ? npix : 1));
    cmsDoTransform((cmsHTRANSFORM)t, cmyk, v, (cmsUInt32Number)npix);
    for (size_t i = 0; i < 3 * npix; i++) rgb[i] = v[i] / 65535.0f;
    free(v);
}

void ts_icc_close(void *t) {
    if (t) cmsDeleteTransform((cmsHTRANSFORM)t);
}

void *ts_icc_srgb(size_t *n) {
    cmsHPROFILE p = cmsCreate_sRGBProfile();
    cmsUInt32Number len = 0;
    void *b = NULL;
    if (p && cmsSaveProfileToMem(p, NULL, &len) && len) {
        b = ts_malloc(len);
        if (!cmsSaveProfileToMem(p, b, &len)) {
            free(b);
            b = NULL;
        }
    }
    if (p) cmsCloseProfile(p);
    if (b && len >= 36) { /* the header's creation time (bytes 24-35) fixed, so outputs repeat bit for bit */
        static const unsigned char date[12] = {0x07, 0xea, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0}; /* 2026-01-01 */
        memcpy((unsigned char *)b + 24, date, sizeof date);
    }
    *n = b ? len : 0;
    return b;
}

#else

int ts_icc_available(void) { return 0; }

static int none(char *why, size_t nw) {
    snprintf(why, nw, "this build has no Little CMS (lcms2)");
    return -1;
}

int ts_icc_to_srgb(ts_image *img, const void *icc, size_t n, char *why, size_t nw) {
    (void)img, (void)icc, (void)n;
    return none(why, nw);
}

int ts_icc_from_srgb(ts_image *img, const void *icc, size_t n, char *why, size_t nw) {
    (void)img, (void)icc, (void)n;
    return none(why, nw);
}

void *ts_icc_srgb(size_t *n) {
    *n = 0;
    return NULL;
}

void *ts_icc_cmyk_open(const void *icc, size_t n, int inverted) {
    (void)icc, (void)n, (void)inverted;
    return NULL;
}

void ts_icc_cmyk_row(void *t, const unsigned char *cmyk, float *rgb, size_t npix) { (void)t, (void)cmyk, (void)rgb, (void)npix; }

void ts_icc_close(void *t) { (void)t; }

#endif
