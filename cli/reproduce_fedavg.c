/* reproduce_fedavg.c — `digitnet reproduce --experiment fedavg`: McMahan et
 * al. 2017 ("Communication-Efficient Learning of Deep Networks from
 * Decentralized Data"), Table 1, the MNIST 2NN rows with E = 1, B = 10:
 * rounds of FedAvg to first reach a target test accuracy (97 %) for each
 * client fraction C, IID and pathological non-IID (2 label shards per
 * client), the learning rate tuned per cell on a grid.
 *
 * A cell (partition, C) is one job: its rates are tried one after another
 * (the grid's middle first, then outwards), each a run of the library's
 * loop (dn_mlp_run over dn_fedavg_clients_round) that evaluates the test
 * set after every round and stops at the target. A rate that has used as
 * many rounds as the best so far without reaching it cannot win and is
 * stopped there. Cells run in --jobs worker processes (fork: the data is
 * loaded once and shared); each writes a CSV per rate and a result file,
 * and the parent draws the figures and writes the report from them. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "reproduce_fedavg.h"
#include "report.h"
#include "worker_pool.h"

#define MAX_LIST 16       /* fractions or rates */
#define PARTITIONS 2      /* iid, shards:2 */
#define CLIENTS 100
#define PAPER_TARGET 0.97 /* the paper's Table 1 target for the 2NN */

static const char *const partition_specs[PARTITIONS] = {"iid", "shards:2"};
static const char *const partition_names[PARTITIONS] = {"IID", "non-IID (2 shards per client)"};
static const char *const partition_stems[PARTITIONS] = {"iid", "noniid"};

/* Table 1 of the paper, 2NN, E = 1, B = 10, rounds to 97 %. */
static const double paper_fractions[5] = {0, 0.1, 0.2, 0.5, 1.0};
static const int paper_rounds[PARTITIONS][5] = {{316, 87, 77, 75, 70}, {3275, 664, 619, 443, 380}};

typedef struct fed_experiment {
    const char *data, *out, *fractions_text, *rates_text;
    int quick, max_rounds, jobs, quiet;
    double target;
    uint64_t seed;
    double fractions[MAX_LIST], rates[MAX_LIST];
    int nfractions, nrates;
} fed_experiment;

/* One rate's run in a cell. */
typedef struct rate_result {
    double lr;
    int reached;    /* first round at the target, 0 when not reached */
    int rounds_run; /* rounds trained (stopped at the target or the cap) */
    double seconds; /* wall time: training and the evaluations */
} rate_result;

typedef struct fed_cell {
    int partition; /* index into partition_specs */
    double fraction;
    rate_result rates[MAX_LIST];
    int nrates;
    int best; /* index into rates of the fewest rounds to the target, −1 if none */
} fed_cell;

/* ------------------------------------------------------------- the options */

/* "0,0.1,1" into out (at most MAX_LIST values within [lo, hi], lo excluded
 * when lo_open). */
static dn_status parse_list(const char *flag, const char *text, double lo, double hi, int lo_open, double *out,
                            int *count, dn_error *err)
{
    const char *p = text;
    *count = 0;
    while (*p) {
        char *end;
        errno = 0;
        double v = strtod(p, &end);
        if (end == p || errno || !(lo_open ? v > lo : v >= lo) || v > hi || (*end && *end != ','))
            return cli_fail(err, DN_ERR_USAGE, "%s %s: expected numbers in %c%g, %g] separated by commas", flag, text,
                            lo_open ? '(' : '[', lo, hi);
        if (*count == MAX_LIST) return cli_fail(err, DN_ERR_USAGE, "%s %s: at most %d values", flag, text, MAX_LIST);
        out[(*count)++] = v;
        p = *end ? end + 1 : end;
    }
    if (*count == 0) return cli_fail(err, DN_ERR_USAGE, "%s: no values given", flag);
    return DN_OK;
}

/* ------------------------------------------------------------- one rate */

typedef struct rate_run {
    const dn_mlp *mlp;
    const dn_dataset *test;
    FILE *csv;
    double target;
    int reached, rounds;
    const char *cell;
    double lr;
    int quiet;
    dn_error err; /* an evaluation failure */
} rate_run;

static int on_round(const dn_mlp_run_report *r, void *user)
{
    rate_run *run = user;
    dn_mlp_eval test;
    if (dn_mlp_evaluate(run->mlp, run->test, &test, &run->err)) return 1;
    const dn_fedavg_report *f = r->round;
    fprintf(run->csv, "%d,%.6f,%.6f,%.6f,%.6f,%.4f,%zu\n", r->step, 1 - test.accuracy, test.accuracy, test.loss,
            f->train_loss, f->seconds, f->clients_reported);
    run->rounds = r->step;
    if (!run->quiet && r->step % 100 == 0)
        fprintf(stderr, "  %s lr %g: round %d, test accuracy %.2f%%\n", run->cell, run->lr, r->step,
                100 * test.accuracy);
    if (test.accuracy >= run->target) run->reached = r->step;
    return run->reached != 0;
}

/* McMahan et al.'s 2NN: 784-200-200-10 ReLU, plain SGD at a constant rate,
 * batch B = 10, one thread (the jobs use the cores). */
static dn_mlp *network(double lr, uint64_t seed, dn_error *err)
{
    dn_mlp_options o;
    dn_mlp_options_default(&o);
    if (dn_mlp_parse_hidden("200,200", &o, err)) return NULL;
    o.lr = lr, o.batch = 10, o.momentum = 0, o.schedule = DN_SCHEDULE_NONE;
    o.seed = seed, o.threads = 1;
    return dn_mlp_create(&o, err);
}

static dn_status rate_csv_path(const fed_experiment *ex, const fed_cell *c, double lr, char *buf, size_t size,
                               dn_error *err)
{
    int n = snprintf(buf, size, "%s/%s_C%g_lr%g.csv", ex->out, partition_stems[c->partition], c->fraction, lr);
    return n > 0 && (size_t)n < size ? DN_OK : cli_fail(err, DN_ERR_USAGE, "%s: path too long", ex->out);
}

/* One rate of a cell: at most cap rounds, stopped at the target. */
static dn_status run_rate(const fed_experiment *ex, fed_cell *c, const dn_partition *part, const dn_dataset *train,
                          const dn_dataset *test, rate_result *res, int cap, dn_error *err)
{
    char cell[64], path[4096];
    snprintf(cell, sizeof cell, "%s C=%g", partition_stems[c->partition], c->fraction);
    dn_mlp *mlp = network(res->lr, ex->seed, err);
    if (!mlp) return err->code;
    cli_text csv = {0};
    rate_run run = {mlp, test, NULL, ex->target, 0, 0, cell, res->lr, ex->quiet, {0}};
    dn_status s = rate_csv_path(ex, c, res->lr, path, sizeof path, err);
    if (!s && cli_text_open(&csv)) s = cli_fail(err, DN_ERR_NOMEM, "out of memory");
    dn_mlp_run_options o;
    dn_mlp_run_options_default(&o);
    o.mode = DN_MLP_RUN_FEDAVG, o.rounds = cap, o.on_step = on_round, o.user = &run;
    o.clients = part, o.client_fraction = c->fraction, o.client_seed = ex->seed;
    double t0 = cli_now_seconds();
    dn_mlp_run *loop = s ? NULL : dn_mlp_run_create(mlp, &o, train, err);
    if (!s && !loop) s = err->code;
    if (!s) {
        run.csv = csv.fp;
        fprintf(csv.fp, "round,test_error,test_accuracy,test_loss,train_loss,seconds,clients_reported\n");
        s = dn_mlp_run_train(loop, err);
        if (!s && run.err.code) *err = run.err, s = run.err.code;
    }
    res->seconds = cli_now_seconds() - t0, res->reached = run.reached, res->rounds_run = run.rounds;
    if (!s) s = cli_text_commit(&csv, path, err);
    else if (csv.fp) fclose(csv.fp), free(csv.buffer);
    dn_mlp_run_free(loop);
    dn_mlp_free(mlp);
    return s;
}

/* The grid's middle (the upper one of an even grid) first, then outwards,
 * the lower neighbour before the upper: order[i] indexes ex->rates. */
static void search_order(int n, int *order)
{
    int mid = n / 2, k = 0;
    order[k++] = mid;
    for (int d = 1; k < n; d++) {
        if (mid - d >= 0) order[k++] = mid - d;
        if (mid + d < n && k < n) order[k++] = mid + d;
    }
}

static dn_status run_cell(const fed_experiment *ex, fed_cell *c, const dn_dataset *train, const dn_dataset *test,
                          dn_error *err)
{
    dn_partition_spec spec;
    dn_status s = dn_partition_parse(partition_specs[c->partition], &spec, err);
    dn_partition *part = s ? NULL : dn_partition_make(train, train->count, CLIENTS, &spec, ex->seed, err);
    if (!part) return err->code;
    int order[MAX_LIST];
    search_order(ex->nrates, order);
    c->nrates = ex->nrates, c->best = -1;
    for (int i = 0; i < ex->nrates && !s; i++) {
        rate_result *res = &c->rates[order[i]];
        res->lr = ex->rates[order[i]];
        int cap = c->best >= 0 ? c->rates[c->best].reached : ex->max_rounds;
        s = run_rate(ex, c, part, train, test, res, cap, err);
        if (!s && res->reached && (c->best < 0 || res->reached < c->rates[c->best].reached)) c->best = order[i];
        /* (load_cell picks the reported rate: ties go to the first of the grid) */
        if (!s && !ex->quiet)
            fprintf(stderr, "%s C=%g lr %g: %s%d rounds (%.1f s)\n", partition_stems[c->partition], c->fraction,
                    res->lr, res->reached ? "target reached in " : "target not reached, stopped after ",
                    res->reached ? res->reached : res->rounds_run, res->seconds);
    }
    dn_partition_free(part);
    return s;
}

/* ---------------------------------------------- cells in worker processes */

static dn_status result_path(const fed_experiment *ex, const fed_cell *c, char *buf, size_t size, dn_error *err)
{
    int n = snprintf(buf, size, "%s/%s_C%g.result", ex->out, partition_stems[c->partition], c->fraction);
    return n > 0 && (size_t)n < size ? DN_OK : cli_fail(err, DN_ERR_USAGE, "%s: path too long", ex->out);
}

/* The cell's rates, one line each: "lr reached rounds_run seconds". */
static dn_status save_cell(const fed_experiment *ex, const fed_cell *c, dn_error *err)
{
    char path[4096];
    cli_text t = {0};
    dn_status s = result_path(ex, c, path, sizeof path, err);
    if (!s && cli_text_open(&t)) s = cli_fail(err, DN_ERR_NOMEM, "out of memory");
    if (s) return s;
    for (int i = 0; i < c->nrates; i++)
        fprintf(t.fp, "%.17g %d %d %.3f\n", c->rates[i].lr, c->rates[i].reached, c->rates[i].rounds_run,
                c->rates[i].seconds);
    return cli_text_commit(&t, path, err);
}

static dn_status load_cell(const fed_experiment *ex, fed_cell *c, dn_error *err)
{
    char path[4096];
    dn_status s = result_path(ex, c, path, sizeof path, err);
    FILE *fp = s ? NULL : fopen(path, "r");
    if (s) return s;
    if (!fp) return cli_fail(err, DN_ERR_IO, "%s: cannot open (%s)", path, strerror(errno));
    c->nrates = 0, c->best = -1;
    rate_result r;
    while (c->nrates < MAX_LIST && fscanf(fp, "%lf %d %d %lf", &r.lr, &r.reached, &r.rounds_run, &r.seconds) == 4) {
        if (r.reached && (c->best < 0 || r.reached < c->rates[c->best].reached)) c->best = c->nrates;
        c->rates[c->nrates++] = r;
    }
    fclose(fp);
    if (c->nrates != ex->nrates)
        return cli_fail(err, DN_ERR_INPUT, "%s: %d rates, expected %d (a worker failed?)", path, c->nrates, ex->nrates);
    return DN_OK;
}

/* A worker: one cell, its files, its exit code. */
static int cell_worker(const fed_experiment *ex, fed_cell *c, const dn_dataset *train, const dn_dataset *test)
{
    dn_error err = {0};
    dn_status s = run_cell(ex, c, train, test, &err);
    if (!s) s = save_cell(ex, c, &err);
    return s ? cli_report(&err) : CLI_EXIT_OK;
}

/* The paper's rounds for (partition, C), or 0 when it has no such cell. */
static int paper_cell(int partition, double fraction)
{
    for (int i = 0; i < 5; i++)
        if (fabs(paper_fractions[i] - fraction) < 1e-9) return paper_rounds[partition][i];
    return 0;
}

/* Work of a cell, roughly: client updates to the target (the paper's
 * rounds, or 1000) — the costliest cells start first. */
static double cell_cost(const fed_cell *c)
{
    int rounds = paper_cell(c->partition, c->fraction);
    return (double)(rounds ? rounds : 1000) * (double)dn_fedavg_sample_count(CLIENTS, c->fraction);
}

static void launch_order(const fed_cell *cells, int count, int *order)
{
    for (int i = 0; i < count; i++) order[i] = i;
    for (int i = 1; i < count; i++) /* insertion sort, costliest first */
        for (int j = i; j > 0 && cell_cost(&cells[order[j]]) > cell_cost(&cells[order[j - 1]]); j--) {
            int t = order[j];
            order[j] = order[j - 1], order[j - 1] = t;
        }
}

/* The pool's job: cell `job` of the run's cells. */
typedef struct cell_pool {
    const fed_experiment *ex;
    fed_cell *cells;
    const dn_dataset *train, *test;
} cell_pool;

static int pool_job(int job, void *context)
{
    cell_pool *pool = context;
    return cell_worker(pool->ex, &pool->cells[job], pool->train, pool->test);
}

/* Runs every cell, the costliest first, at most ex->jobs at once. */
static int run_cells(const fed_experiment *ex, fed_cell *cells, int count, const dn_dataset *train,
                     const dn_dataset *test)
{
    int order[PARTITIONS * MAX_LIST];
    launch_order(cells, count, order);
    cell_pool pool = {ex, cells, train, test};
    return worker_pool_run(order, count, ex->jobs, pool_job, &pool);
}

/* ----------------------------------------------------- figures and report */

/* The test-accuracy column of a rate's CSV (as run_rate wrote it). */
static dn_status read_curve(const char *path, double **acc, size_t *n, dn_error *err)
{
    FILE *fp = fopen(path, "r");
    if (!fp) return cli_fail(err, DN_ERR_IO, "%s: cannot open (%s)", path, strerror(errno));
    size_t cap = 256;
    *n = 0, *acc = malloc(cap * sizeof **acc);
    char line[256];
    dn_status s = *acc && fgets(line, sizeof line, fp) ? DN_OK : cli_fail(err, DN_ERR_INPUT, "%s: empty", path);
    while (!s && fgets(line, sizeof line, fp)) {
        int round;
        double error, accuracy;
        if (sscanf(line, "%d,%lf,%lf", &round, &error, &accuracy) != 3 || round != (int)*n + 1) {
            s = cli_fail(err, DN_ERR_INPUT, "%s: line %zu is not round %zu's row", path, *n + 2, *n + 1);
            break;
        }
        if (*n == cap) {
            double *grown = realloc(*acc, 2 * cap * sizeof **acc);
            if (!grown) s = cli_fail(err, DN_ERR_NOMEM, "out of memory");
            else *acc = grown, cap *= 2;
        }
        if (!s) (*acc)[(*n)++] = 100 * accuracy;
    }
    fclose(fp);
    if (s) free(*acc), *acc = NULL;
    return s;
}

/* Accuracy vs rounds for one partition: a line per C, at its chosen rate
 * (or its last rate tried when none reached the target). */
static dn_status plot_partition(const fed_experiment *ex, const fed_cell *cells, int count, int partition,
                                dn_error *err)
{
    dn_plot_series series[MAX_LIST];
    char labels[MAX_LIST][48], path[4096], title[128];
    size_t n = 0;
    dn_status s = DN_OK;
    for (int i = 0; i < count && !s; i++) {
        const fed_cell *c = &cells[i];
        if (c->partition != partition) continue;
        const rate_result *r = &c->rates[c->best >= 0 ? c->best : 0];
        if ((s = rate_csv_path(ex, c, r->lr, path, sizeof path, err))) break;
        double *acc = NULL;
        size_t rounds = 0;
        if ((s = read_curve(path, &acc, &rounds, err))) break;
        snprintf(labels[n], sizeof labels[n], "C = %g (lr %g)", c->fraction, r->lr);
        double *x = malloc(rounds * sizeof *x);
        if (!x) {
            free(acc);
            s = cli_fail(err, DN_ERR_NOMEM, "out of memory");
            break;
        }
        for (size_t k = 0; k < rounds; k++) x[k] = (double)(k + 1);
        series[n] = (dn_plot_series){labels[n], x, acc, rounds};
        n++;
    }
    snprintf(title, sizeof title, "FedAvg 2NN, %s, E = 1, B = 10: test accuracy (target %g%%)",
             partition_names[partition], 100 * ex->target);
    int wrote = snprintf(path, sizeof path, "%s/fedavg_%s.svg", ex->out, partition_stems[partition]);
    if (!s && (wrote < 0 || (size_t)wrote >= sizeof path)) s = cli_fail(err, DN_ERR_USAGE, "%s: path too long", ex->out);
    if (!s && n) {
        dn_plot_options po;
        dn_plot_options_default(&po);
        po.y_from_zero = 0;
        s = dn_plot_lines(path, title, "round", "test accuracy (%)", series, n, &po, err);
    }
    for (size_t i = 0; i < n; i++) free((void *)series[i].x), free((void *)series[i].y);
    return s;
}

static double cell_seconds(const fed_cell *c)
{
    double t = 0;
    for (int i = 0; i < c->nrates; i++) t += c->rates[i].seconds;
    return t;
}

static void write_table(report *rep, const fed_experiment *ex, const fed_cell *cells, int count)
{
    report_table(rep, "partition|C|clients per round|rounds to target|rate chosen|paper (97 %)|ours / paper|"
                      "wall time of the cell");
    for (int i = 0; i < count; i++) {
        const fed_cell *c = &cells[i];
        const rate_result *best = c->best >= 0 ? &c->rates[c->best] : NULL;
        int paper = paper_cell(c->partition, c->fraction);
        char ours[48] = "not reached", rate[32] = "—", paper_text[16] = "—", ratio[16] = "—";
        if (best) snprintf(ours, sizeof ours, "%d", best->reached), snprintf(rate, sizeof rate, "%g", best->lr);
        else snprintf(ours, sizeof ours, "not in %d", ex->max_rounds);
        if (paper) snprintf(paper_text, sizeof paper_text, "%d", paper);
        if (paper && best && ex->target == PAPER_TARGET)
            snprintf(ratio, sizeof ratio, "%.2f", (double)best->reached / paper);
        report_row(rep, "%s|%g|%zu|%s|%s|%s|%s|%.0f s", partition_stems[c->partition], c->fraction,
                   dn_fedavg_sample_count(CLIENTS, c->fraction), ours, rate, paper_text, ratio, cell_seconds(c));
    }
}

static void write_rates(report *rep, const fed_cell *cells, int count)
{
    report_paragraph(rep, "Every rate tried, per cell: the round it first reached the target, or how many rounds it "
                          "ran before it was stopped (a rate is stopped once it has used as many rounds as the "
                          "best rate so far, which it can no longer beat, or at the cap).");
    report_table(rep, "partition|C|rates (round reached, or stopped after)");
    for (int i = 0; i < count; i++) {
        const fed_cell *c = &cells[i];
        char text[512] = "";
        size_t used = 0;
        for (int k = 0; k < c->nrates && used < sizeof text; k++) {
            const rate_result *r = &c->rates[k];
            int n = r->reached ? snprintf(text + used, sizeof text - used, "%slr %g: **%d**", k ? ", " : "", r->lr,
                                          r->reached)
                               : snprintf(text + used, sizeof text - used, "%slr %g: stopped after %d", k ? ", " : "",
                                          r->lr, r->rounds_run);
            if (n > 0) used += (size_t)n;
        }
        report_row(rep, "%s|%g|%s", partition_stems[c->partition], c->fraction, text);
    }
}

/* How the cost grows with C: client updates and wall time per cell. */
static void write_cost(report *rep, const fed_cell *cells, int count)
{
    report_heading(rep, 2, "What a cell costs");
    report_paragraph(rep, "Each round trains m = max(C·K, 1) clients of 600 samples (60 steps of B = 10) and then "
                          "evaluates the 10 000 test images, so a cell's cost is about rounds × (m client updates + "
                          "one evaluation), summed over the rates tried.");
    report_table(rep, "partition|C|client updates (all rates)|wall time|ms per client update, evaluations included");
    for (int i = 0; i < count; i++) {
        const fed_cell *c = &cells[i];
        size_t m = dn_fedavg_sample_count(CLIENTS, c->fraction), rounds = 0;
        for (int k = 0; k < c->nrates; k++) rounds += (size_t)c->rates[k].rounds_run;
        double t = cell_seconds(c);
        report_row(rep, "%s|%g|%zu|%.1f s|%.2f", partition_stems[c->partition], c->fraction, rounds * m, t,
                   rounds ? 1000 * t / (double)(rounds * m) : 0.0);
    }
}

/* The cells of one partition that reached the target with the smallest
 * and the largest C (indices into cells, −1 when none did). */
static void reached_range(const fed_cell *cells, int count, int partition, int *lo, int *hi)
{
    *lo = *hi = -1;
    for (int i = 0; i < count; i++) {
        const fed_cell *c = &cells[i];
        if (c->partition != partition || c->best < 0) continue;
        if (*lo < 0 || c->fraction < cells[*lo].fraction) *lo = i;
        if (*hi < 0 || c->fraction > cells[*hi].fraction) *hi = i;
    }
}

static int rounds_of(const fed_cell *c) { return c->rates[c->best].reached; }

/* What the table says, computed from it: per partition, how the rounds and
 * the cost move from the smallest C to the largest, beside the paper. */
static void write_reading(report *rep, const fed_experiment *ex, const fed_cell *cells, int count)
{
    for (int p = 0; p < PARTITIONS; p++) {
        int lo, hi;
        reached_range(cells, count, p, &lo, &hi);
        if (lo < 0) {
            report_bullet(rep, "%s: no C reached %g %% within %d rounds.", partition_names[p], 100 * ex->target,
                          ex->max_rounds);
            continue;
        }
        const fed_cell *a = &cells[lo], *b = &cells[hi];
        if (lo == hi) {
            report_bullet(rep, "%s: only C = %g reached %g %% (%d rounds).", partition_names[p], a->fraction,
                          100 * ex->target, rounds_of(a));
            continue;
        }
        int pa = paper_cell(p, a->fraction), pb = paper_cell(p, b->fraction);
        char paper[96] = "";
        if (pa && pb && ex->target == PAPER_TARGET)
            snprintf(paper, sizeof paper, " (the paper: %.1f×, %d → %d)", (double)pa / pb, pa, pb);
        double ta = cell_seconds(a), tb = cell_seconds(b);
        report_bullet(rep, "%s: from C = %g to C = %g (%zu → %zu clients a round) the rounds to %g %% fall %.1f× "
                           "(%d → %d)%s, while the cell's wall time %s %.1f× (%.1f s → %.1f s).",
                      partition_names[p], a->fraction, b->fraction, dn_fedavg_sample_count(CLIENTS, a->fraction),
                      dn_fedavg_sample_count(CLIENTS, b->fraction), 100 * ex->target,
                      (double)rounds_of(a) / rounds_of(b), rounds_of(a), rounds_of(b), paper,
                      tb >= ta ? "grows" : "falls", tb >= ta ? tb / ta : ta / tb, ta, tb);
    }
    double least = INFINITY, most = 0;
    for (int i = 0; i < count; i++) {
        int paper = paper_cell(cells[i].partition, cells[i].fraction);
        if (!paper || cells[i].best < 0 || ex->target != PAPER_TARGET) continue;
        double r = (double)rounds_of(&cells[i]) / paper;
        least = fmin(least, r), most = fmax(most, r);
    }
    if (most > 0)
        report_bullet(rep, "Against the paper's cells, ours took %.2f to %.2f of its rounds.", least, most);
}

static dn_status write_fed_report(const fed_experiment *ex, const fed_cell *cells, int count, double wall,
                                  dn_error *err)
{
    report *rep = report_create(ex->out);
    if (!rep) return cli_fail(err, DN_ERR_NOMEM, "out of memory composing the report");
    report_heading(rep, 1, "FedAvg on MNIST: McMahan et al. 2017, Table 1 (2NN, E = 1, B = 10)");
    report_paragraph(rep,
                     "digitnet %s, `digitnet reproduce --experiment fedavg%s`. The paper's MNIST 2NN setting: a "
                     "784-200-200-10 ReLU network (He initialisation, seed %llu), K = %d clients of 600 training "
                     "images each, every round m = max(C·K, 1) clients drawn without replacement, each trains E = 1 "
                     "epoch of plain SGD with batch B = 10 from the global model, and the server takes their mean "
                     "weighted by size (FedAvg). No momentum, no weight decay, no rate decay. IID: the 60 000 images "
                     "shuffled and dealt out; non-IID: sorted by label, cut into 200 shards of 300, 2 shards per "
                     "client (most clients hold 2 digits). After every round the test set is evaluated; a cell's "
                     "number is the first round at %g %% test accuracy. As in the paper the learning rate is tuned "
                     "per cell, here on the grid %s; the rate chosen is the one with the fewest rounds.",
                     DN_VERSION, ex->quick ? " --quick" : "", (unsigned long long)ex->seed, CLIENTS, 100 * ex->target,
                     ex->rates_text);
    write_table(rep, ex, cells, count);
    write_reading(rep, ex, cells, count);
    report_paragraph(rep, "The paper's figures are Table 1's 2NN rows for E = 1, B = 10 (C = 0.0, 0.1, 0.2, 0.5, "
                          "1.0: IID 316, 87, 77, 75, 70; non-IID 3275, 664, 619, 443, 380), as we read them. Its "
                          "rate grid and its initialisation are not ours, so the same trend, not the same counts, "
                          "is what to expect. Whole run: %.0f s of wall time with %d worker "
                          "process%s.", wall, ex->jobs, ex->jobs == 1 ? "" : "es");
    for (int p = 0; p < PARTITIONS; p++) {
        char file[64], caption[160];
        snprintf(file, sizeof file, "fedavg_%s.svg", partition_stems[p]);
        snprintf(caption, sizeof caption, "%s: test accuracy after each round, one line per C at its chosen rate.",
                 partition_names[p]);
        report_figure(rep, file, caption);
    }
    write_rates(rep, cells, count);
    write_cost(rep, cells, count);
    char md[4096], html[4096];
    snprintf(md, sizeof md, "%s/report.md", ex->out);
    snprintf(html, sizeof html, "%s/report.html", ex->out);
    dn_status s = report_write(rep, md, html, err);
    report_free(rep);
    return s;
}

static void print_summary(const fed_cell *cells, int count)
{
    printf("%-8s %5s %16s %6s %6s %9s\n", "cells", "C", "rounds to target", "lr", "paper", "seconds");
    for (int i = 0; i < count; i++) {
        const fed_cell *c = &cells[i];
        const rate_result *best = c->best >= 0 ? &c->rates[c->best] : NULL;
        int paper = paper_cell(c->partition, c->fraction);
        char ours[24] = "-", paper_text[16] = "-", rate[24] = "-";
        if (best) snprintf(ours, sizeof ours, "%d", best->reached), snprintf(rate, sizeof rate, "%g", best->lr);
        if (paper) snprintf(paper_text, sizeof paper_text, "%d", paper);
        printf("%-8s %5g %16s %6s %6s %9.1f\n", partition_stems[c->partition], c->fraction, ours, rate, paper_text,
               cell_seconds(c));
    }
}

/* ------------------------------------------------------------ the command */

static const char *const experiment_names[] = {"pta", "fedavg", "robust", NULL};

const char *const *reproduce_experiments(void) { return experiment_names; }

static dn_status check_experiment(fed_experiment *ex, dn_error *err)
{
    if (!ex->fractions_text) ex->fractions_text = ex->quick ? QUICK_FRACTIONS : FULL_FRACTIONS;
    if (!ex->rates_text) ex->rates_text = ex->quick ? QUICK_RATES : FULL_RATES;
    if (ex->max_rounds == 0) ex->max_rounds = ex->quick ? QUICK_MAX_ROUNDS : FULL_MAX_ROUNDS;
    dn_status s = parse_list("--fractions", ex->fractions_text, 0, 1, 0, ex->fractions, &ex->nfractions, err);
    if (!s) s = parse_list("--lr-grid", ex->rates_text, 0, 100, 1, ex->rates, &ex->nrates, err);
    return s;
}

/* The cells in table order: each partition, each C. */
static int plan_cells(const fed_experiment *ex, fed_cell *cells)
{
    int count = 0;
    for (int p = 0; p < PARTITIONS; p++)
        for (int f = 0; f < ex->nfractions; f++) cells[count++] = (fed_cell){.partition = p, .fraction = ex->fractions[f], .best = -1};
    return count;
}

/* After the workers: their results, the figures, the report. */
static dn_status finish(const fed_experiment *ex, fed_cell *cells, int count, double wall, dn_error *err)
{
    dn_status s = DN_OK;
    for (int i = 0; i < count && !s; i++) s = load_cell(ex, &cells[i], err);
    for (int p = 0; p < PARTITIONS && !s; p++) s = plot_partition(ex, cells, count, p, err);
    if (!s) s = write_fed_report(ex, cells, count, wall, err);
    if (!s) print_summary(cells, count);
    if (!s) printf("wrote %s/report.md, %s/report.html, a CSV per rate and cell, fedavg_iid.svg, fedavg_noniid.svg\n",
                   ex->out, ex->out);
    return s;
}

int reproduce_fedavg_main(int argc, char **argv)
{
    fed_experiment ex = {.data = "data/mnist", .out = "out/fedavg", .jobs = 2, .target = PAPER_TARGET, .seed = 1};
    int experiment = 1;
    const cli_opt opts[] = {
        {"--experiment", CLI_CHOICE, &experiment, "NAME", "which experiment", 0, 0, 0, experiment_names},
        {"--data", CLI_STRING, &ex.data, "DIR", "MNIST-format folder", 0, 0, 0, NULL},
        {"--out", CLI_STRING, &ex.out, "DIR", "where the report, the CSVs and the figures go", 0, 0, 0, NULL},
        {"--quick", CLI_FLAG, &ex.quick, "",
         "C = " QUICK_FRACTIONS " only, rates " QUICK_RATES ", at most " QUICK_MAX_ROUNDS_TEXT " rounds", 0, 0, 0,
         NULL},
        {"--fractions", CLI_STRING, &ex.fractions_text, "LIST",
         "client fractions C, in [0, 1] (0: one client per round) (default " FULL_FRACTIONS ")", 0, 0, 0, NULL},
        {"--lr-grid", CLI_STRING, &ex.rates_text, "LIST",
         "learning rates tried per cell, middle first (default " FULL_RATES ")", 0, 0, 0, NULL},
        {"--target", CLI_DOUBLE, &ex.target, "ACC", "test accuracy a cell must reach", 0, 1, 1, NULL},
        {"--max-rounds", CLI_INT, &ex.max_rounds, "R",
         "rounds a rate may take, 0 = " FULL_MAX_ROUNDS_TEXT " (" QUICK_MAX_ROUNDS_TEXT " with --quick)", 0, 1e6, 0,
         NULL},
        {"--jobs", CLI_INT, &ex.jobs, "J", "cells trained at once, each in its own process", 1, 64, 0, NULL},
        {"--seed", CLI_U64, &ex.seed, "S", "seed of the network, the partitions and the draws", 0, 1.8e19, 0, NULL},
        {"--quiet", CLI_FLAG, &ex.quiet, "", "no progress lines on stderr (results still on stdout)", 0, 0, 0, NULL},
    };
    const cli_spec spec = {"reproduce --experiment fedavg", "",
                           "McMahan et al. 2017, Table 1 (MNIST 2NN, E = 1, B = 10): FedAvg rounds to a test "
                           "accuracy per client fraction C, IID and non-IID, the rate tuned per cell; writes "
                           "DIR/report.md, DIR/report.html, a CSV per run and the figures.",
                           opts, (int)(sizeof opts / sizeof *opts), 0, 0};
    const char *pos[1];
    int npos, rc = cli_parse(&spec, argc, argv, pos, &npos);
    if (rc) return cli_parse_exit_code(rc);
    dn_error err = {0};
    if (check_experiment(&ex, &err)) return cli_report(&err);
    dn_dataset *train = NULL, *test = NULL;
    if ((rc = cli_load_mnist(ex.data, &train, &test))) return rc; /* before the folder: a failed run leaves none */
    if (cli_make_dirs(ex.out, &err)) {
        dn_dataset_free(train), dn_dataset_free(test);
        return cli_report(&err);
    }
    fed_cell cells[PARTITIONS * MAX_LIST];
    int count = plan_cells(&ex, cells);
    double t0 = cli_now_seconds();
    rc = run_cells(&ex, cells, count, train, test);
    if (!rc && finish(&ex, cells, count, cli_now_seconds() - t0, &err)) rc = cli_report(&err);
    dn_dataset_free(train);
    dn_dataset_free(test);
    return rc;
}
