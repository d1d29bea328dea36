/* summary.c - manifest.json, losses.svg and index.html of a batch job, from the task folders. */
#include "tessera/summary.h"

#include <cjson/cJSON.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tessera/files.h"
#include "tessera/lossplot.h"

static double number_or_nan(const cJSON *j, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

ts_task_status ts_summary_task_status(const ts_batch_job *job, int t, double *loss, double *seconds, char **error) {
    *loss = *seconds = NAN;
    if (error) *error = NULL;
    const char *files[2] = {"DONE", "FAILED"};
    for (int k = 0; k < 2; k++) {
        char *p = ts_batch_task_path(job, t, files[k]);
        char *text = ts_file_exists(p) ? ts_file_read(p, 1 << 20, NULL, NULL) : NULL;
        free(p);
        if (!text) continue;
        cJSON *j = cJSON_Parse(text);
        free(text);
        *loss = number_or_nan(j, "loss");
        *seconds = number_or_nan(j, "seconds");
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
        if (error && k == 1) *error = ts_strdup(cJSON_IsString(e) ? e->valuestring : "failed");
        cJSON_Delete(j);
        return k == 0 ? TS_TASK_DONE : TS_TASK_FAILED;
    }
    return TS_TASK_PENDING;
}

static const char *status_name(ts_task_status s) {
    return s == TS_TASK_DONE ? "done" : s == TS_TASK_FAILED ? "failed" : "pending";
}

typedef struct {
    ts_task_status status;
    double loss, seconds;
    char *error;
} task_state;

/* ---------- manifest.json ---------- */

static char *manifest_json(const ts_batch_job *job, const task_state *st, const int *counts) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "job", job->path);
    cJSON_AddStringToObject(root, "output_dir", job->output_dir);
    cJSON *c = cJSON_AddObjectToObject(root, "counts");
    cJSON_AddNumberToObject(c, "done", counts[TS_TASK_DONE]);
    cJSON_AddNumberToObject(c, "failed", counts[TS_TASK_FAILED]);
    cJSON_AddNumberToObject(c, "pending", counts[TS_TASK_PENDING]);
    cJSON *grid = cJSON_AddObjectToObject(root, "grid");
    for (int k = 0; k < job->ngrid; k++) {
        cJSON *arr = cJSON_AddArrayToObject(grid, job->grid_key[k]);
        for (int i = 0; i < job->grid_count[k]; i++) cJSON_AddItemToArray(arr, cJSON_Parse(job->grid_value[k][i]));
    }
    cJSON *tasks = cJSON_AddArrayToObject(root, "tasks");
    for (int t = 0; t < job->ntasks; t++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", job->tasks[t].name);
        cJSON_AddNumberToObject(o, "index", t);
        cJSON_AddItemToObject(o, "params", cJSON_Parse(job->tasks[t].params_json));
        cJSON_AddStringToObject(o, "status", status_name(st[t].status));
        char out[600];
        snprintf(out, sizeof out, "%s/%s", job->tasks[t].name, ts_batch_output_name(job));
        cJSON_AddStringToObject(o, "output", out);
        if (isfinite(st[t].loss)) cJSON_AddNumberToObject(o, "loss", st[t].loss);
        else cJSON_AddNullToObject(o, "loss");
        if (isfinite(st[t].seconds)) cJSON_AddNumberToObject(o, "seconds", st[t].seconds);
        else cJSON_AddNullToObject(o, "seconds");
        if (st[t].error) cJSON_AddStringToObject(o, "error", st[t].error);
        cJSON_AddItemToArray(tasks, o);
    }
    char *s = cJSON_Print(root);
    cJSON_Delete(root);
    return s;
}

/* ---------- index.html ---------- */

static const char *CSS =
    "body{font-family:sans-serif;margin:1.5em;color:#222;background:#fafafa}"
    "h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em}h3{font-size:1em;margin:1em 0 .4em}"
    ".meta{color:#555}.cards{display:flex;flex-wrap:wrap;gap:10px;align-items:flex-start}"
    "figure.task{margin:0;padding:6px;background:#fff;border:1px solid #ccc;border-radius:4px;width:170px}"
    "figure.task img.thumb{width:160px;height:auto;display:block;background:#eee}"
    "figure.failed{border-color:#c33;background:#fff3f3}figure.pending{border-style:dashed}"
    ".ph{width:160px;height:100px;display:flex;align-items:center;justify-content:center;color:#888;background:#eee}"
    "figcaption{font-size:12px;margin-top:4px;word-break:break-word}.label{font-weight:bold;display:block}"
    ".stat{color:#555}.err{color:#c33}table.sheet{border-collapse:collapse}"
    "table.sheet th{font-size:12px;font-weight:normal;color:#555;padding:4px}table.sheet td{padding:4px;vertical-align:top}"
    "table.list{border-collapse:collapse;font-size:12px}table.list td,table.list th{border:1px solid #ddd;padding:3px 6px;"
    "text-align:left}table.list code{white-space:normal;word-break:break-all}.curves{display:flex;flex-wrap:wrap;gap:8px}.curves img{width:320px;border:1px solid #ddd}"
    ".s-done{color:#080}.s-failed{color:#c33}.s-pending{color:#888}";

/* "key=value, key=value" for the task's grid values; the pair's label without a grid */
static void task_label(const ts_batch_job *job, int t, ts_buf *b) {
    const ts_batch_task *k = &job->tasks[t];
    if (job->ngrid == 0) {
        ts_buf_escape(b, job->pair_label[k->pair]);
        return;
    }
    for (int g = 0; g < job->ngrid; g++) {
        if (g) ts_buf_puts(b, ", ");
        ts_buf_escape(b, job->grid_key[g]);
        ts_buf_puts(b, "=");
        ts_buf_escape(b, job->grid_label[g][k->point[g]]);
    }
}

static void card(const ts_batch_job *job, int t, const task_state *s, ts_buf *b) {
    const char *name = job->tasks[t].name, *out = ts_batch_output_name(job);
    ts_buf_printf(b, "<figure class=\"task %s\" id=\"t-%s\">", status_name(s->status), name);
    if (s->status == TS_TASK_DONE)
        ts_buf_printf(b, "<a href=\"%s/%s\"><img class=\"thumb\" src=\"%s/%s\" alt=\"%s\"></a>", name, out, name, out,
                      name);
    else ts_buf_printf(b, "<div class=\"ph\">%s</div>", status_name(s->status));
    ts_buf_puts(b, "<figcaption><span class=\"label\">");
    task_label(job, t, b);
    ts_buf_puts(b, "</span>");
    if (s->status == TS_TASK_DONE) {
        ts_buf_printf(b, "<span class=\"stat\">loss %.4g", s->loss);
        if (isfinite(s->seconds)) ts_buf_printf(b, " &middot; %.1f s", s->seconds);
        ts_buf_printf(b, " &middot; <a href=\"%s/loss.svg\">curve</a></span>", name);
    } else if (s->status == TS_TASK_FAILED) {
        ts_buf_puts(b, "<span class=\"err\">");
        ts_buf_escape(b, s->error ? s->error : "failed");
        ts_buf_puts(b, "</span>");
    }
    ts_buf_puts(b, "</figcaption></figure>\n");
}

/* tasks of pair p: p * points + the mixed-radix index of the grid point (last key fastest) */
static int points_per_pair(const ts_batch_job *job) {
    int n = 1;
    for (int k = 0; k < job->ngrid; k++) n *= job->grid_count[k];
    return n;
}

static void contact_sheet(const ts_batch_job *job, const task_state *st, ts_buf *b) {
    int points = points_per_pair(job);
    if (job->ngrid == 0) {
        ts_buf_puts(b, "<div class=\"cards\">\n");
        for (int t = 0; t < job->ntasks; t++) card(job, t, &st[t], b);
        ts_buf_puts(b, "</div>\n");
        return;
    }
    for (int p = 0; p < job->npairs; p++) {
        ts_buf_puts(b, "<section class=\"pair\"><h3>");
        ts_buf_escape(b, job->pair_label[p]);
        ts_buf_puts(b, "</h3>\n");
        if (job->ngrid == 2) { /* rows: the first grid key; columns: the second */
            ts_buf_puts(b, "<table class=\"sheet\"><tr><th>");
            ts_buf_escape(b, job->grid_key[0]);
            ts_buf_puts(b, " \\ ");
            ts_buf_escape(b, job->grid_key[1]);
            ts_buf_puts(b, "</th>");
            for (int j = 0; j < job->grid_count[1]; j++) {
                ts_buf_puts(b, "<th>");
                ts_buf_escape(b, job->grid_key[1]);
                ts_buf_puts(b, " = ");
                ts_buf_escape(b, job->grid_label[1][j]);
                ts_buf_puts(b, "</th>");
            }
            ts_buf_puts(b, "</tr>\n");
            for (int i = 0; i < job->grid_count[0]; i++) {
                ts_buf_puts(b, "<tr><th>");
                ts_buf_escape(b, job->grid_key[0]);
                ts_buf_puts(b, " = ");
                ts_buf_escape(b, job->grid_label[0][i]);
                ts_buf_puts(b, "</th>");
                for (int j = 0; j < job->grid_count[1]; j++) {
                    int t = p * points + i * job->grid_count[1] + j;
                    ts_buf_puts(b, "<td>");
                    card(job, t, &st[t], b);
                    ts_buf_puts(b, "</td>");
                }
                ts_buf_puts(b, "</tr>\n");
            }
            ts_buf_puts(b, "</table>\n");
        } else {
            ts_buf_puts(b, "<div class=\"cards\">\n");
            for (int i = 0; i < points; i++) card(job, p * points + i, &st[p * points + i], b);
            ts_buf_puts(b, "</div>\n");
        }
        ts_buf_puts(b, "</section>\n");
    }
}

static char *index_html(const ts_batch_job *job, const task_state *st, const int *counts, int have_curves) {
    ts_buf b = {0};
    char when[64];
    time_t now = time(NULL);
    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", localtime(&now));
    ts_buf_puts(&b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Tessera batch: ");
    ts_buf_escape(&b, job->path);
    ts_buf_printf(&b, "</title>\n<style>%s</style></head>\n<body>\n<h1>Tessera batch: ", CSS);
    ts_buf_escape(&b, job->path);
    ts_buf_printf(&b,
                  "</h1>\n<p class=\"meta\">%d tasks: <span class=\"s-done\">%d done</span>, <span class=\"s-failed\">%d "
                  "failed</span>, <span class=\"s-pending\">%d pending</span> &middot; updated %s &middot; "
                  "<a href=\"manifest.json\">manifest.json</a></p>\n",
                  job->ntasks, counts[TS_TASK_DONE], counts[TS_TASK_FAILED], counts[TS_TASK_PENDING], when);
    int nr = ts_batch_random_weight_tasks(job);
    if (nr)
        ts_buf_printf(&b,
                      "<p class=\"meta\">%d of %d tasks use the random stand-in network, not ImageNet weights: style "
                      "transfer is visibly weaker than with real VGG weights.</p>\n",
                      nr, job->ntasks);
    ts_buf_puts(&b, "<h2>Contact sheet</h2>\n");
    contact_sheet(job, st, &b);
    ts_buf_puts(&b, "<h2>Loss curves</h2>\n");
    if (have_curves) ts_buf_puts(&b, "<p><img src=\"losses.svg\" alt=\"loss curves of every finished task\"></p>\n");
    ts_buf_puts(&b, "<div class=\"curves\">\n");
    for (int t = 0; t < job->ntasks; t++)
        if (st[t].status == TS_TASK_DONE)
            ts_buf_printf(&b, "<a href=\"%s/loss.svg\"><img src=\"%s/loss.svg\" alt=\"loss curve of %s\"></a>\n",
                          job->tasks[t].name, job->tasks[t].name, job->tasks[t].name);
    ts_buf_puts(&b, "</div>\n<h2>Tasks</h2>\n<table class=\"list\"><tr><th>#</th><th>name</th><th>status</th>"
                    "<th>loss</th><th>seconds</th><th>parameters</th></tr>\n");
    for (int t = 0; t < job->ntasks; t++) {
        const char *s = status_name(st[t].status);
        ts_buf_printf(&b, "<tr><td>%d</td><td><a href=\"#t-%s\">%s</a></td><td class=\"s-%s\">%s</td><td>", t,
                      job->tasks[t].name, job->tasks[t].name, s, s);
        if (isfinite(st[t].loss)) ts_buf_printf(&b, "%.6g", st[t].loss);
        ts_buf_puts(&b, "</td><td>");
        if (isfinite(st[t].seconds)) ts_buf_printf(&b, "%.1f", st[t].seconds);
        ts_buf_puts(&b, "</td><td><code>");
        ts_buf_escape(&b, job->tasks[t].params_json);
        ts_buf_puts(&b, "</code></td></tr>\n");
    }
    ts_buf_puts(&b, "</table>\n</body></html>\n");
    return b.s;
}

/* ---------- writing ---------- */

static int write_text(const ts_batch_job *job, const char *file, const char *text, ts_err *err) {
    size_t n = strlen(job->output_dir) + strlen(file) + 2;
    char *p = ts_malloc(n);
    snprintf(p, n, "%s/%s", job->output_dir, file);
    int rc = ts_file_write_atomic(p, text, strlen(text), err);
    free(p);
    return rc;
}

static int combined_curves(const ts_batch_job *job, const task_state *st, ts_err *err) {
    ts_loss_curve *c = ts_calloc((size_t)job->ntasks, sizeof *c);
    const char **labels = ts_calloc((size_t)job->ntasks, sizeof(char *));
    int n = 0, rc = 0;
    for (int t = 0; t < job->ntasks; t++) {
        if (st[t].status != TS_TASK_DONE) continue;
        char *log = ts_batch_task_path(job, t, "log.jsonl");
        if (ts_loss_curve_read(log, &c[n], NULL) == 0) labels[n++] = job->tasks[t].name;
        free(log);
    }
    if (n > 0) {
        size_t len = strlen(job->output_dir) + 16;
        char *p = ts_malloc(len);
        snprintf(p, len, "%s/losses.svg", job->output_dir);
        rc = ts_loss_plot_svg(p, "loss of every finished task", c, labels, n, err);
        free(p);
    }
    for (int i = 0; i < n; i++) ts_loss_curve_free(&c[i]);
    free(c);
    free(labels);
    return rc ? -1 : n;
}

int ts_summary_write(const ts_batch_job *job, ts_err *err) {
    if (ts_mkdirs(job->output_dir, err)) return -1;
    size_t n = strlen(job->output_dir) + 8;
    char *lockp = ts_malloc(n);
    snprintf(lockp, n, "%s/.lock", job->output_dir);
    int fd = open(lockp, O_RDWR | O_CREAT, 0666);
    free(lockp);
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    if (fd >= 0) (void)fcntl(fd, F_SETLKW, &fl); /* best effort: without a lock the last writer wins */

    task_state *st = ts_calloc((size_t)job->ntasks, sizeof *st);
    int counts[3] = {0, 0, 0};
    for (int t = 0; t < job->ntasks; t++) {
        st[t].status = ts_summary_task_status(job, t, &st[t].loss, &st[t].seconds, &st[t].error);
        counts[st[t].status]++;
    }
    char *manifest = manifest_json(job, st, counts);
    int rc = write_text(job, "manifest.json", manifest, err);
    free(manifest);
    int curves = rc == 0 ? combined_curves(job, st, err) : 0;
    if (curves < 0) rc = -1;
    if (rc == 0) {
        char *html = index_html(job, st, counts, curves > 0);
        rc = write_text(job, "index.html", html, err);
        free(html);
    }
    for (int t = 0; t < job->ntasks; t++) free(st[t].error);
    free(st);
    if (fd >= 0) close(fd); /* releases the lock */
    return rc;
}
