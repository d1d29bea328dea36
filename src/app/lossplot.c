/* lossplot.c - SVG loss curves (log-scale y) from --log files. */
#include "tessera/lossplot.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tessera/files.h"

int ts_loss_curve_read(const char *path, ts_loss_curve *c, ts_err *err) {
    memset(c, 0, sizeof *c);
    char *text = ts_file_read(path, (size_t)1 << 30, NULL, err);
    if (!text) return -1;
    int cap = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        cJSON *j = cJSON_Parse(line);
        const cJSON *it = cJSON_GetObjectItemCaseSensitive(j, "iteration");
        const cJSON *tot = cJSON_GetObjectItemCaseSensitive(j, "total");
        const cJSON *sc = cJSON_GetObjectItemCaseSensitive(j, "scale");
        if (cJSON_IsNumber(it) && cJSON_IsNumber(tot)) {
            int i = it->valueint;
            if (c->n > 0 && c->iteration[c->n - 1] == i) {
                c->loss[c->n - 1] += tot->valuedouble; /* another tile of the same iteration */
            } else {
                if (c->n == cap) {
                    cap = cap ? cap * 2 : 256;
                    c->iteration = ts_realloc(c->iteration, sizeof(int) * (size_t)cap);
                    c->scale = ts_realloc(c->scale, sizeof(int) * (size_t)cap);
                    c->loss = ts_realloc(c->loss, sizeof(double) * (size_t)cap);
                }
                c->iteration[c->n] = i;
                c->scale[c->n] = cJSON_IsNumber(sc) ? sc->valueint : 1;
                c->loss[c->n] = tot->valuedouble;
                c->n++;
            }
        }
        cJSON_Delete(j);
    }
    free(text);
    return 0;
}

void ts_loss_curve_free(ts_loss_curve *c) {
    free(c->iteration);
    free(c->scale);
    free(c->loss);
    memset(c, 0, sizeof *c);
}

static const char *const PALETTE[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                      "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
#define NPAL ((int)(sizeof PALETTE / sizeof PALETTE[0]))
#define MAX_LEGEND 24

/* 1, 2 or 5 times a power of ten, about range/want */
static double nice_step(double range, int want) {
    double raw = range / want, p = pow(10.0, floor(log10(raw))), m = raw / p;
    return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
}

static void decade_label(int e, char *out, size_t n) {
    if (e >= 0 && e <= 3) snprintf(out, n, "%d", (int)lround(pow(10.0, e)));
    else if (e < 0 && e >= -3) snprintf(out, n, "%.*f", -e, pow(10.0, e));
    else snprintf(out, n, "1e%d", e);
}

int ts_loss_plot_svg(const char *svg_path, const char *title, const ts_loss_curve *curves, const char *const *labels,
                     int ncurves, ts_err *err) {
    int legend = ncurves > 1;
    const double W = legend ? 760 : 480, H = 300, ml = 70, mr = legend ? 260 : 18, mt = 30, mb = 46;
    const double pw = W - ml - mr, ph = H - mt - mb;
    int xmax = 1, npos = 0;
    double lmin = INFINITY, lmax = -INFINITY;
    for (int c = 0; c < ncurves; c++)
        for (int i = 0; i < curves[c].n; i++) {
            if (curves[c].iteration[i] > xmax) xmax = curves[c].iteration[i];
            double v = curves[c].loss[i];
            if (v > 0 && isfinite(v)) {
                npos++;
                if (v < lmin) lmin = v;
                if (v > lmax) lmax = v;
            }
        }
    int e0 = npos ? (int)floor(log10(lmin)) : 0, e1 = npos ? (int)ceil(log10(lmax)) : 1;
    if (e1 <= e0) e1 = e0 + 1;
    ts_buf b = {0};
    ts_buf_printf(&b,
                  "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
                  "font-family=\"sans-serif\" font-size=\"11\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
                  W, H, W, H);
    ts_buf_puts(&b, "<text x=\"");
    ts_buf_printf(&b, "%.0f\" y=\"18\" font-size=\"13\" text-anchor=\"middle\">", ml + pw / 2);
    ts_buf_escape(&b, title);
    ts_buf_puts(&b, "</text>\n");
    /* y: decades */
    int every = (e1 - e0 + 7) / 8;
    for (int e = e0; e <= e1; e++) {
        double y = mt + ph * (1.0 - (double)(e - e0) / (e1 - e0));
        ts_buf_printf(&b, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", ml, ml + pw, y, y);
        if ((e - e0) % every == 0) {
            char lab[32];
            decade_label(e, lab, sizeof lab);
            ts_buf_printf(&b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n", ml - 5, y + 4, lab);
        }
    }
    /* x: iterations */
    double step = nice_step(xmax > 1 ? xmax - 1 : 1, 5);
    if (step < 1) step = 1;
    for (double x = 0; x <= xmax + 1e-9; x += step) {
        double px = ml + pw * (xmax > 1 ? (x - 1) / (xmax - 1) : 0.5);
        if (x < 1) continue;
        ts_buf_printf(&b, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>\n", px, px, mt, mt + ph);
        ts_buf_printf(&b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.0f</text>\n", px, mt + ph + 15, x);
    }
    ts_buf_printf(&b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#444\"/>\n", ml,
                  mt, pw, ph);
    ts_buf_printf(&b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">iteration</text>\n", ml + pw / 2, H - 10);
    ts_buf_printf(&b,
                  "<text x=\"16\" y=\"%.1f\" text-anchor=\"middle\" transform=\"rotate(-90 16 %.1f)\">loss (total, log "
                  "scale)</text>\n",
                  mt + ph / 2, mt + ph / 2);
    if (!npos)
        ts_buf_printf(&b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" fill=\"#888\">no iterations logged</text>\n",
                      ml + pw / 2, mt + ph / 2);
    int shown = 0;
    for (int c = 0; c < ncurves; c++) {
        const ts_loss_curve *k = &curves[c];
        const char *col = PALETTE[c % NPAL];
        if (!k->n) continue;
        /* scale changes of a single curve: dashed lines */
        for (int i = 1; i < k->n && ncurves == 1; i++)
            if (k->scale[i] != k->scale[i - 1]) {
                double px = ml + pw * (xmax > 1 ? (k->iteration[i] - 1.0) / (xmax - 1) : 0.5);
                ts_buf_printf(&b,
                              "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#999\" "
                              "stroke-dasharray=\"4 3\"/>\n",
                              px, px, mt, mt + ph);
            }
        ts_buf_printf(&b, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" points=\"", col);
        for (int i = 0; i < k->n; i++) {
            double v = k->loss[i];
            if (!(v > 0) || !isfinite(v)) continue;
            double px = ml + pw * (xmax > 1 ? (k->iteration[i] - 1.0) / (xmax - 1) : 0.5);
            double py = mt + ph * (1.0 - (log10(v) - e0) / (e1 - e0));
            ts_buf_printf(&b, "%.1f,%.1f ", px, py);
        }
        ts_buf_puts(&b, "\"/>\n");
        if (legend && labels && shown < MAX_LEGEND) {
            double y = mt + 8 + 14.0 * shown;
            ts_buf_printf(&b, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2\"/>\n",
                          ml + pw + 10, ml + pw + 26, y - 4, y - 4, col);
            ts_buf_printf(&b, "<text x=\"%.1f\" y=\"%.1f\">", ml + pw + 30, y);
            char lab[48];
            snprintf(lab, sizeof lab, "%s", labels[c]);
            if (strlen(labels[c]) > 40) strcpy(lab + 38, "..");
            ts_buf_escape(&b, lab);
            ts_buf_puts(&b, "</text>\n");
        }
        shown++;
    }
    if (legend && shown > MAX_LEGEND)
        ts_buf_printf(&b, "<text x=\"%.1f\" y=\"%.1f\">and %d more</text>\n", ml + pw + 30, mt + 8 + 14.0 * MAX_LEGEND,
                      shown - MAX_LEGEND);
    ts_buf_puts(&b, "</svg>\n");
    int rc = ts_file_write_atomic(svg_path, b.s, b.len, err);
    ts_buf_free(&b);
    return rc;
}
