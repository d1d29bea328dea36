/* color.h - luminance/chroma (YIQ) for colour preservation. Images are planar RGB, 3 x n floats. */
#ifndef TESSERA_COLOR_H
#define TESSERA_COLOR_H

#include <stddef.h>

/* Replaces the image by its luminance Y in all three channels (a grey image). */
void ts_color_to_luminance(float *rgb, size_t n);
/* rgb := the image with luminance of `luma_src` and chroma (I, Q) of `chroma_src`; may alias rgb. */
void ts_color_combine(const float *luma_src, const float *chroma_src, float *rgb, size_t n);

#endif
