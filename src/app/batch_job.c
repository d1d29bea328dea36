/* batch_job.c - job files: reading and checking them, expanding pairs x grid points into named
 * tasks, and each task's options through the option table. */
#include "tessera/batch_job.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tessera/files.h"
#include "tessera/hash.h"
#include "tessera/job.h"

#define MAX_TASKS 100000
#define MAX_NAME 200

/* ---------- small helpers ---------- */

/* Option names a job may set: those `tessera defaults` prints (content, style, output, log and
 * grad_out are not among them: the batch sets them per task). */
static cJSON *known_options(void) {
    char *s = ts_options_defaults_json();
    cJSON *j = cJSON_Parse(s);
    free(s);
    if (!j) ts_fatal("cannot parse the option table's defaults");
    return j;
}

static int check_option_name(const cJSON *known, const char *key, const char *where, ts_err *err) {
    static const char *per_task[] = {"content", "style", "output", "log", "grad_out", "config", "checkpoint_dir",
                                     "resume"};
    for (size_t i = 0; i < sizeof per_task / sizeof per_task[0]; i++)
        if (!strcmp(key, per_task[i]))
            return ts_fail(err, "%s: \"%s\" cannot be set here (the job's pairs, output_dir and config set it)", where,
                           key);
    if (!cJSON_GetObjectItemCaseSensitive(known, key))
        return ts_fail(err, "%s: unknown option \"%s\" (option names as `tessera defaults` prints them)", where, key);
    return 0;
}


static int check_input(const char *path, const char *job, const char *what, ts_err *err) {
    struct stat st;
    if (!*path) return ts_fail(err, "%s: an empty %s path", job, what);
    if (stat(path, &st) != 0) return ts_fail(err, "%s: %s \"%s\": %s", job, what, path, strerror(errno));
    if (!S_ISREG(st.st_mode)) return ts_fail(err, "%s: %s \"%s\" is not a regular file", job, what, path);
    if (access(path, R_OK) != 0) return ts_fail(err, "%s: %s \"%s\" is not readable", job, what, path);
    return 0;
}

/* A task's style masks (options or grid values): files that can be read, one per style image. */
static int check_task_masks(const ts_batch_job *job, int t, const ts_options *o, ts_err *err) {
    const char *names[2] = {"style_masks", "style_image_masks"};
    char *const *paths[2] = {o->style_masks, o->style_image_masks};
    int counts[2] = {o->nstyle_masks, o->nstyle_image_masks};
    for (int k = 0; k < 2; k++) {
        if (counts[k] && counts[k] != o->nstyle)
            return ts_fail(err, "%s: task %s: \"%s\" has %d masks for %d style images", job->path, job->tasks[t].name,
                           names[k], counts[k], o->nstyle);
        for (int i = 0; i < counts[k]; i++)
            if (check_input(paths[k][i], job->path, names[k], err)) return -1;
    }
    return 0;
}

/* Characters safe in file names and URLs; everything else becomes '-'. */
static void sanitise(char *s) {
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '+' ||
              c == '-' || c == ',' || c == '_'))
            *s = '-';
    }
}

/* The file name without folders and extension. */
static void stem(const char *path, char *out, size_t n) {
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    snprintf(out, n, "%s", b);
    char *dot = strrchr(out, '.');
    if (dot && dot != out) *dot = 0;
    sanitise(out);
}

/* A short text that reads back as v: 64, 150, 0.5, 1e5, 2.5e-3 (the exponent form when it saves at
 * least two characters). */
static void number_label(double v, char *out, size_t n) {
    char fixed[400] = "", expo[40] = "";
    if (v == 0) v = 0; /* no "-0" */
    for (int p = 0; p <= 17; p++) {
        snprintf(fixed, sizeof fixed, "%.*f", p, v);
        if (strtod(fixed, NULL) == v) break;
    }
    for (int p = 0; p <= 16; p++) {
        snprintf(expo, sizeof expo, "%.*e", p, v);
        if (strtod(expo, NULL) == v) break;
    }
    /* compact the exponent: e+05 -> e5, e-03 -> e-3 */
    char *e = strchr(expo, 'e');
    if (e) {
        char *src = e + 1, *dst = e + 1;
        if (*src == '+') src++;
        else if (*src == '-') *dst++ = *src++;
        while (*src == '0' && src[1]) src++;
        memmove(dst, src, strlen(src) + 1);
    }
    const char *pick = strlen(expo) + 2 <= strlen(fixed) ? expo : fixed;
    size_t len = strlen(pick) < n ? strlen(pick) : n - 1;
    memcpy(out, pick, len);
    out[len] = 0;
}

/* A grid value as written in task names. Returns -1 for values no option takes (objects). */
static int value_label(const cJSON *v, char *out, size_t n) {
    out[0] = 0;
    if (cJSON_IsNumber(v)) number_label(v->valuedouble, out, n);
    else if (cJSON_IsString(v)) snprintf(out, n, "%s", v->valuestring);
    else if (cJSON_IsBool(v)) snprintf(out, n, "%s", cJSON_IsTrue(v) ? "true" : "false");
    else if (cJSON_IsNull(v)) snprintf(out, n, "default");
    else if (cJSON_IsArray(v)) {
        size_t len = 0;
        const cJSON *e;
        cJSON_ArrayForEach(e, v) {
            char one[64];
            if (cJSON_IsArray(e) || cJSON_IsObject(e) || value_label(e, one, sizeof one)) return -1;
            len += (size_t)snprintf(out + len, len < n ? n - len : 0, "%s%s", len ? "," : "", one);
            if (len >= n) break;
        }
    } else return -1;
    sanitise(out);
    return 0;
}

/* ---------- reading the job file ---------- */

typedef struct {
    char *content;
    char *style[TS_MAX_LIST];
    int nstyle;
} pair_t;

/* A style entry: a path, or a list of paths blended together. */
static int read_style(const cJSON *v, pair_t *p, const char *job, ts_err *err) {
    if (cJSON_IsString(v)) {
        p->style[p->nstyle++] = ts_strdup(v->valuestring);
        return check_input(v->valuestring, job, "style", err);
    }
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) < 1 || cJSON_GetArraySize(v) > TS_MAX_LIST)
        return ts_fail(err, "%s: a style is a path or a list of 1 to %d paths (blended)", job, TS_MAX_LIST);
    const cJSON *e;
    cJSON_ArrayForEach(e, v) {
        if (!cJSON_IsString(e)) return ts_fail(err, "%s: a style list must hold paths (strings)", job);
        p->style[p->nstyle++] = ts_strdup(e->valuestring);
        if (check_input(e->valuestring, job, "style", err)) return -1;
    }
    return 0;
}

static void pairs_free(pair_t *p, int n) {
    for (int i = 0; i < n; i++) {
        free(p[i].content);
        for (int s = 0; s < p[i].nstyle; s++) free(p[i].style[s]);
    }
    free(p);
}

/* content x style, or the explicit pairs. */
static int read_pairs(const cJSON *root, const char *job, pair_t **out, int *nout, ts_err *err) {
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(root, "content");
    const cJSON *style = cJSON_GetObjectItemCaseSensitive(root, "style");
    const cJSON *pairs = cJSON_GetObjectItemCaseSensitive(root, "pairs");
    *out = NULL;
    *nout = 0;
    if (pairs && (content || style)) return ts_fail(err, "%s: give either \"pairs\" or \"content\" and \"style\", not both", job);
    if (!pairs && (!content || !style))
        return ts_fail(err, "%s: needs \"content\" and \"style\" (crossed) or \"pairs\": [[content, style], ...]", job);
    if (pairs) {
        if (!cJSON_IsArray(pairs) || cJSON_GetArraySize(pairs) < 1)
            return ts_fail(err, "%s: \"pairs\" must be a non-empty list of [content, style]", job);
        int n = cJSON_GetArraySize(pairs);
        pair_t *p = ts_calloc((size_t)n, sizeof *p);
        *out = p;
        const cJSON *e;
        cJSON_ArrayForEach(e, pairs) {
            if (!cJSON_IsArray(e) || cJSON_GetArraySize(e) != 2 || !cJSON_IsString(e->child))
                return ts_fail(err, "%s: pair %d must be [content path, style path or list of style paths]", job,
                               *nout + 1);
            p[*nout].content = ts_strdup(e->child->valuestring);
            (*nout)++;
            if (check_input(e->child->valuestring, job, "content", err)) return -1;
            if (read_style(e->child->next, &p[*nout - 1], job, err)) return -1;
        }
        return 0;
    }
    int nc = cJSON_IsString(content) ? 1 : cJSON_IsArray(content) ? cJSON_GetArraySize(content) : 0;
    int ns = cJSON_IsString(style) ? 1 : cJSON_IsArray(style) ? cJSON_GetArraySize(style) : 0;
    if (nc < 1) return ts_fail(err, "%s: \"content\" must be a path or a non-empty list of paths", job);
    if (ns < 1) return ts_fail(err, "%s: \"style\" must be a path or a non-empty list of paths", job);
    if ((long)nc * ns > MAX_TASKS)
        return ts_fail(err, "%s: %d contents x %d styles is more than %d tasks", job, nc, ns, MAX_TASKS);
    pair_t *cs = ts_calloc((size_t)nc, sizeof *cs), *ss = ts_calloc((size_t)ns, sizeof *ss);
    int rc = 0;
    const cJSON *e;
    int i = 0;
    if (cJSON_IsString(content)) cs[i++].content = ts_strdup(content->valuestring);
    else cJSON_ArrayForEach(e, content) {
        if (!cJSON_IsString(e)) {
            rc = ts_fail(err, "%s: \"content\" must hold paths (strings)", job);
            break;
        }
        cs[i++].content = ts_strdup(e->valuestring);
    }
    for (int k = 0; k < i && rc == 0; k++) rc = check_input(cs[k].content, job, "content", err);
    i = 0;
    if (rc == 0 && cJSON_IsString(style)) rc = read_style(style, &ss[i++], job, err);
    else if (rc == 0) cJSON_ArrayForEach(e, style) {
        if ((rc = read_style(e, &ss[i++], job, err))) break;
    }
    if (rc == 0) {
        pair_t *p = ts_calloc((size_t)nc * (size_t)ns, sizeof *p);
        for (int c = 0; c < nc; c++)
            for (int s = 0; s < ns; s++) {
                pair_t *q = &p[c * ns + s];
                q->content = ts_strdup(cs[c].content);
                q->nstyle = ss[s].nstyle;
                for (int k = 0; k < q->nstyle; k++) q->style[k] = ts_strdup(ss[s].style[k]);
            }
        *out = p;
        *nout = nc * ns;
    }
    pairs_free(cs, nc);
    pairs_free(ss, ns);
    return rc;
}

/* The config file's text with the keys the option table does not know removed (warned about once). */
static int read_config(ts_batch_job *job, const cJSON *known, ts_err *err) {
    size_t n;
    ts_err e2;
    char *text = ts_file_read(job->config, 16u << 20, &n, &e2);
    if (!text) return ts_fail(err, "%s: config %s", job->path, e2.msg);
    const char *end = NULL;
    cJSON *c = cJSON_ParseWithLengthOpts(text, n, &end, 0);
    free(text);
    if (!c || !cJSON_IsObject(c)) {
        cJSON_Delete(c);
        return ts_fail(err, "%s: not a JSON object (malformed JSON?)", job->config);
    }
    cJSON *it = c->child;
    while (it) {
        cJSON *next = it->next;
        if (it->string[0] != '_' && !cJSON_GetObjectItemCaseSensitive(known, it->string)) {
            if (ts_rank() == 0)
                fprintf(stderr, "tessera: warning: %s: unknown key \"%s\" ignored\n", job->config, it->string);
            cJSON_Delete(cJSON_DetachItemViaPointer(c, it));
        }
        it = next;
    }
    job->config_json = cJSON_PrintUnformatted(c);
    cJSON_Delete(c);
    return 0;
}

static int read_grid(ts_batch_job *job, const cJSON *grid, const cJSON *known, ts_err *err) {
    char where[600];
    if (!cJSON_IsObject(grid)) return ts_fail(err, "%s: \"grid\" must be an object of option: [values]", job->path);
    snprintf(where, sizeof where, "%s: grid", job->path);
    if (ts_json_duplicate_key(grid, where, 0, err)) return -1;
    const cJSON *ax;
    cJSON_ArrayForEach(ax, grid) {
        if (ax->string[0] == '_') continue;
        if (check_option_name(known, ax->string, where, err)) return -1;
        if (job->ngrid == TS_BATCH_MAX_GRID) return ts_fail(err, "%s: at most %d grid options", where, TS_BATCH_MAX_GRID);
        int n = cJSON_IsArray(ax) ? cJSON_GetArraySize(ax) : 0;
        if (n < 1) return ts_fail(err, "%s: \"%s\" must be a non-empty list of values", where, ax->string);
        int k = job->ngrid++;
        job->grid_key[k] = ts_strdup(ax->string);
        job->grid_count[k] = n;
        job->grid_value[k] = ts_calloc((size_t)n, sizeof(char *));
        job->grid_label[k] = ts_calloc((size_t)n, sizeof(char *));
        int i = 0;
        const cJSON *v;
        cJSON_ArrayForEach(v, ax) {
            char label[256], src[700];
            if (value_label(v, label, sizeof label))
                return ts_fail(err, "%s: \"%s\" value %d is not a number, string, boolean or list", where, ax->string,
                               i + 1);
            job->grid_value[k][i] = cJSON_PrintUnformatted(v);
            job->grid_label[k][i] = ts_strdup(label);
            for (int j = 0; j < i; j++)
                if (!strcmp(job->grid_label[k][j], label))
                    return ts_fail(err, "%s: \"%s\" lists the value %s twice", where, ax->string, label);
            /* every value through the option table on its own, so a bad one is named */
            ts_options o;
            ts_options_defaults(&o);
            size_t tl = strlen(ax->string) + strlen(job->grid_value[k][i]) + 8;
            char *text = ts_malloc(tl);
            snprintf(text, tl, "{\"%s\": %s}", ax->string, job->grid_value[k][i]);
            snprintf(src, sizeof src, "%s: grid %s[%d]", job->path, ax->string, i);
            int rc = ts_options_apply_json(&o, text, strlen(text), src, err);
            free(text);
            ts_options_free(&o);
            if (rc) return -1;
            i++;
        }
    }
    return 0;
}

static int read_root(ts_batch_job *job, cJSON *root, const char *output_dir, pair_t **pairs, int *npairs,
                     ts_err *err) {
    static const char *keys[] = {"output_dir", "config", "content", "style", "pairs", "options", "grid", "format"};
    const char *path = job->path;
    if (!cJSON_IsObject(root)) return ts_fail(err, "%s: a job file must be a JSON object", path);
    if (ts_json_duplicate_key(root, path, 0, err)) return -1;
    const cJSON *it;
    cJSON_ArrayForEach(it, root) {
        int found = it->string[0] == '_';
        for (size_t i = 0; i < sizeof keys / sizeof keys[0] && !found; i++) found = !strcmp(it->string, keys[i]);
        if (!found)
            return ts_fail(err, "%s: unknown key \"%s\" (output_dir, config, content, style, pairs, options, grid, "
                                "format; see jobs/README.md)",
                           path, it->string);
    }
    const cJSON *od = cJSON_GetObjectItemCaseSensitive(root, "output_dir");
    if (od && (!cJSON_IsString(od) || !od->valuestring[0]))
        return ts_fail(err, "%s: \"output_dir\" must be a non-empty path", path);
    if (output_dir && *output_dir) job->output_dir = ts_strdup(output_dir);
    else if (od) job->output_dir = ts_strdup(od->valuestring);
    else return ts_fail(err, "%s: no \"output_dir\" (or give --output-dir or TESSERA_OUTPUT_DIR)", path);
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(root, "format");
    if (fmt && (!cJSON_IsString(fmt) || (strcmp(fmt->valuestring, "png") && strcmp(fmt->valuestring, "jpg"))))
        return ts_fail(err, "%s: \"format\" must be \"png\" or \"jpg\"", path);
    job->format = ts_strdup(fmt ? fmt->valuestring : "png");

    cJSON *known = known_options();
    int rc = 0;
    const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(root, "config");
    if (cfg && (!cJSON_IsString(cfg) || !cfg->valuestring[0])) rc = ts_fail(err, "%s: \"config\" must be a path", path);
    else if (cfg) {
        job->config = ts_strdup(cfg->valuestring);
        rc = read_config(job, known, err);
    }
    const cJSON *opts = cJSON_GetObjectItemCaseSensitive(root, "options");
    if (rc == 0 && opts) {
        char where[600];
        snprintf(where, sizeof where, "%s: options", path);
        if (!cJSON_IsObject(opts)) rc = ts_fail(err, "%s: \"options\" must be an object of option: value", path);
        else rc = ts_json_duplicate_key(opts, where, 0, err);
        for (const cJSON *o = opts->child; o && rc == 0; o = o->next)
            if (o->string[0] != '_') rc = check_option_name(known, o->string, where, err);
        if (rc == 0) {
            job->options_json = cJSON_PrintUnformatted(opts);
            ts_options o;
            ts_options_defaults(&o);
            rc = ts_options_apply_json(&o, job->options_json, strlen(job->options_json), where, err);
            ts_options_free(&o);
        }
    }
    const cJSON *grid = cJSON_GetObjectItemCaseSensitive(root, "grid");
    if (rc == 0 && grid) rc = read_grid(job, grid, known, err);
    cJSON_Delete(known);
    if (rc == 0) rc = read_pairs(root, path, pairs, npairs, err);
    return rc;
}

/* ---------- tasks ---------- */

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void make_task(ts_batch_job *job, ts_batch_task *t, const pair_t *p, int pair, const int *point) {
    char buf[4096], one[256];
    size_t len = 0;
    t->pair = pair;
    t->content = ts_strdup(p->content);
    t->nstyle = p->nstyle;
    for (int s = 0; s < p->nstyle; s++) t->style[s] = ts_strdup(p->style[s]);
    memcpy(t->point, point, sizeof t->point);
    stem(p->content, one, sizeof one);
    len += (size_t)snprintf(buf + len, sizeof buf - len, "%s__", one);
    for (int s = 0; s < p->nstyle && len < sizeof buf; s++) {
        stem(p->style[s], one, sizeof one);
        len += (size_t)snprintf(buf + len, sizeof buf - len, "%s%s", s ? "+" : "", one);
    }
    /* grid values with the keys in alphabetical order: names do not depend on the file's order */
    int order[TS_BATCH_MAX_GRID];
    for (int k = 0; k < job->ngrid; k++) order[k] = k;
    for (int a = 1; a < job->ngrid; a++)
        for (int b = a; b > 0 && strcmp(job->grid_key[order[b - 1]], job->grid_key[order[b]]) > 0; b--) {
            int x = order[b];
            order[b] = order[b - 1];
            order[b - 1] = x;
        }
    for (int i = 0; i < job->ngrid && len < sizeof buf; i++) {
        int k = order[i];
        len += (size_t)snprintf(buf + len, sizeof buf - len, "%s%s-%s", i ? "_" : "__", job->grid_key[k],
                                job->grid_label[k][point[k]]);
    }
    if (strlen(buf) > MAX_NAME) { /* keep it a valid file name, still unique and stable */
        uint64_t h = ts_fnv1a(TS_FNV1A_START, buf, strlen(buf));
        snprintf(buf + MAX_NAME - 17, sizeof buf - (MAX_NAME - 17), "~%016llx", (unsigned long long)h);
    }
    t->name = ts_strdup(buf);

    ts_buf g = {0};
    ts_buf_puts(&g, "{");
    for (int k = 0; k < job->ngrid; k++)
        ts_buf_printf(&g, "%s\"%s\": %s", k ? ", " : "", job->grid_key[k], job->grid_value[k][point[k]]);
    ts_buf_puts(&g, "}");
    t->grid_json = g.s;

    cJSON *params = cJSON_CreateObject();
    cJSON_AddStringToObject(params, "content", p->content);
    if (p->nstyle == 1) cJSON_AddStringToObject(params, "style", p->style[0]);
    else {
        cJSON *arr = cJSON_AddArrayToObject(params, "style");
        for (int s = 0; s < p->nstyle; s++) cJSON_AddItemToArray(arr, cJSON_CreateString(p->style[s]));
    }
    for (int k = 0; k < job->ngrid; k++)
        cJSON_AddItemToObject(params, job->grid_key[k], cJSON_Parse(job->grid_value[k][point[k]]));
    t->params_json = cJSON_PrintUnformatted(params);
    cJSON_Delete(params);
}

static int make_tasks(ts_batch_job *job, const pair_t *pairs, int npairs, ts_err *err) {
    long points = 1;
    for (int k = 0; k < job->ngrid; k++) {
        points *= job->grid_count[k];
        if (points > MAX_TASKS) break;
    }
    if (points * npairs > MAX_TASKS)
        return ts_fail(err, "%s: more than %d tasks (pairs x grid points)", job->path, MAX_TASKS);
    job->ntasks = (int)(points * npairs);
    job->tasks = ts_calloc((size_t)job->ntasks, sizeof *job->tasks);
    job->npairs = npairs;
    job->pair_label = ts_calloc((size_t)npairs, sizeof(char *));
    int t = 0;
    for (int p = 0; p < npairs; p++) {
        char c[256], s[256], label[600];
        stem(pairs[p].content, c, sizeof c);
        size_t len = 0;
        for (int k = 0; k < pairs[p].nstyle; k++) {
            char one[128];
            stem(pairs[p].style[k], one, sizeof one);
            len += (size_t)snprintf(s + len, len < sizeof s ? sizeof s - len : 0, "%s%s", k ? " + " : "", one);
        }
        snprintf(label, sizeof label, "%s / %s", c, s);
        job->pair_label[p] = ts_strdup(label);
        for (long i = 0; i < points; i++) {
            int point[TS_BATCH_MAX_GRID] = {0};
            long r = i;
            for (int k = job->ngrid - 1; k >= 0; k--) { /* the last grid key varies fastest */
                point[k] = (int)(r % job->grid_count[k]);
                r /= job->grid_count[k];
            }
            make_task(job, &job->tasks[t++], &pairs[p], p, point);
        }
    }
    /* names must be unique: they are the tasks' folders */
    char **names = ts_malloc(sizeof(char *) * (size_t)job->ntasks);
    for (int i = 0; i < job->ntasks; i++) names[i] = job->tasks[i].name;
    qsort(names, (size_t)job->ntasks, sizeof(char *), cmp_str);
    int rc = 0;
    for (int i = 1; i < job->ntasks && rc == 0; i++)
        if (!strcmp(names[i - 1], names[i]))
            rc = ts_fail(err, "%s: two tasks are both named %s (inputs with the same file name?)", job->path, names[i]);
    free(names);
    return rc;
}

int ts_batch_job_load(ts_batch_job *job, const char *path, const char *output_dir, ts_err *err) {
    memset(job, 0, sizeof *job);
    job->path = ts_strdup(path);
    size_t n;
    ts_err e2;
    char *text = ts_file_read(path, 16u << 20, &n, &e2);
    if (!text) return ts_fail(err, "job file %s", e2.msg);
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, n, &end, 0);
    if (!root) {
        size_t pos = end && end >= text ? (size_t)(end - text) : 0;
        int line = 1;
        for (size_t i = 0; i < pos && i < n; i++) line += text[i] == '\n';
        free(text);
        return ts_fail(err, "%s: malformed JSON near line %d (byte %zu)", path, line, pos);
    }
    free(text);
    pair_t *pairs = NULL;
    int npairs = 0;
    int rc = read_root(job, root, output_dir, &pairs, &npairs, err);
    cJSON_Delete(root);
    if (rc == 0) rc = make_tasks(job, pairs, npairs, err);
    pairs_free(pairs, npairs);
    /* every task's options together (fixed options and grid values can conflict only in combination) */
    for (int t = 0; t < job->ntasks && rc == 0; t++) {
        ts_options o;
        rc = ts_batch_task_options(job, t, &o, err);
        if (rc == 0) rc = check_task_masks(job, t, &o, err);
        ts_options_free(&o);
    }
    return rc;
}

void ts_batch_job_free(ts_batch_job *job) {
    for (int t = 0; t < job->ntasks; t++) {
        ts_batch_task *k = &job->tasks[t];
        free(k->name);
        free(k->content);
        for (int s = 0; s < k->nstyle; s++) free(k->style[s]);
        free(k->grid_json);
        free(k->params_json);
    }
    free(job->tasks);
    for (int k = 0; k < job->ngrid; k++) {
        for (int i = 0; i < job->grid_count[k]; i++) {
            free(job->grid_value[k][i]);
            free(job->grid_label[k][i]);
        }
        free(job->grid_value[k]);
        free(job->grid_label[k]);
        free(job->grid_key[k]);
    }
    for (int p = 0; p < job->npairs; p++) free(job->pair_label[p]);
    free(job->pair_label);
    free(job->path);
    free(job->output_dir);
    free(job->config);
    free(job->config_json);
    free(job->options_json);
    free(job->format);
    memset(job, 0, sizeof *job);
}

const char *ts_batch_output_name(const ts_batch_job *job) {
    return !strcmp(job->format, "jpg") ? "output.jpg" : "output.png";
}

char *ts_batch_task_path(const ts_batch_job *job, int t, const char *file) {
    size_t n = strlen(job->output_dir) + strlen(job->tasks[t].name) + (file ? strlen(file) : 0) + 3;
    char *p = ts_malloc(n);
    snprintf(p, n, "%s/%s%s%s", job->output_dir, job->tasks[t].name, file ? "/" : "", file ? file : "");
    return p;
}

int ts_batch_task_options(const ts_batch_job *job, int t, ts_options *o, ts_err *err) {
    const ts_batch_task *k = &job->tasks[t];
    char src[700];
    ts_options_defaults(o);
    if (job->config_json && ts_options_apply_json(o, job->config_json, strlen(job->config_json), job->config, err))
        return -1;
    o->quiet = 1; /* the batch prints one line per task; "quiet": false in the options brings the runs' lines back */
    snprintf(src, sizeof src, "%s: options", job->path);
    if (job->options_json && ts_options_apply_json(o, job->options_json, strlen(job->options_json), src, err))
        return -1;
    snprintf(src, sizeof src, "%s: grid values of task %s", job->path, k->name);
    if (ts_options_apply_json(o, k->grid_json, strlen(k->grid_json), src, err)) return -1;
    o->content = ts_strdup(k->content);
    for (int s = 0; s < k->nstyle; s++) o->style[s] = ts_strdup(k->style[s]);
    o->nstyle = k->nstyle;
    o->output = ts_batch_task_path(job, t, ts_batch_output_name(job));
    o->log = ts_batch_task_path(job, t, "log.jsonl");
    /* a stopped or preempted task continues from its own checkpoint when the batch runs again */
    free(o->checkpoint_dir);
    o->checkpoint_dir = ts_batch_task_path(job, t, "checkpoint");
    o->resume = 1;
    return 0;
}

int ts_batch_random_weight_tasks(const ts_batch_job *job) {
    int n = 0;
    for (int t = 0; t < job->ntasks; t++) {
        ts_options o;
        if (ts_batch_task_options(job, t, &o, NULL) == 0) {
            if (!strncmp(o.weights, "random", 6)) n++;
            else if (!strcmp(o.weights, "auto")) {
                char *p = ts_find_weights(o.arch);
                n += !p;
                free(p);
            }
        }
        ts_options_free(&o);
    }
    return n;
}
