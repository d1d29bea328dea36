/* presets.h - default loss weights per kind of network weights (derivation in configs/README.md). */
#ifndef TESSERA_PRESETS_H
#define TESSERA_PRESETS_H

#define TS_PRESET_TERMS 4

typedef struct {
    const char *name;
    /* the weight of each named loss term; a term the preset does not name weighs 0 */
    struct {
        const char *term;
        double weight;
    } weights[TS_PRESET_TERMS];
    /* per-layer style weight lambda_l = layer_scale / C_l^2 */
    double layer_scale;
    /* content layer used when the user names none (NULL: the general default relu4_2) */
    const char *content_layer;
} ts_preset;

/* "caffe" (neural-style's defaults), "torchvision" (the PyTorch tutorial's), "random" (the stand-in). */
const ts_preset *ts_preset_get(const char *name);
/* The preset's weight of a loss term (by its name), 0 when it names none. */
double ts_preset_weight(const ts_preset *p, const char *term);

#endif
