/* test_optim.c - L-BFGS and Adam on problems with known minima; the reduce_sum hook is used for
 * every dot product (so distributed runs can make it an allreduce). The optimiser interface: the
 * table, and a state saved and loaded through state_io continues exactly as the optimiser it came
 * from (what checkpoints rely on); a state of another size is refused. */
#include <stdlib.h>
#include <string.h>

#include "tessera/optim.h"
#include "tessera/rng.h"
#include "test.h"

#define N 200
static double diag[N], target[N];
static int evals;

/* f(x) = 1/2 sum d_i (x_i - t_i)^2, condition number 1e3 */
static double quad(void *ctx, const float *x, float *g) {
    (void)ctx;
    double f = 0;
    for (int i = 0; i < N; i++) {
        double r = x[i] - target[i];
        f += 0.5 * diag[i] * r * r;
        g[i] = (float)(diag[i] * r);
    }
    evals++;
    return f;
}

/* Rosenbrock in pairs: sum 100 (x_{2i+1} - x_{2i}^2)^2 + (1 - x_{2i})^2, minimum 0 at all ones */
static double rosen(void *ctx, const float *x, float *g) {
    (void)ctx;
    double f = 0;
    for (int i = 0; i < N; i += 2) {
        double a = x[i], b = x[i + 1], u = b - a * a;
        f += 100 * u * u + (1 - a) * (1 - a);
        g[i] = (float)(-400 * u * a - 2 * (1 - a));
        g[i + 1] = (float)(200 * u);
    }
    evals++;
    return f;
}

static int hook_calls;
static void count_hook(double *v, int n, void *ctx) {
    (void)v;
    (void)ctx;
    hook_calls += n;
}

/* ---- an in-memory ts_state_io: what a checkpoint file does, in a byte buffer ---- */
typedef struct {
    ts_state_io io;
    unsigned char buf[1 << 16];
    size_t len, pos;
    int ok;
    char mismatch[256];
} memio;

static void mem_bytes(memio *m, void *p, size_t n) {
    if (!m->ok) return;
    if (m->io.loading) {
        if (m->pos + n > m->len) {
            m->ok = 0;
            return;
        }
        memcpy(p, m->buf + m->pos, n);
        m->pos += n;
    } else {
        if (m->len + n > sizeof m->buf) {
            m->ok = 0;
            return;
        }
        memcpy(m->buf + m->len, p, n);
        m->len += n;
    }
}
static void mem_i32(ts_state_io *io, int *v) { mem_bytes((memio *)io, v, sizeof *v); }
static void mem_u64(ts_state_io *io, uint64_t *v) { mem_bytes((memio *)io, v, sizeof *v); }
static void mem_f64(ts_state_io *io, double *v) { mem_bytes((memio *)io, v, sizeof *v); }
static void mem_floats(ts_state_io *io, float *x, size_t n) { mem_bytes((memio *)io, x, sizeof(float) * n); }
static void mem_mismatch(ts_state_io *io, const char *fmt, ...) {
    memio *m = (memio *)io;
    snprintf(m->mismatch, sizeof m->mismatch, "%s", fmt);
    m->ok = 0;
}
static void memio_start(memio *m, int loading) {
    m->io = (ts_state_io){loading, mem_i32, mem_u64, mem_f64, mem_floats, mem_mismatch};
    m->pos = 0;
    m->ok = 1;
    m->mismatch[0] = 0;
    if (!loading) m->len = 0;
}

/* Five steps, save, load into a fresh optimiser; both go on five more steps from the same x: equal */
static void state_round_trip(const ts_backend *be, const char *name) {
    const ts_optimizer *k = ts_optimizer_find(name);
    ts_optim_params p = {.be = be, .n = N, .history = 4, .learning_rate = 0.01};
    float *x = be->alloc(N), *y = be->alloc(N);
    for (int i = 0; i < N; i += 2) x[i] = -1.2f, x[i + 1] = 1.0f;
    ts_optim a, b;
    ts_optim_init(&a, k, &p);
    for (int i = 0; i < 5; i++) ts_optim_step(&a, x, rosen, NULL);
    static memio m;
    memio_start(&m, 0);
    k->state_io(a.state, &m.io);
    TS_EXPECT(m.ok && m.len > sizeof(float) * N, "%s: state saved (%zu bytes)", name, m.len);
    ts_optim_init(&b, k, &p);
    memio_start(&m, 1);
    k->state_io(b.state, &m.io);
    TS_EXPECT(m.ok && m.pos == m.len, "%s: state loaded, every byte read (%zu of %zu)", name, m.pos, m.len);
    memcpy(y, x, sizeof(float) * N);
    for (int i = 0; i < 5; i++) {
        ts_optim_step(&a, x, rosen, NULL);
        ts_optim_step(&b, y, rosen, NULL);
    }
    TS_EXPECT(memcmp(x, y, sizeof(float) * N) == 0, "%s: the loaded state continues bit for bit", name);
    TS_EXPECT(ts_optim_iterations(&a) == ts_optim_iterations(&b) && ts_optim_iterations(&a) == 10 &&
                  ts_optim_evaluations(&a) == ts_optim_evaluations(&b),
              "%s: counters carried (%d/%d iterations, %d/%d evaluations)", name, ts_optim_iterations(&a),
              ts_optim_iterations(&b), ts_optim_evaluations(&a), ts_optim_evaluations(&b));
    /* a state for another vector length is refused */
    ts_optim c;
    ts_optim_params q = p;
    q.n = N / 2;
    ts_optim_init(&c, k, &q);
    memio_start(&m, 1);
    k->state_io(c.state, &m.io);
    TS_EXPECT(!m.ok && m.mismatch[0], "%s: a state of %d values does not load into one of %d", name, N, N / 2);
    ts_optim_free(&a);
    ts_optim_free(&b);
    ts_optim_free(&c);
    TS_EXPECT(a.state == NULL, "%s: ts_optim_free releases the state", name);
    be->free(x);
    be->free(y);
}

static void optimizer_table(void) {
    const ts_optimizer *l = ts_optimizer_find("lbfgs"), *a = ts_optimizer_find("adam");
    TS_EXPECT(l && a && l != a && ts_optimizer_find("sgd") == NULL, "the table finds lbfgs and adam, nothing else");
    TS_EXPECT(l && a && ts_optimizer_by_id(l->id) == l && ts_optimizer_by_id(a->id) == a && l->id != a->id &&
                  ts_optimizer_by_id(0) == NULL,
              "checkpoint ids are distinct, not 0, and lead back to their optimiser");
    TS_EXPECT(strcmp(ts_optimizer_choices(), "lbfgs|adam") == 0, "--optimizer takes the table's names (%s)",
              ts_optimizer_choices());
}

int main(void) {
    const ts_backend *be = ts_backend_cpu();
    be->set_threads(1);
    uint64_t s = 5;
    for (int i = 0; i < N; i++) {
        diag[i] = pow(10.0, 3.0 * i / (N - 1));
        target[i] = ts_rng_uniform(&s) - 0.5;
    }
    float *x = be->alloc(N);

    /* quadratic: L-BFGS converges, every dot product went through the hook */
    ts_lbfgs lb;
    ts_lbfgs_init(&lb, be, N, 10, (ts_reduce_hook){count_hook, NULL});
    double f0 = quad(NULL, x, lb.g);
    int it = 0;
    while (it < 1000 && (!lb.started || lb.f > 1e-10 * f0) && ts_lbfgs_step(&lb, x, quad, NULL) == TS_STEP_OK) it++;
    double err = 0;
    for (int i = 0; i < N; i++) err = fmax(err, fabs(x[i] - target[i]));
    TS_EXPECT(lb.f < 1e-9 * f0 && err < 1e-3, "L-BFGS on a quadratic: f %.3g (from %.3g), max error %.3g after %d iterations",
              lb.f, f0, err, it);
    /* steepest descent needs about kappa * ln(1e10) = 23000 iterations here; CG about sqrt(kappa) * 12 */
    TS_EXPECT(it < 300, "L-BFGS converges at a CG-like rate on a kappa=1e3 quadratic (%d iterations)", it);
    TS_EXPECT(hook_calls > 2 * it, "reduce_sum hook called for the dot products (%d calls, %d iterations)", hook_calls, it);
    ts_lbfgs_free(&lb);

    /* history 1 still converges, more slowly */
    be->fill(0, x, N);
    ts_lbfgs_init(&lb, be, N, 1, (ts_reduce_hook){0});
    it = 0;
    while (it < 2000 && ts_lbfgs_step(&lb, x, quad, NULL) == TS_STEP_OK && lb.f > 1e-8) it++;
    TS_EXPECT(lb.f < 1e-6, "L-BFGS with history 1 on a quadratic: f %.3g after %d iterations", lb.f, it);
    ts_lbfgs_free(&lb);

    /* Rosenbrock: monotone decrease, reaches the minimum */
    be->fill(0, x, N);
    for (int i = 0; i < N; i += 2) x[i] = -1.2f, x[i + 1] = 1.0f;
    ts_lbfgs_init(&lb, be, N, 10, (ts_reduce_hook){0});
    double prev = 1e300;
    int monotone = 1;
    it = 0;
    while (it < 500 && ts_lbfgs_step(&lb, x, rosen, NULL) == TS_STEP_OK) {
        monotone &= lb.f <= prev;
        prev = lb.f;
        it++;
    }
    TS_EXPECT(monotone, "L-BFGS loss never increases (Armijo line search)");
    TS_EXPECT(lb.f < 1e-6, "L-BFGS on Rosenbrock: f %.3g after %d iterations", lb.f, it);
    ts_lbfgs_free(&lb);

    /* Adam on the quadratic (scaled well enough for a fixed step) */
    be->fill(0, x, N);
    for (int i = 0; i < N; i++) diag[i] = 1.0;
    ts_adam ad;
    ts_adam_init(&ad, be, N, 0.01f);
    f0 = quad(NULL, x, ad.g);
    for (int k = 0; k < 2000; k++) ts_adam_step(&ad, x, quad, NULL);
    double f = quad(NULL, x, ad.g);
    TS_EXPECT(f < 1e-4 * f0, "Adam on a quadratic: f %.3g from %.3g", f, f0);
    TS_EXPECT(ad.iter == 2000 && ad.nevals == 2000, "Adam counts steps and evaluations");
    ts_adam_free(&ad);
    be->free(x);

    optimizer_table();
    state_round_trip(be, "lbfgs");
    state_round_trip(be, "adam");
    return ts_test_summary();
}
