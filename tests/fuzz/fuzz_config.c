/* fuzz_config.c - libFuzzer target: the JSON config reader (ts_options_apply_json) on top of the
 * defaults, then the resolved options printed back as JSON. Unknown keys are warned about on stderr;
 * tests/fuzz/run.sh closes the target's stderr so that the warnings do not flood the log. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "tessera/options.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ts_options o;
    ts_err err = {{0}};
    ts_options_defaults(&o);
    if (ts_options_apply_json(&o, (const char *)data, size, "fuzz.json", &err) != 0 && err.msg[0] == '\0')
        __builtin_trap(); /* a failure must say why */
    char *json = ts_options_to_json(&o);
    free(json);
    ts_options_free(&o);
    return 0;
}
