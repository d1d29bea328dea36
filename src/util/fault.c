/* fault.c - environment-driven fault injection (see fault.h). */
#include "tessera/fault.h"

#include <math.h>
#include <stdlib.h>

double ts_fault_loss(double f, int iter) {
    const char *e = getenv("TESSERA_FAULT_NAN_AT");
    return e && *e && atoi(e) == iter ? NAN : f;
}
