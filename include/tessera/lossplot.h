/* lossplot.h - loss curves from --log files (JSON lines) as self-contained SVG: loss against
 * iteration on a log-scale y axis, labelled axes, one polyline per log. */
#ifndef TESSERA_LOSSPLOT_H
#define TESSERA_LOSSPLOT_H

#include "tessera/check.h"

typedef struct {
    int n;
    int *iteration;
    int *scale;
    double *loss; /* the total; lines of one iteration (the tiles of independent mode) are added */
} ts_loss_curve;

/* Reads a --log file. A missing file gives -1 (err); lines that are not log lines are skipped. */
int ts_loss_curve_read(const char *path, ts_loss_curve *c, ts_err *err);
void ts_loss_curve_free(ts_loss_curve *c);

/* Writes the curves to svg_path atomically. labels[i] names curve i in a legend (shown when there
 * are several). Curves without points are left out; with no points at all the plot says so. */
int ts_loss_plot_svg(const char *svg_path, const char *title, const ts_loss_curve *curves, const char *const *labels,
                     int ncurves, ts_err *err);

#endif
