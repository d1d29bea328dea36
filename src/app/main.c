/* main.c - the tessera command: run, grad, defaults, layers, version, help. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tessera/batch.h"
#include "tessera/comm.h"
#include "tessera/dispatch.h"
#include "tessera/image.h"
#include "tessera/options.h"
#include "tessera/seams.h"
#include "tessera/vgg.h"

#define TESSERA_VERSION "0.1.0"

static void usage(FILE *f) {
    fprintf(f,
            "usage: tessera COMMAND [options]      (under MPI: mpirun -np N tessera run ... --mode exact)\n\n"
            "Neural style transfer (Gatys et al.: VGG features, Gram-matrix style loss, L-BFGS on the pixels)\n"
            "as a batch job. Runs as one process, or under mpirun/srun.\n\n"
            "commands:\n"
            "  run        stylise one image:  tessera run --content C --style S --output O [options]\n"
            "  batch      run a job file's tasks (pairs x grid of options) with a contact sheet:\n"
            "             tessera batch JOB.json [--group-size G] [--task I | --list | --summary]\n"
            "  grad       evaluate the loss and its image gradient once (for checking against other code)\n"
            "  defaults   print every option with its default as a JSON config\n"
            "  layers     list the layer names of --arch vgg16|vgg19 (default vgg19)\n"
            "  seams      score how visible tile cuts are in an image: tessera seams IMAGE --tiles RxC\n"
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

static int cmd_seams(int argc, char **argv) {
    const char *path = NULL, *tiles = NULL;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: tessera seams IMAGE --tiles RxC\n\nHow visible the cuts of an RxC tile grid (16-px aligned, as "
                   "the tiled modes cut) are in IMAGE: the\nmean difference across each cut over the mean difference "
                   "2-3 px beside it. Prints\n{\"score\": S, \"tiles\": \"RxC\"}; 1.0 means the cuts are invisible.\n");
            return 0;
        }
        if (!strcmp(argv[i], "--tiles") && i + 1 < argc) tiles = argv[++i];
        else if (!strncmp(argv[i], "--tiles=", 8)) tiles = argv[i] + 8;
        else if (argv[i][0] != '-' && !path) path = argv[i];
        else {
            fprintf(stderr, "tessera: error: seams: unexpected argument \"%s\" (see tessera seams --help)\n", argv[i]);
            return 2;
        }
    }
    if (!path || !tiles) {
        fprintf(stderr, "tessera: error: seams needs IMAGE and --tiles RxC\n");
        return 2;
    }
    ts_err err;
    ts_image img = {0};
    ts_tile_grid g;
    int R, C;
    if (ts_tiles_parse(tiles, &R, &C, &err) || ts_image_read(path, TS_DEFAULT_MAX_PIXELS, &img, &err) ||
        ts_tiles_init(&g, img.h, img.w, R, C, 16, 0, &err)) {
        fprintf(stderr, "tessera: error: %s\n", err.msg);
        ts_image_free(&img);
        return 2;
    }
    printf("{\"score\": %.6f, \"tiles\": \"%dx%d\"}\n", ts_seam_score(img.data, 3, img.h, img.w, &g), R, C);
    ts_image_free(&img);
    return 0;
}

static int cmd_job(ts_command cmd, int argc, char **argv) {
    ts_options o;
    ts_err err = {{0}};
    ts_options_defaults(&o);
    int rank = ts_comm_rank();
    /* every rank parses the same arguments; rank 0 alone reports */
    int rc = ts_options_parse(&o, cmd, argc, argv, rank == 0 ? &err : NULL);
    if (rc == 1) {
        ts_options_free(&o);
        return 0;
    }
    if (rc == 0) rc = ts_dispatch(cmd, &o, &err);
    if (rc != 0 && rank == 0) fprintf(stderr, "tessera: error: %s\n", err.msg);
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
    if (!strcmp(cmd, "seams")) return cmd_seams(argc - 2, argv + 2);
    if (!strcmp(cmd, "batch")) {
        ts_comm_init(&argc, &argv);
        int rc = ts_batch_main(argc - 2, argv + 2);
        ts_comm_finalize();
        return rc;
    }
    ts_command c = !strcmp(cmd, "run") ? TS_CMD_RUN : !strcmp(cmd, "grad") ? TS_CMD_GRAD : 0;
    if (!c) {
        fprintf(stderr, "tessera: error: unknown command \"%s\" (run, grad, defaults, layers, seams, version)\n", cmd);
        return 2;
    }
    ts_comm_init(&argc, &argv);
    /* input errors are found on rank 0 and agreed on collectively, so every rank ends here together */
    int rc = cmd_job(c, argc - 2, argv + 2);
    ts_comm_finalize();
    return rc;
}
