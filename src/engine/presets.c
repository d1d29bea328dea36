/* presets.c - published default weights translated to Tessera's normalisation (docs/DESIGN.md §1); see
 * configs/README.md. */
#include "tessera/presets.h"

#include <string.h>

static const ts_preset PRESETS[] = {
    /* neural-style: content 5, style 100 (per layer), tv 1e-3, Caffe VGG19 on 0-255 BGR input */
    {"caffe",
     {{"content", 20.0}, {"style", 400.0 / 4096.0}, {"tv", 1.5e-3 * 255.0 * 255.0 * 512.0 * 384.0}},
     4096.0,
     NULL},
    /* PyTorch tutorial: content 1, style 1e6, torchvision VGG19 on normalised RGB input */
    {"torchvision", {{"content", 4.0}, {"style", 4.0e6 / 4096.0}, {"tv", 1.0e3}}, 4096.0, NULL},
    /* the random stand-in: chosen by measurement on the sample pictures (configs/README.md) */
    {"random", {{"content", 1.0}, {"style", 1.0e6}, {"tv", 0.3}}, 4096.0, "relu3_1"},
};

const ts_preset *ts_preset_get(const char *name) {
    for (size_t i = 0; i < sizeof PRESETS / sizeof PRESETS[0]; i++)
        if (strcmp(PRESETS[i].name, name) == 0) return &PRESETS[i];
    return NULL;
}

double ts_preset_weight(const ts_preset *p, const char *term) {
    for (int i = 0; i < TS_PRESET_TERMS && p->weights[i].term; i++)
        if (strcmp(p->weights[i].term, term) == 0) return p->weights[i].weight;
    return 0.0;
}
