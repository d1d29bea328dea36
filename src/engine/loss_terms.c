/* loss_terms.c - the table of loss terms, in the order of log lines, grad's JSON and the packed
 * partial sums. A new term: its file defines a ts_loss_term (loss_term.h) and gets a row here; its
 * weight is the option --<name>-weight (src/app/options.c, the next loss_weight slot). */
#include <string.h>

#include "loss_term.h"

extern const ts_loss_term ts_loss_content, ts_loss_style, ts_loss_tv;

static const ts_loss_term *const TERMS[] = {&ts_loss_content, &ts_loss_style, &ts_loss_tv};
#define NTERMS ((int)(sizeof TERMS / sizeof TERMS[0]))
_Static_assert(NTERMS <= TS_MAX_LOSS_TERMS, "raise TS_MAX_LOSS_TERMS");

int ts_loss_nterms(void) { return NTERMS; }

const ts_loss_term *ts_loss_term_get(int t) {
    TS_CHECK(t >= 0 && t < NTERMS, "loss term %d of %d", t, NTERMS);
    return TERMS[t];
}

const char *ts_loss_term_name(int t) { return ts_loss_term_get(t)->name; }

int ts_loss_term_find(const char *name) {
    for (int t = 0; t < NTERMS; t++)
        if (strcmp(TERMS[t]->name, name) == 0) return t;
    return -1;
}
