/* loss_term.h - private to the objective: what a loss term is (a row of src/engine/loss_terms.c).
 *
 * An evaluation runs the network forward, then each term's forward adds its partial sums over the
 * owned region (ts_loss_region) into its slice of the packed partials; tiled runs add the slices of
 * every tile; then each term's energy forms E_t from the totals, and the backward pass asks each term
 * for its gradient at the layers it reads (inject) and on the image itself (image_grad). */
#ifndef TESSERA_LOSS_TERM_H
#define TESSERA_LOSS_TERM_H

#include "tessera/loss.h"

typedef struct {
    const char *name; /* key of log lines and grad's JSON; its weight is the option --<name>-weight */
    /* its state in obj->state[t] (NULL: none) and the release of it */
    void *(*init)(ts_objective *obj);
    void (*free)(ts_objective *obj, void *state);
    size_t (*npartials)(const ts_objective *obj);
    /* after the network's forward pass over x: ADDS this tile's partial sums */
    void (*forward)(ts_objective *obj, void *state, const float *x, double *partials);
    /* E_t (unweighted) from the summed partials; it may keep what its gradient needs */
    double (*energy)(ts_objective *obj, void *state, const double *totals);
    /* adds weight * dE_t/d(out) of layer l into grad (NULL: the term reads no layer) */
    void (*inject)(ts_objective *obj, void *state, int l, double weight, float *grad);
    /* adds weight * dE_t/dx into the image gradient (NULL: it does not read the image directly) */
    void (*image_grad)(ts_objective *obj, void *state, const float *x, double weight, float *grad);
} ts_loss_term;

const ts_loss_term *ts_loss_term_get(int t);

/* The rect a term reads at layer l (l < 0: the image) in the local tensor, and the global position
 * count M it is normalised by: the owned part in a tiled run, else the whole tensor. */
ts_rect ts_loss_region(const ts_objective *obj, int l, double *M);
/* the output of layer l */
static inline const ts_layer *ts_loss_layer(const ts_objective *obj, int l) { return &obj->net->layers[l]; }

#endif
