/* main.c - the tessera command: run, grad, defaults, layers, version, help. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tessera/comm.h"
#include "tessera/options.h"
#include "tessera/run.h"
#include "tessera/vgg.h"

#define TESSERA_VERSION "0.1.0"

static void usage(FILE *f) {
    fprintf(f,
            "usage: tessera COMMAND [options]\n\n"
            "Neural style transfer (Gatys et al.: VGG features, Gram-matrix style loss, L-BFGS on the pixels)\n"
            "as a batch job. Runs as one process, or under mpirun/srun.\n\n"
            "commands:\n"
            "  run        stylise one image:  tessera run --content C --style S --output O [options]\n"
            "  grad       evaluate the loss and its image gradient once (for checking against other code)\n"
            "  defaults   print every option with its default as a JSON config\n"
            "  layers     list the layer names of --arch vgg16|vgg19 (default vgg19)\n"
            "  version    print the version\n\n"
            "'tessera COMMAND --help' lists a command's options. Exit status: 0 success, 2 bad input,\n"
            "1 system failure.\n");
}

static int cmd_layers(int argc, char **argv) {
    ts_arch arch = TS_VGG19;
    for (int i = 0; i < argc; i++) {
        const char *v = NULL;
        if (!strcmp(argv[i], "--arch") && i + 1 < argc) v = argv[++i];
        else if (!strncmp(argv[i], "--arch=", 7)) v = argv[i] + 7;
        else {
            fprintf(stderr, "tessera: error: layers takes only --arch vgg16|vgg19\n");
            return 2;
        }
        if (ts_arch_parse(v, &arch)) {
            fprintf(stderr, "tessera: error: --arch must be vgg16 or vgg19\n");
            return 2;
        }
    }
    const ts_layer_desc *t;
    int n = ts_vgg_table(arch, &t);
    for (int i = 0; i < n; i++) printf("%s\n", t[i].name);
    return 0;
}

static int cmd_job(ts_command cmd, int argc, char **argv) {
    ts_options o;
    ts_err err = {{0}};
    ts_job job;
    ts_options_defaults(&o);
    int rc = ts_options_parse(&o, cmd, argc, argv, &err);
    if (rc == 1) {
        ts_options_free(&o);
        return 0;
    }
    if (rc == 0) rc = ts_job_prepare(&job, &o, cmd == TS_CMD_RUN, &err);
    else memset(&job, 0, sizeof job);
    if (rc == 0) rc = cmd == TS_CMD_RUN ? ts_job_run(&job, &err) : ts_job_grad(&job, &err);
    if (rc != 0) fprintf(stderr, "tessera: error: %s\n", err.msg);
    ts_job_free(&job);
    ts_options_free(&o);
    return rc ? 2 : 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        printf("tessera %s\n", TESSERA_VERSION);
        return 0;
    }
    int want_help = argc > 2 && (!strcmp(argv[2], "--help") || !strcmp(argv[2], "-h"));
    if (want_help && !strcmp(cmd, "defaults")) {
        printf("usage: tessera defaults\n\nPrints every run/grad option with its default as a JSON config (the content of\n"
               "configs/default.json). null means: set by the weights' preset (see configs/README.md).\n");
        return 0;
    }
    if (want_help && !strcmp(cmd, "layers")) {
        printf("usage: tessera layers [--arch vgg16|vgg19]\n\nLists the layer names usable in --style-layers and "
               "--content-layers, in network order.\n");
        return 0;
    }
    if (want_help && (!strcmp(cmd, "version") || !strcmp(cmd, "help"))) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "defaults")) {
        if (argc > 2) {
            fprintf(stderr, "tessera: error: defaults takes no options\n");
            return 2;
        }
        char *s = ts_options_defaults_json();
        fputs(s, stdout);
        free(s);
        return 0;
    }
    if (!strcmp(cmd, "layers")) return cmd_layers(argc - 2, argv + 2);
    ts_command c = !strcmp(cmd, "run") ? TS_CMD_RUN : !strcmp(cmd, "grad") ? TS_CMD_GRAD : 0;
    if (!c) {
        fprintf(stderr, "tessera: error: unknown command \"%s\" (run, grad, defaults, layers, version)\n", cmd);
        return 2;
    }
    ts_comm_init(&argc, &argv);
    int rc = 0;
    if (ts_comm_rank() == 0) {
        if (ts_comm_size() > 1)
            fprintf(stderr, "tessera: %d ranks started; this version runs one image on rank 0 only\n", ts_comm_size());
        rc = cmd_job(c, argc - 2, argv + 2);
    }
    /* the other ranks hold no work in this version, so an input error needs no abort: all finalize */
    ts_comm_finalize();
    return rc;
}
