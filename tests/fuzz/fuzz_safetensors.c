/* fuzz_safetensors.c - libFuzzer target: the safetensors parser, then the VGG weight checks on what it
 * accepted (keys, shapes, channel chaining) for both architectures. Every input must end in a clean
 * accept or a one-line error; the sanitizers catch anything else. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tessera/safetensors.h"
#include "tessera/vgg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ts_safetensors st;
    ts_err err = {{0}};
    if (ts_safetensors_parse(data, size, "fuzz.safetensors", &st, &err) != 0) {
        /* a failure leaves the result empty and says something */
        if (st.ntensors != 0 || st.tensors != NULL || err.msg[0] == '\0') __builtin_trap();
        return 0;
    }
    for (int i = 0; i < st.ntensors; i++)
        if (ts_safetensors_find(&st, st.tensors[i].name) == NULL) __builtin_trap();
    (void)ts_safetensors_meta(&st, "preprocessing");
    ts_vgg_weights w;
    for (int a = 0; a < 2; a++) {
        ts_arch arch = a ? TS_VGG19 : TS_VGG16;
        if (ts_vgg_weights_from_safetensors(&st, "fuzz.safetensors", arch, a ? 16 : 13, &w, &err) == 0)
            ts_vgg_weights_free(&w);
        if (ts_vgg_weights_from_safetensors(&st, "fuzz.safetensors", arch, 1, &w, &err) == 0)
            ts_vgg_weights_free(&w);
    }
    ts_safetensors_free(&st);
    return 0;
}
