/* test.h - the smallest test harness that really asserts.
 * TS_EXPECT(cond, fmt, ...) counts a pass or prints "NOT OK file:line: ..." and counts a failure.
 * ts_test_summary() prints "N passed, N failed" and returns the exit status (non-zero on failure). */
#ifndef TESSERA_TEST_H
#define TESSERA_TEST_H

#include <math.h>
#include <stdio.h>

static int ts_test_passed, ts_test_failed;

#define TS_EXPECT(cond, ...)                                                                       \
    do {                                                                                           \
        if (cond) {                                                                                \
            ts_test_passed++;                                                                      \
        } else {                                                                                   \
            ts_test_failed++;                                                                      \
            printf("NOT OK %s:%d: ", __FILE__, __LINE__);                                          \
            printf(__VA_ARGS__);                                                                   \
            printf("\n");                                                                          \
            fflush(stdout);                                                                        \
        }                                                                                          \
    } while (0)

/* relative difference |a-b| / max(|a|,|b|,floor) */
static inline double ts_test_rel(double a, double b, double floor_) {
    double m = fabs(a) > fabs(b) ? fabs(a) : fabs(b);
    if (m < floor_) m = floor_;
    return fabs(a - b) / m;
}

static inline int ts_test_summary(void) {
    printf("%d passed, %d failed\n", ts_test_passed, ts_test_failed);
    return ts_test_failed ? 1 : 0;
}

#endif
