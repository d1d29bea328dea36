/* test_job.c - the job model's resolution of options (job.c): every value the option table accepts
 * for an enumerated option resolves to its own enum value in a prepared job; every loss term has its
 * weight option --<name>-weight, which sets that term's weight (the preset's when unset); the JSON
 * keys of grad and the log are the documented "content", "style", "tv". Inputs: the fixture images. */
#include <math.h>
#include <string.h>

#include "tessera/job.h"
#include "tessera/presets.h"
#include "test.h"

#define FX "tests/fixtures/ref/vgg19_max/"

/* Prepares a job of cmd with extra flags (NULL-terminated); 0 on success, the job in *job */
static int prepare_cmd(ts_command cmd, ts_job *job, ts_options *o, const char *const *extra) {
    memset(job, 0, sizeof *job);
    const char *argv[32] = {"--content", FX "content.png", "--style", FX "style.png", "--weights", "random:1",
                            "--size", "32", "--quiet", "--init", "content"};
    int argc = 11;
    argv[argc++] = cmd == TS_CMD_RUN ? "--output" : "--grad-out";
    argv[argc++] = cmd == TS_CMD_RUN ? "/tmp/tessera-test-job.png" : "/tmp/tessera-test-job.npy";
    for (int i = 0; extra && extra[i]; i++) argv[argc++] = extra[i];
    ts_err err = {{0}};
    ts_options_defaults(o);
    if (ts_options_parse(o, cmd, argc, (char **)argv, &err)) {
        printf("# parse: %s\n", err.msg);
        return -1;
    }
    int rc = ts_job_prepare(job, o, cmd, &err);
    if (rc) printf("# prepare: %s\n", err.msg);
    return rc;
}

static int prepare(ts_job *job, ts_options *o, const char *const *extra) {
    return prepare_cmd(TS_CMD_GRAD, job, o, extra);
}

static void done(ts_job *job, ts_options *o) {
    ts_job_free(job);
    ts_options_free(o);
}

typedef struct {
    const char *flag, *value;
    int want;
} enum_case;

int main(void) {
    ts_job job;
    ts_options o;
    /* enumerated options: each accepted value to its enum */
    const enum_case cases[] = {
        {"--mode", "single", TS_MODE_SINGLE},       {"--mode", "independent", TS_MODE_INDEPENDENT},
        {"--mode", "exact", TS_MODE_EXACT},         {"--mode", "auto", TS_MODE_SINGLE /* one process */},
        {"--halo-exchange", "auto", TS_HALO_XCHG_AUTO}, {"--halo-exchange", "image", TS_HALO_XCHG_IMAGE},
        {"--halo-exchange", "layer", TS_HALO_XCHG_LAYER}, {"--pool", "max", TS_POOL_MAX},
        {"--pool", "avg", TS_POOL_AVG},             {"--preprocess", "caffe", TS_PREPROC_CAFFE},
        {"--preprocess", "torchvision", TS_PREPROC_TORCHVISION}, {"--init", "random", TS_INIT_RANDOM},
        {"--init", FX "init.npy", TS_INIT_IMAGE},   {"--init", "content", TS_INIT_CONTENT},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const enum_case *c = &cases[i];
        const char *extra[] = {c->flag, c->value, NULL};
        int ok = prepare(&job, &o, extra) == 0, got = -1;
        if (ok && !strcmp(c->flag, "--mode")) got = (int)job.mode;
        if (ok && !strcmp(c->flag, "--halo-exchange")) got = (int)job.halo_xchg;
        if (ok && !strcmp(c->flag, "--pool")) got = (int)job.pool;
        if (ok && !strcmp(c->flag, "--preprocess")) got = (int)job.preproc;
        if (ok && !strcmp(c->flag, "--init")) got = (int)job.init_kind;
        TS_EXPECT(ok && got == c->want, "%s %s resolves to %d (got %d)", c->flag, c->value, c->want, got);
        done(&job, &o);
    }
    /* the run command's: --blend and --optimizer */
    const char *none[] = {"--blend", "none", "--optimizer", "adam", NULL};
    int ok = prepare_cmd(TS_CMD_RUN, &job, &o, none) == 0;
    TS_EXPECT(ok && job.blend == TS_BLEND_NONE && job.optimizer == ts_optimizer_find("adam"),
              "--blend none --optimizer adam resolve to TS_BLEND_NONE and the Adam row");
    done(&job, &o);
    const char *cosine[] = {"--blend", "cosine", NULL};
    ok = prepare_cmd(TS_CMD_RUN, &job, &o, cosine) == 0;
    TS_EXPECT(ok && job.blend == TS_BLEND_COSINE && job.optimizer == ts_optimizer_find("lbfgs"),
              "--blend cosine (and the default optimiser) resolve to TS_BLEND_COSINE and the L-BFGS row");
    done(&job, &o);

    /* every loss term: its weight option sets its weight; unset, the preset's */
    TS_EXPECT(prepare(&job, &o, NULL) == 0, "a plain job prepares");
    const ts_preset *pr = ts_preset_get(job.preset);
    for (int t = 0; t < ts_loss_nterms(); t++)
        TS_EXPECT(job.spec.weight[t] == ts_preset_weight(pr, ts_loss_term_name(t)),
                  "term %s weighs the preset's %g unset (got %g)", ts_loss_term_name(t),
                  ts_preset_weight(pr, ts_loss_term_name(t)), job.spec.weight[t]);
    done(&job, &o);
    for (int t = 0; t < ts_loss_nterms(); t++) {
        char flag[64], value[32];
        snprintf(flag, sizeof flag, "--%s-weight", ts_loss_term_name(t));
        snprintf(value, sizeof value, "%g", 7.5 + t);
        const char *extra[] = {flag, value, NULL};
        int ok = prepare(&job, &o, extra) == 0;
        int others = 1;
        for (int u = 0; ok && u < ts_loss_nterms(); u++)
            if (u != t) others &= job.spec.weight[u] == ts_preset_weight(ts_preset_get(job.preset), ts_loss_term_name(u));
        TS_EXPECT(ok && job.spec.weight[t] == 7.5 + t && others, "%s %s sets term %d's weight and no other (got %g)",
                  flag, value, t, ok ? job.spec.weight[t] : NAN);
        done(&job, &o);
    }
    /* the terms' names are the keys grad and the log have always printed */
    int seen = 0;
    for (int t = 0; t < ts_loss_nterms(); t++) {
        const char *n = ts_loss_term_name(t);
        seen |= !strcmp(n, "content") ? 1 : !strcmp(n, "style") ? 2 : !strcmp(n, "tv") ? 4 : 8;
        TS_EXPECT(ts_loss_term_find(n) == t, "ts_loss_term_find(\"%s\") is %d", n, t);
    }
    TS_EXPECT(seen == 7 && ts_loss_nterms() == 3 && ts_loss_term_find("nonesuch") == -1,
              "the terms are content, style and tv (mask %d, %d terms)", seen, ts_loss_nterms());
    return ts_test_summary();
}
