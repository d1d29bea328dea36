/* exif.c - the Orientation tag (0x0112) of an EXIF block: a TIFF structure (byte-order mark, the
 * offset of IFD0, its entries), as JPEG's APP1 "Exif" segment and PNG's eXIf chunk hold it. Every
 * offset and count is checked against the block's length. */
#include <stdint.h>

#include "image_formats.h"

static unsigned get16(const unsigned char *p, int big) { return big ? (unsigned)p[0] << 8 | p[1] : (unsigned)p[1] << 8 | p[0]; }

static uint32_t get32(const unsigned char *p, int big) {
    return big ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]
               : (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

int ts_exif_orientation(const unsigned char *t, size_t n) {
    if (n < 8) return 0;
    int big;
    if (t[0] == 'I' && t[1] == 'I') big = 0;
    else if (t[0] == 'M' && t[1] == 'M') big = 1;
    else return 0;
    if (get16(t + 2, big) != 42) return 0;
    uint32_t ifd = get32(t + 4, big);
    if (ifd < 8 || ifd > n - 2) return 0;
    unsigned count = get16(t + ifd, big);
    for (unsigned i = 0; i < count; i++) {
        size_t e = (size_t)ifd + 2 + (size_t)12 * i;
        if (e + 12 > n) return 0;
        if (get16(t + e, big) != 0x0112) continue;
        unsigned type = get16(t + e + 2, big);
        uint32_t cnt = get32(t + e + 4, big);
        if (type != 3 || cnt != 1) return 0; /* SHORT, one value, held in the entry itself */
        unsigned v = get16(t + e + 8, big);
        return v >= 1 && v <= 8 ? (int)v : 0;
    }
    return 0;
}
