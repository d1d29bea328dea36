/* presets.h - default loss weights per kind of network weights (derivation in configs/README.md). */
#ifndef TESSERA_PRESETS_H
#define TESSERA_PRESETS_H

typedef struct {
    const char *name;
    double content_weight, style_weight, tv_weight;
    /* per-layer style weight lambda_l = layer_scale / C_l^2 */
    double layer_scale;
    /* content layer used when the user names none (NULL: the general default relu4_2) */
    const char *content_layer;
} ts_preset;

/* "caffe" (neural-style's defaults), "torchvision" (the PyTorch tutorial's), "random" (the stand-in). */
const ts_preset *ts_preset_get(const char *name);

#endif
