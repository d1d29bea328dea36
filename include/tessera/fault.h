/* fault.h - fault injection for the test suite, driven by environment variables so that no test needs a
 * special build:
 *   TESSERA_FAULT_NAN_AT=N   the loss of (global) iteration N reads as NaN, as if the optimisation had
 *                            diverged there (tests the non-finite stop and that the last good checkpoint
 *                            stays).
 */
#ifndef TESSERA_FAULT_H
#define TESSERA_FAULT_H

/* f, or NaN when a fault is asked for at this iteration (1-based, counted over all scales). */
double ts_fault_loss(double f, int iter);

#endif
