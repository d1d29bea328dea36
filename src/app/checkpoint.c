/* checkpoint.c - per-rank checkpoint files in generations, LATEST moved atomically (see checkpoint.h). */
#include "tessera/checkpoint.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tessera/comm.h"
#include "tessera/files.h"
#include "tessera/hash.h"
#include "tessera/stop.h"

static const char MAGIC[8] = {'T', 'S', 'C', 'K', 'P', 'T', '0', '1'};
static const char TRAILER[8] = {'T', 'S', 'C', 'K', 'E', 'N', 'D', '1'};
#define CHUNK ((size_t)1 << 20) /* floats moved through the host buffer at a time */

/* ---------- fingerprint ---------- */

/* options that do not change the result, or may change between a stop and the resume */
static const char *VOLATILE[] = {"iterations", "output", "log", "save_every", "checkpoint_every", "checkpoint_dir",
                                 "resume", "quiet", "print_every", "threads", "output_bits", "config", "max_pixels"};

uint64_t ts_ckpt_fingerprint(const ts_options *o, int mode, int nranks) {
    char *js = ts_options_to_json(o);
    cJSON *j = cJSON_Parse(js);
    free(js);
    TS_CHECK(j, "cannot re-read the options as JSON");
    for (size_t i = 0; i < sizeof VOLATILE / sizeof VOLATILE[0]; i++) cJSON_DeleteItemFromObject(j, VOLATILE[i]);
    char *flat = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    uint64_t h = ts_fnv1a(TS_FNV1A_START, flat, strlen(flat));
    free(flat);
    int32_t extra[2] = {mode, nranks};
    return ts_fnv1a(h, extra, sizeof extra);
}

char *ts_ckpt_dir(const ts_options *o) {
    if (o->checkpoint_dir && *o->checkpoint_dir) return ts_strdup(o->checkpoint_dir);
    if ((o->checkpoint_every > 0 || o->resume) && o->output) {
        size_t n = strlen(o->output) + 8;
        char *d = ts_malloc(n);
        snprintf(d, n, "%s.ckpt", o->output);
        return d;
    }
    return NULL;
}

/* ---------- small file helpers ---------- */

static char *path2(const char *a, const char *b) {
    size_t n = strlen(a) + strlen(b) + 2;
    char *p = ts_malloc(n);
    snprintf(p, n, "%s/%s", a, b);
    return p;
}

static char *path3(const char *a, const char *b, const char *c) {
    char *ab = path2(a, b), *p = path2(ab, c);
    free(ab);
    return p;
}

static void sync_dir(const char *dir) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

/* Removes every generation in dir except keep. */
static void prune(const char *dir, const char *keep) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, "ckpt-", 5) != 0 || !strcmp(e->d_name, keep)) continue;
        char *gen = path2(dir, e->d_name);
        DIR *g = opendir(gen);
        if (g) {
            struct dirent *f;
            while ((f = readdir(g))) {
                if (f->d_name[0] == '.') continue;
                char *p = path2(gen, f->d_name);
                unlink(p);
                free(p);
            }
            closedir(g);
        }
        rmdir(gen);
        free(gen);
    }
    closedir(d);
}

void ts_ckpt_remove(const char *dir) {
    prune(dir, "");
    const char *names[] = {"LATEST", "STOP"};
    for (int i = 0; i < 2; i++) {
        char *p = path2(dir, names[i]);
        unlink(p);
        free(p);
    }
    rmdir(dir);
}

/* ---------- the file: one stream type for both directions ---------- */

/* A checkpoint file being written or read. It is the optimisers' ts_state_io, so their state
 * functions write and read through it; once a transfer fails (a short read or write), the rest do
 * nothing and leave their fields as they were. */
typedef struct {
    ts_state_io io;
    FILE *f;
    const ts_backend *be;
    float *buf; /* CHUNK floats between the file and backend memory */
    int ok;
    char mismatch[256]; /* set when a loaded value does not fit this run */
} stream;

static void xfer(stream *s, void *p, size_t n) {
    if (!s->ok || !n) return;
    if ((s->io.loading ? fread(p, 1, n, s->f) : fwrite(p, 1, n, s->f)) != n) s->ok = 0;
}
static void x_i32(ts_state_io *io, int *v) {
    stream *s = (stream *)io;
    int32_t x = *v;
    xfer(s, &x, sizeof x);
    if (s->ok) *v = x;
}
static void x_u64(ts_state_io *io, uint64_t *v) {
    stream *s = (stream *)io;
    uint64_t x = *v;
    xfer(s, &x, sizeof x);
    if (s->ok) *v = x;
}
static void x_f64(ts_state_io *io, double *v) {
    stream *s = (stream *)io;
    double x = *v;
    xfer(s, &x, sizeof x);
    if (s->ok) *v = x;
}
/* a float vector of backend memory, preceded by its length (which must be n when loading) */
static void x_floats(ts_state_io *io, float *x, size_t n) {
    stream *s = (stream *)io;
    uint64_t len = n;
    x_u64(io, &len);
    if (len != n) s->ok = 0;
    for (size_t i = 0; i < n && s->ok; i += CHUNK) {
        size_t k = n - i < CHUNK ? n - i : CHUNK;
        if (!io->loading) s->be->download(s->buf, x + i, k);
        xfer(s, s->buf, sizeof(float) * k);
        if (io->loading && s->ok) s->be->upload(x + i, s->buf, k);
    }
}
static void x_mismatch(ts_state_io *io, const char *fmt, ...) {
    stream *s = (stream *)io;
    va_list ap;
    va_start(ap, fmt);
    if (s->ok) vsnprintf(s->mismatch, sizeof s->mismatch, fmt, ap);
    va_end(ap);
    s->ok = 0;
}

static int stream_open(stream *s, const char *path, int loading, const ts_backend *be) {
    memset(s, 0, sizeof *s);
    s->io = (ts_state_io){loading, x_i32, x_u64, x_f64, x_floats, x_mismatch};
    s->f = fopen(path, loading ? "rb" : "wb");
    s->be = be;
    s->ok = s->f != NULL;
    if (be) s->buf = ts_malloc(sizeof(float) * CHUNK);
    return s->ok ? 0 : -1;
}

/* 0, or -1 when a write failed (data are synced to disk before the file is closed) */
static int stream_close(stream *s) {
    int ok = s->ok;
    if (s->f && !s->io.loading && (fflush(s->f) != 0 || fsync(fileno(s->f)) != 0)) ok = 0;
    if (s->f && fclose(s->f) != 0 && !s->io.loading) ok = 0;
    free(s->buf);
    s->f = NULL;
    s->buf = NULL;
    return ok ? 0 : -1;
}

/* the header: magic, who wrote it, and where the run was */
static void header_io(stream *s, uint64_t *fingerprint, int *rank, int *nranks, ts_ckpt_pos *pos) {
    char magic[8];
    memcpy(magic, MAGIC, sizeof magic);
    xfer(s, magic, sizeof magic);
    if (!s->ok || memcmp(magic, MAGIC, sizeof MAGIC)) { /* on loading; a failed write is reported by its caller */
        s->ok = 0;
        snprintf(s->mismatch, sizeof s->mismatch, "not a Tessera checkpoint (or one of another version)");
        return;
    }
    ts_state_io *io = &s->io;
    io->u64(io, fingerprint);
    int *const ints[] = {rank, nranks, &pos->scale, &pos->iter, &pos->global_iter, &pos->tile, &pos->active};
    ts_state_io_ints(io, ints, 7);
    io->f64(io, &pos->elapsed);
}

static const char *optimizer_label(int id) {
    const ts_optimizer *k = ts_optimizer_by_id(id);
    return id == 0 ? "no optimiser" : k ? k->label : "an unknown optimiser's";
}

/* after the header: the optimiser's id (0: none) and state, the image blocks, the trailer */
static void body_io(stream *s, ts_ckpt_data *d) {
    ts_state_io *io = &s->io;
    int want = d->opt ? d->opt->kind->id : 0, kind = want;
    io->i32(io, &kind);
    if (s->ok && kind != want) {
        io->mismatch(io, "checkpoint holds %s state, the run uses %s", optimizer_label(kind),
                     want ? d->opt->kind->label : "none");
        return;
    }
    if (d->opt) d->opt->kind->state_io(d->opt->state, io);
    int nb = d->nblocks;
    io->i32(io, &nb);
    if (nb != d->nblocks) s->ok = 0;
    for (int b = 0; b < d->nblocks; b++) io->floats(io, d->blocks[b], d->sizes[b]);
    char tr[8];
    memcpy(tr, TRAILER, sizeof tr);
    xfer(s, tr, sizeof tr);
    if (memcmp(tr, TRAILER, sizeof TRAILER)) s->ok = 0;
}

/* ---------- writing ---------- */

static int agree(const ts_ckpt_cfg *cfg, int failed) { return cfg->collective ? ts_comm_max_int(failed) : failed; }

static char *read_latest(const char *dir) {
    char *p = path2(dir, "LATEST");
    FILE *f = fopen(p, "r");
    free(p);
    if (!f) return NULL;
    char line[64] = {0};
    char *r = fgets(line, sizeof line, f) ? ts_strdup(line) : NULL;
    fclose(f);
    if (r) r[strcspn(r, "\r\n")] = 0;
    if (r && (strncmp(r, "ckpt-", 5) != 0 || strchr(r, '/'))) {
        free(r);
        r = NULL;
    }
    return r;
}

int ts_ckpt_save(const ts_ckpt_cfg *cfg, const ts_backend *be, const ts_ckpt_data *d, ts_err *err) {
    char gen[32];
    snprintf(gen, sizeof gen, "ckpt-%08d", d->pos.global_iter);
    int failed = 0, same = 0;
    char *gdir = path2(cfg->dir, gen);
    if (cfg->rank == 0) {
        char *latest = read_latest(cfg->dir);
        same = latest && !strcmp(latest, gen); /* already saved at this iteration */
        free(latest);
        if (!same) {
            failed = ts_mkdirs(gdir, err) != 0;
            char *c = path2(gdir, "COMPLETE");
            unlink(c); /* a leftover of an interrupted save */
            free(c);
        }
    }
    if (cfg->collective) ts_comm_bcast(&same, sizeof same, 0);
    if (same) {
        free(gdir);
        return 0;
    }
    if (agree(cfg, failed)) {
        free(gdir);
        return cfg->rank == 0 ? -1 : ts_fail(err, "rank 0 could not create the checkpoint directory");
    }
    char name[32];
    snprintf(name, sizeof name, "rank-%d.bin", cfg->rank);
    char *path = path2(gdir, name);
    size_t n = strlen(path) + 8;
    char *tmp = ts_malloc(n);
    snprintf(tmp, n, "%s.tmp", path);
    stream s;
    int ok = stream_open(&s, tmp, 0, be) == 0;
    if (ok) {
        uint64_t fp = cfg->fingerprint;
        int rank = cfg->rank, nranks = cfg->nranks;
        ts_ckpt_pos pos = d->pos;
        ts_ckpt_data body = *d; /* the state functions take non-const pointers; saving only reads them */
        header_io(&s, &fp, &rank, &nranks, &pos);
        body_io(&s, &body);
    }
    ok = stream_close(&s) == 0 && ok;
    if (ok && rename(tmp, path) != 0) ok = 0;
    if (!ok) {
        ts_fail(err, "%s: cannot write the checkpoint: %s", path, strerror(errno));
        unlink(tmp);
    }
    free(tmp);
    free(path);
    if (agree(cfg, !ok)) {
        free(gdir);
        return ok ? ts_fail(err, "another rank could not write its checkpoint") : -1;
    }
    failed = 0;
    if (cfg->rank == 0) {
        sync_dir(gdir);
        char *c = path2(gdir, "COMPLETE"), *l = path2(cfg->dir, "LATEST"), text[64];
        snprintf(text, sizeof text, "%d ranks, %d iterations\n", cfg->nranks, d->pos.global_iter);
        failed = ts_file_write_atomic(c, text, strlen(text), err) != 0;
        snprintf(text, sizeof text, "%s\n", gen);
        if (!failed) failed = ts_file_write_atomic(l, text, strlen(text), err) != 0;
        if (!failed) {
            sync_dir(cfg->dir);
            prune(cfg->dir, gen);
        }
        free(c);
        free(l);
    }
    free(gdir);
    if (agree(cfg, failed)) return cfg->rank == 0 ? -1 : ts_fail(err, "rank 0 could not complete the checkpoint");
    return 0;
}

/* ---------- reading ---------- */

/* Opens this rank's file of cfg->gen and reads and checks the header; 0 or -1 with err. */
static int open_header(const ts_ckpt_cfg *cfg, stream *s, const ts_backend *be, ts_ckpt_pos *pos, char **path_out,
                       ts_err *err) {
    char name[32];
    snprintf(name, sizeof name, "rank-%d.bin", cfg->rank);
    char *path = path3(cfg->dir, cfg->gen, name);
    *path_out = path;
    if (stream_open(s, path, 1, be)) return ts_fail(err, "%s: cannot read the checkpoint: %s", path, strerror(errno));
    uint64_t fp = 0;
    int rank = -1, nranks = -1;
    memset(pos, 0, sizeof *pos);
    header_io(s, &fp, &rank, &nranks, pos);
    if (s->mismatch[0]) return ts_fail(err, "%s: %s", path, s->mismatch);
    if (!s->ok) return ts_fail(err, "%s: checkpoint is truncated", path);
    if (nranks != cfg->nranks || rank != cfg->rank)
        return ts_fail(err, "%s: checkpoint was written by a run on %d ranks; this one has %d", path, nranks,
                       cfg->nranks);
    if (fp != cfg->fingerprint)
        return ts_fail(err, "%s: checkpoint was written with other options or inputs (start afresh without "
                            "--resume, or use another --checkpoint-dir)",
                       path);
    if (pos->scale < 0 || pos->iter < 0 || pos->global_iter < 0)
        return ts_fail(err, "%s: checkpoint header is corrupt", path);
    return 0;
}

int ts_ckpt_peek(ts_ckpt_cfg *cfg, ts_ckpt_pos *pos, ts_err *err) {
    char gen[32] = {0};
    if (cfg->rank == 0) {
        char *latest = read_latest(cfg->dir);
        if (latest) {
            char *c = path3(cfg->dir, latest, "COMPLETE");
            if (access(c, F_OK) == 0) snprintf(gen, sizeof gen, "%s", latest);
            free(c);
        }
        free(latest);
    }
    if (cfg->collective) ts_comm_bcast(gen, sizeof gen, 0);
    snprintf(cfg->gen, sizeof cfg->gen, "%s", gen);
    if (!gen[0]) return 0;
    stream s;
    char *path = NULL;
    int rc = open_header(cfg, &s, NULL, pos, &path, err);
    stream_close(&s);
    free(path);
    if (agree(cfg, rc != 0)) return rc ? -1 : ts_fail(err, "another rank could not read its checkpoint");
    return 1;
}

int ts_ckpt_load(const ts_ckpt_cfg *cfg, const ts_backend *be, ts_ckpt_data *d, ts_err *err) {
    stream s;
    char *path = NULL;
    ts_ckpt_pos pos;
    int rc = open_header(cfg, &s, be, &pos, &path, err);
    if (rc == 0) {
        body_io(&s, d);
        if (s.mismatch[0]) rc = ts_fail(err, "%s: %s", path, s.mismatch);
        else if (!s.ok) rc = ts_fail(err, "%s: checkpoint is truncated or does not fit this run", path);
        d->pos = pos;
    }
    stream_close(&s);
    free(path);
    if (agree(cfg, rc != 0)) return rc ? -1 : ts_fail(err, "another rank could not read its checkpoint");
    return 0;
}

/* ---------- the run loops' controller ---------- */

void ts_ckpt_ctl_init(ts_ckpt_ctl *c, const ts_options *o, uint64_t fingerprint, int collective, int rank,
                      int nranks) {
    memset(c, 0, sizeof *c);
    c->dir = ts_ckpt_dir(o);
    c->every = o->checkpoint_every;
    c->resume = o->resume;
    c->cfg = (ts_ckpt_cfg){.dir = c->dir, .fingerprint = fingerprint, .collective = collective, .rank = rank,
                           .nranks = nranks};
    if (c->dir) {
        c->stop_file = path2(c->dir, "STOP");
        ts_stop_install();
        ts_stop_watch_file(c->stop_file);
    }
}

void ts_ckpt_ctl_free(ts_ckpt_ctl *c) {
    if (c->stop_file) ts_stop_unwatch_file(c->stop_file);
    free(c->stop_file);
    free(c->dir);
    c->dir = c->stop_file = NULL;
}

int ts_ckpt_tick(ts_ckpt_ctl *c, const ts_backend *be, const ts_ckpt_data *d, int count, int failed) {
    int v = failed ? 2 : ts_stop_poll();
    if (c->cfg.collective) v = ts_comm_max_int(v);
    if (v == 2) return 2; /* a rank's loss went bad: keep the last good checkpoint */
    int stop = v;
    int due = c->every > 0 && count % c->every == 0;
    if (c->dir && (stop || due)) {
        ts_err err = {{0}};
        if (ts_ckpt_save(&c->cfg, be, d, &err) != 0 && c->cfg.rank == 0)
            fprintf(stderr, "\ntessera: warning: checkpoint at iteration %d failed: %s; the previous one is kept\n",
                    d->pos.global_iter, err.msg);
    }
    return stop;
}

void ts_ckpt_resuming(const ts_ckpt_ctl *c, const ts_ckpt_pos *pos) {
    if (c->cfg.rank == 0)
        fprintf(stderr, "tessera: resuming from %s/%s: scale %d, iteration %d\n", c->dir, c->cfg.gen, pos->scale + 1,
                pos->global_iter);
}

void ts_ckpt_stopped(ts_ckpt_ctl *c, int global_iter) {
    ts_stop_mark_stopped();
    if (c->cfg.rank != 0) return;
    int sig = ts_stop_signal();
    const char *why = sig == SIGTERM ? "SIGTERM" : sig == SIGUSR1 ? "SIGUSR1" : "the STOP file";
    if (c->dir) {
        unlink(c->stop_file);
        fprintf(stderr, "\ntessera: stopped on request (%s) after iteration %d; checkpoint in %s, continue with "
                        "--resume\n", why, global_iter, c->dir);
    } else {
        fprintf(stderr, "\ntessera: stopped on request (%s) after iteration %d; no checkpoint directory, nothing "
                        "saved\n", why, global_iter);
    }
}
