/* checkpoint.c - per-rank checkpoint files in generations, LATEST moved atomically (see checkpoint.h). */
#include "tessera/checkpoint.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
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

/* ---------- writing ---------- */

typedef struct {
    FILE *f;
    const ts_backend *be;
    float *buf;
    int ok;
} writer;

static void w_bytes(writer *w, const void *p, size_t n) {
    if (w->ok && n && fwrite(p, 1, n, w->f) != n) w->ok = 0;
}
static void w_i32(writer *w, int v) {
    int32_t x = v;
    w_bytes(w, &x, sizeof x);
}
static void w_u64(writer *w, uint64_t v) { w_bytes(w, &v, sizeof v); }
static void w_f64(writer *w, double v) { w_bytes(w, &v, sizeof v); }
static void w_floats(writer *w, const float *x, size_t n) {
    w_u64(w, n);
    for (size_t i = 0; i < n && w->ok; i += CHUNK) {
        size_t k = n - i < CHUNK ? n - i : CHUNK;
        w->be->download(w->buf, x + i, k);
        w_bytes(w, w->buf, sizeof(float) * k);
    }
}

static void write_body(writer *w, const ts_ckpt_cfg *cfg, const ts_ckpt_data *d) {
    w_bytes(w, MAGIC, sizeof MAGIC);
    w_u64(w, cfg->fingerprint);
    w_i32(w, cfg->rank);
    w_i32(w, cfg->nranks);
    w_i32(w, d->pos.scale);
    w_i32(w, d->pos.iter);
    w_i32(w, d->pos.global_iter);
    w_i32(w, d->pos.tile);
    w_i32(w, d->pos.active);
    w_f64(w, d->pos.elapsed);
    if (d->lbfgs) {
        const ts_lbfgs *o = d->lbfgs;
        w_i32(w, 1);
        w_u64(w, o->n);
        w_i32(w, o->m);
        w_i32(w, o->count);
        w_i32(w, o->head);
        w_i32(w, o->iter);
        w_i32(w, o->nevals);
        w_i32(w, o->started);
        w_f64(w, o->f);
        w_floats(w, o->g, o->n);
        for (int i = 0; i < o->m; i++) {
            w_i32(w, o->s[i] != NULL);
            if (!o->s[i]) continue;
            w_f64(w, o->rho[i]);
            w_floats(w, o->s[i], o->n);
            w_floats(w, o->y[i], o->n);
        }
    } else if (d->adam) {
        const ts_adam *o = d->adam;
        w_i32(w, 2);
        w_u64(w, o->n);
        w_i32(w, o->iter);
        w_i32(w, o->nevals);
        w_f64(w, o->f);
        w_floats(w, o->m, o->n);
        w_floats(w, o->v, o->n);
    } else {
        w_i32(w, 0);
    }
    w_i32(w, d->nblocks);
    for (int b = 0; b < d->nblocks; b++) w_floats(w, d->blocks[b], d->sizes[b]);
    w_bytes(w, TRAILER, sizeof TRAILER);
}

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
    writer w = {fopen(tmp, "wb"), be, ts_malloc(sizeof(float) * CHUNK), 1};
    if (!w.f) w.ok = 0;
    else {
        write_body(&w, cfg, d);
        if (fflush(w.f) != 0 || fsync(fileno(w.f)) != 0) w.ok = 0;
        if (fclose(w.f) != 0) w.ok = 0;
    }
    if (w.ok && rename(tmp, path) != 0) w.ok = 0;
    if (!w.ok) {
        ts_fail(err, "%s: cannot write the checkpoint: %s", path, strerror(errno));
        unlink(tmp);
    }
    free(w.buf);
    free(tmp);
    free(path);
    if (agree(cfg, !w.ok)) {
        free(gdir);
        return w.ok ? ts_fail(err, "another rank could not write its checkpoint") : -1;
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

typedef struct {
    FILE *f;
    const ts_backend *be;
    float *buf;
    int ok;
} reader;

static void r_bytes(reader *r, void *p, size_t n) {
    if (r->ok && n && fread(p, 1, n, r->f) != n) r->ok = 0;
}
static int r_i32(reader *r) {
    int32_t x = 0;
    r_bytes(r, &x, sizeof x);
    return x;
}
static uint64_t r_u64(reader *r) {
    uint64_t x = 0;
    r_bytes(r, &x, sizeof x);
    return x;
}
static double r_f64(reader *r) {
    double x = 0;
    r_bytes(r, &x, sizeof x);
    return x;
}
/* reads a float vector that must have n elements */
static void r_floats(reader *r, float *x, size_t n) {
    if (r_u64(r) != n) r->ok = 0;
    for (size_t i = 0; i < n && r->ok; i += CHUNK) {
        size_t k = n - i < CHUNK ? n - i : CHUNK;
        r_bytes(r, r->buf, sizeof(float) * k);
        if (r->ok) r->be->upload(x + i, r->buf, k);
    }
}

/* Opens this rank's file of cfg->gen and reads the header; 0 or -1 with err. */
static int open_header(const ts_ckpt_cfg *cfg, reader *r, ts_ckpt_pos *pos, char **path_out, ts_err *err) {
    char name[32];
    snprintf(name, sizeof name, "rank-%d.bin", cfg->rank);
    char *path = path3(cfg->dir, cfg->gen, name);
    *path_out = path;
    r->f = fopen(path, "rb");
    if (!r->f) return ts_fail(err, "%s: cannot read the checkpoint: %s", path, strerror(errno));
    r->ok = 1;
    char magic[8];
    r_bytes(r, magic, sizeof magic);
    if (!r->ok || memcmp(magic, MAGIC, sizeof MAGIC))
        return ts_fail(err, "%s: not a Tessera checkpoint (or one of another version)", path);
    uint64_t fp = r_u64(r);
    int rank = r_i32(r), nranks = r_i32(r);
    pos->scale = r_i32(r);
    pos->iter = r_i32(r);
    pos->global_iter = r_i32(r);
    pos->tile = r_i32(r);
    pos->active = r_i32(r);
    pos->elapsed = r_f64(r);
    if (!r->ok) return ts_fail(err, "%s: checkpoint is truncated", path);
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
    reader r = {0};
    char *path = NULL;
    int rc = open_header(cfg, &r, pos, &path, err);
    if (r.f) fclose(r.f);
    free(path);
    if (agree(cfg, rc != 0)) return rc ? -1 : ts_fail(err, "another rank could not read its checkpoint");
    return 1;
}

int ts_ckpt_load(const ts_ckpt_cfg *cfg, const ts_backend *be, ts_ckpt_data *d, ts_err *err) {
    reader r = {0};
    r.be = be;
    r.buf = ts_malloc(sizeof(float) * CHUNK);
    char *path = NULL;
    ts_ckpt_pos pos;
    int rc = open_header(cfg, &r, &pos, &path, err);
    if (rc == 0) {
        int kind = r_i32(&r);
        int want = d->lbfgs ? 1 : d->adam ? 2 : 0;
        if (r.ok && kind != want) {
            rc = ts_fail(err, "%s: checkpoint holds %s state, the run uses %s", path,
                         kind == 1 ? "L-BFGS" : kind == 2 ? "Adam" : "no optimiser",
                         want == 1 ? "L-BFGS" : want == 2 ? "Adam" : "none");
        } else if (kind == 1) {
            ts_lbfgs *o = d->lbfgs;
            size_t n = r_u64(&r);
            int m = r_i32(&r);
            if (r.ok && (n != o->n || m != o->m)) {
                rc = ts_fail(err, "%s: checkpoint has %zu values and history %d; the run has %zu and %d", path, n,
                             m, o->n, o->m);
            } else {
                o->count = r_i32(&r);
                o->head = r_i32(&r);
                o->iter = r_i32(&r);
                o->nevals = r_i32(&r);
                o->started = r_i32(&r);
                o->f = r_f64(&r);
                if (o->count < 0 || o->count > m || o->head < 0 || o->head >= m) r.ok = 0;
                r_floats(&r, o->g, n);
                for (int i = 0; i < m && r.ok; i++) {
                    if (!r_i32(&r)) continue;
                    o->rho[i] = r_f64(&r);
                    if (!o->s[i]) {
                        o->s[i] = be->alloc(n);
                        o->y[i] = be->alloc(n);
                    }
                    r_floats(&r, o->s[i], n);
                    r_floats(&r, o->y[i], n);
                }
            }
        } else if (kind == 2) {
            ts_adam *o = d->adam;
            size_t n = r_u64(&r);
            if (r.ok && n != o->n) {
                rc = ts_fail(err, "%s: checkpoint has %zu values; the run has %zu", path, n, o->n);
            } else {
                o->iter = r_i32(&r);
                o->nevals = r_i32(&r);
                o->f = r_f64(&r);
                r_floats(&r, o->m, n);
                r_floats(&r, o->v, n);
            }
        }
        if (rc == 0) {
            int nb = r_i32(&r);
            if (r.ok && nb != d->nblocks) r.ok = 0;
            for (int b = 0; b < d->nblocks && r.ok; b++) r_floats(&r, d->blocks[b], d->sizes[b]);
            char tr[8] = {0};
            r_bytes(&r, tr, sizeof tr);
            if (!r.ok || memcmp(tr, TRAILER, sizeof TRAILER))
                rc = ts_fail(err, "%s: checkpoint is truncated or does not fit this run", path);
        }
        d->pos = pos;
    }
    if (r.f) fclose(r.f);
    free(r.buf);
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
