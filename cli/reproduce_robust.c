/* reproduce_robust.c — `digitnet reproduce --experiment robust`: which
 * defence of federated averaging survives which attack.
 *
 * The setting: MNIST, K = 100 clients of an IID or Dirichlet(α = 0.5)
 * partition, C = 0.1 (10 clients a round), the 2NN (784-200-200-10 ReLU)
 * with E = 1 local epoch of plain SGD, B = 10, a constant rate. A run is
 * (partition, attack, malicious fraction F, defence), trained --rounds
 * rounds with the test set evaluated after each; no-attack baselines run
 * every defence once per partition. Runs are independent jobs in worker
 * processes (worker_pool.c); each writes its CSV (and, for the detector,
 * its scores) and a result line, from which the parent draws the curves
 * and heat maps and writes the report, whose reading is computed from the
 * numbers.
 *
 * The defences: mean (plain FedAvg), median, trimmed mean (trim 0.3),
 * multi-Krum (f = 3, M = 7), norm clipping (the median update norm),
 * FLTrust (a root set of --root-size samples taken from the training set),
 * and the mean after detection (--detector, flagged clients left out). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "detection_log.h"
#include "report.h"
#include "reproduce_fedavg.h"
#include "reproduce_robust.h"
#include "worker_pool.h"

#define CLIENTS 100
#define FRACTION 0.1
#define MAX_ITEMS 16
#define TARGET 0.95      /* "rounds to 95 %" */
#define HELD_POINTS 2.0  /* a defence holds when within this many points of its no-attack run */
#define BROKE_POINTS 10.0 /* and breaks when this many below */

typedef struct robust_experiment {
    const char *data, *out, *attacks_text, *defences_text, *fractions_text, *partitions_text;
    int quick, rounds, jobs, quiet, detector, report_only;
    size_t root_size, train_size;
    double lr;
    uint64_t seed;
    char attacks[MAX_ITEMS][32], defences[MAX_ITEMS][32], partitions[MAX_ITEMS][32];
    double fractions[MAX_ITEMS];
    int nattacks, ndefences, nfractions, npartitions;
} robust_experiment;

/* One run; attack −1 is the no-attack baseline (F = 0). */
typedef struct robust_run {
    int partition, attack, defence;
    double fraction;
    /* the outcome, from the result file */
    double final_accuracy, best_accuracy, seconds;
    double late_low;  /* the lowest accuracy over the second half of the rounds (from the CSV) */
    int reached;      /* first round at TARGET, 0 if never */
    int refused;      /* rounds whose merge was refused */
    int nonfinite;    /* the final model held a NaN or Inf */
    size_t tp, fp, fn;
} robust_run;

/* ------------------------------------------------------------ the options */

/* Splits "a,b,c" into items (each shorter than 32 characters). */
static dn_status split_list(const char *flag, const char *text, char items[][32], int *count, dn_error *err)
{
    *count = 0;
    for (const char *p = text; *p;) {
        size_t n = strcspn(p, ",");
        if (n == 0 || n >= 32) return cli_fail(err, DN_ERR_USAGE, "%s %s: an empty or overlong item", flag, text);
        if (*count == MAX_ITEMS) return cli_fail(err, DN_ERR_USAGE, "%s %s: at most %d items", flag, text, MAX_ITEMS);
        memcpy(items[*count], p, n);
        items[(*count)++][n] = '\0';
        p += n + (p[n] == ',');
    }
    return *count ? DN_OK : cli_fail(err, DN_ERR_USAGE, "%s: nothing given", flag);
}

static const char *const defence_names[] = {"mean", "median", "trimmed-mean", "multi-krum", "clip", "fltrust",
                                            "mean+detect", NULL};

static int defence_index(const char *name)
{
    for (int i = 0; defence_names[i]; i++)
        if (!strcmp(defence_names[i], name)) return i;
    return -1;
}

static dn_status check_lists(robust_experiment *ex, dn_error *err)
{
    char fractions[MAX_ITEMS][32];
    dn_status s = split_list("--attacks", ex->attacks_text, ex->attacks, &ex->nattacks, err);
    if (!s) s = split_list("--defences", ex->defences_text, ex->defences, &ex->ndefences, err);
    if (!s) s = split_list("--partitions", ex->partitions_text, ex->partitions, &ex->npartitions, err);
    if (!s) s = split_list("--fractions", ex->fractions_text, fractions, &ex->nfractions, err);
    for (int i = 0; i < ex->nattacks && !s; i++) {
        dn_attack a;
        s = dn_attack_parse(ex->attacks[i], &a, err);
        if (!s && a.kind == DN_ATTACK_NONE)
            s = cli_fail(err, DN_ERR_USAGE, "--attacks: \"none\" is the baseline every table has already");
    }
    for (int i = 0; i < ex->ndefences && !s; i++)
        if (defence_index(ex->defences[i]) < 0)
            s = cli_fail(err, DN_ERR_USAGE, "--defences: unknown defence '%s' (%s)", ex->defences[i], ROBUST_DEFENCES);
    for (int i = 0; i < ex->npartitions && !s; i++) {
        dn_partition_spec spec;
        s = dn_partition_parse(ex->partitions[i], &spec, err);
    }
    for (int i = 0; i < ex->nfractions && !s; i++) {
        char *end;
        ex->fractions[i] = strtod(fractions[i], &end);
        if (*end || !(ex->fractions[i] > 0 && ex->fractions[i] < 1))
            s = cli_fail(err, DN_ERR_USAGE, "--fractions: '%s' is not a fraction in (0, 1)", fractions[i]);
    }
    return s;
}

/* ------------------------------------------------------------- one run */

static dn_status read_accuracy(const char *path, double *acc, size_t cap, size_t *n, dn_error *err);

static const char *attack_text(const robust_experiment *ex, const robust_run *r)
{
    return r->attack < 0 ? "none" : ex->attacks[r->attack];
}

/* The run's file stem: PARTITION_ATTACK_F_DEFENCE, with what a file name
 * should not hold replaced. */
static void run_stem(const robust_experiment *ex, const robust_run *r, char *buf, size_t size)
{
    snprintf(buf, size, "%s_%s_F%g_%s", ex->partitions[r->partition], attack_text(ex, r), r->fraction,
             ex->defences[r->defence]);
    for (char *p = buf; *p; p++)
        if (*p == ':' || *p == '+' || *p == '/') *p = '-';
}

static dn_status run_path(const robust_experiment *ex, const robust_run *r, const char *suffix, char *buf,
                          size_t size, dn_error *err)
{
    char stem[160];
    run_stem(ex, r, stem, sizeof stem);
    int n = snprintf(buf, size, "%s/%s%s", ex->out, stem, suffix);
    return n > 0 && (size_t)n < size ? DN_OK : cli_fail(err, DN_ERR_USAGE, "%s: path too long", ex->out);
}

/* The defence's settings in the round's options. */
static void defence_options(const robust_experiment *ex, int defence, dn_fedavg_options *o)
{
    const char *name = ex->defences[defence];
    o->aggregate.rule = !strcmp(name, "median")         ? DN_AGG_MEDIAN
                        : !strcmp(name, "trimmed-mean") ? DN_AGG_TRIMMED_MEAN
                        : !strcmp(name, "multi-krum")   ? DN_AGG_KRUM
                        : !strcmp(name, "clip")         ? DN_AGG_CLIP
                        : !strcmp(name, "fltrust")      ? DN_AGG_FLTRUST
                                                        : DN_AGG_MEAN;
    o->aggregate.trim = 0.3;                       /* 3 of 10 cut at each end */
    o->aggregate.faulty = 3, o->aggregate.select = 7; /* f = 3 tolerated, the mean of m − f = 7 */
    if (!strcmp(name, "mean+detect")) o->detect.method = (dn_detect_method)ex->detector;
}

typedef struct run_state {
    const dn_mlp *mlp;
    const dn_dataset *test;
    FILE *csv;
    robust_run *run;
    detection_log *log;
    dn_error err;
} run_state;

static int on_round(const dn_mlp_run_report *r, void *user)
{
    run_state *st = user;
    dn_mlp_eval test;
    if (dn_mlp_evaluate(st->mlp, st->test, &test, &st->err)) return 1;
    const dn_fedavg_report *f = r->round;
    fprintf(st->csv, "%d,%.6f,%.6f,%d,%zu,%zu,%zu,%zu,%zu\n", r->step, test.accuracy, test.loss, f->refused,
            f->malicious, f->flagged, f->true_positives, f->false_positives, f->false_negatives);
    robust_run *run = st->run;
    run->final_accuracy = test.accuracy, run->best_accuracy = fmax(run->best_accuracy, test.accuracy);
    if (!run->reached && test.accuracy >= TARGET) run->reached = r->step;
    run->refused += f->refused;
    run->tp += f->true_positives, run->fp += f->false_positives, run->fn += f->false_negatives;
    detection_log_round(st->log, f);
    return 0;
}

/* The 2NN of McMahan et al., plain SGD at a constant rate, B = 10, one thread. */
static dn_mlp *network(const robust_experiment *ex, dn_error *err)
{
    dn_mlp_options o;
    dn_mlp_options_default(&o);
    if (dn_mlp_parse_hidden("200,200", &o, err)) return NULL;
    o.lr = ex->lr, o.batch = 10, o.momentum = 0, o.schedule = DN_SCHEDULE_NONE;
    o.seed = ex->seed, o.threads = 1;
    return dn_mlp_create(&o, err);
}

/* The run's loop options: the defence, the attack, the clients. */
static dn_status loop_options(const robust_experiment *ex, const robust_run *r, const dn_partition *part,
                              const dn_dataset *root, dn_mlp_run_options *o, dn_error *err)
{
    dn_mlp_run_options_default(o);
    o->mode = DN_MLP_RUN_FEDAVG, o->rounds = ex->rounds;
    o->clients = part, o->client_fraction = FRACTION, o->client_seed = ex->seed;
    defence_options(ex, r->defence, &o->fedavg);
    o->fedavg.root = root;
    if (r->attack < 0) return DN_OK;
    o->fedavg.malicious = r->fraction;
    return dn_attack_parse(ex->attacks[r->attack], &o->fedavg.attack, err);
}

/* The clients' data and partition: for FLTrust the root set comes out first. */
static dn_status run_data(const robust_experiment *ex, const robust_run *r, const dn_dataset *train,
                          dn_dataset **root, dn_dataset **rest, dn_partition **part, dn_error *err)
{
    *root = *rest = NULL, *part = NULL;
    const dn_dataset *clients = train;
    if (!strcmp(ex->defences[r->defence], "fltrust")) {
        dn_status s = dn_dataset_split_root(train, train->count, ex->root_size, ex->seed, root, rest, err);
        if (s) return s;
        clients = *rest;
    }
    dn_partition_spec spec;
    dn_status s = dn_partition_parse(ex->partitions[r->partition], &spec, err);
    if (!s && !(*part = dn_partition_make(clients, clients->count, CLIENTS, &spec, ex->seed, err))) s = err->code;
    return s;
}

/* "final best reached refused nonfinite tp fp fn seconds" */
static dn_status save_result(const robust_experiment *ex, const robust_run *r, dn_error *err)
{
    char path[4096];
    cli_text t = {0};
    dn_status s = run_path(ex, r, ".result", path, sizeof path, err);
    if (!s && cli_text_open(&t)) s = cli_fail(err, DN_ERR_NOMEM, "out of memory");
    if (s) return s;
    fprintf(t.fp, "%.6f %.6f %d %d %d %zu %zu %zu %.3f\n", r->final_accuracy, r->best_accuracy, r->reached,
            r->refused, r->nonfinite, r->tp, r->fp, r->fn, r->seconds);
    return cli_text_commit(&t, path, err);
}

static dn_status load_result(const robust_experiment *ex, robust_run *r, dn_error *err)
{
    char path[4096];
    dn_status s = run_path(ex, r, ".result", path, sizeof path, err);
    FILE *fp = s ? NULL : fopen(path, "r");
    if (s) return s;
    if (!fp) return cli_fail(err, DN_ERR_IO, "%s: cannot open (%s)", path, strerror(errno));
    int n = fscanf(fp, "%lf %lf %d %d %d %zu %zu %zu %lf", &r->final_accuracy, &r->best_accuracy, &r->reached,
                   &r->refused, &r->nonfinite, &r->tp, &r->fp, &r->fn, &r->seconds);
    fclose(fp);
    return n == 9 ? DN_OK : cli_fail(err, DN_ERR_INPUT, "%s: not a result line (a worker failed?)", path);
}

/* The lowest test accuracy over the second half of the rounds: a run
 * that collapsed and recovered shows here, not in its final accuracy. */
static dn_status late_low(const robust_experiment *ex, robust_run *r, dn_error *err)
{
    char path[4096];
    double *acc = malloc((size_t)ex->rounds * sizeof *acc);
    size_t n = 0;
    if (!acc) return cli_fail(err, DN_ERR_NOMEM, "out of memory");
    dn_status s = run_path(ex, r, ".csv", path, sizeof path, err);
    if (!s) s = read_accuracy(path, acc, (size_t)ex->rounds, &n, err);
    r->late_low = 100 * r->final_accuracy;
    for (size_t k = n / 2; k < n; k++) r->late_low = fmin(r->late_low, acc[k]);
    free(acc);
    return s;
}

static dn_status train_run(const robust_experiment *ex, robust_run *r, dn_mlp *mlp, const dn_mlp_run_options *o,
                           const dn_dataset *clients, const dn_dataset *test, dn_error *err)
{
    char csv_path[4096], scores_path[4096], map_path[4096];
    int detecting = o->fedavg.detect.method != DN_DETECT_NONE;
    dn_status s = run_path(ex, r, ".csv", csv_path, sizeof csv_path, err);
    if (!s) s = run_path(ex, r, "_scores.csv", scores_path, sizeof scores_path, err);
    if (!s) s = run_path(ex, r, "_scores.svg", map_path, sizeof map_path, err);
    if (s) return s;
    cli_text csv = {0};
    detection_log log;
    if (cli_text_open(&csv)) return cli_fail(err, DN_ERR_NOMEM, "out of memory");
    s = detection_log_open(&log, &o->fedavg, CLIENTS, ex->rounds, ex->seed, detecting, detecting, err);
    run_state st = {mlp, test, csv.fp, r, &log, {0}};
    dn_mlp_run_options with = *o;
    with.on_step = on_round, with.user = &st;
    fprintf(csv.fp, "round,test_accuracy,test_loss,refused,malicious,flagged,true_positives,false_positives,"
                    "false_negatives\n");
    double t0 = cli_now_seconds();
    dn_mlp_run *loop = s ? NULL : dn_mlp_run_create(mlp, &with, clients, err);
    if (!s && !loop) s = err->code;
    if (!s) s = dn_mlp_run_train(loop, err);
    if (!s && st.err.code) *err = st.err, s = st.err.code;
    r->seconds = cli_now_seconds() - t0;
    size_t P;
    const float *params = dn_mlp_params(mlp, &P);
    r->nonfinite = dn_first_nonfinite_f32(params, P) < P;
    if (!s) s = cli_text_commit(&csv, csv_path, err);
    else fclose(csv.fp), free(csv.buffer);
    const char *method = dn_detect_method_name(o->fedavg.detect.method);
    if (!s && detecting) s = detection_log_write(&log, scores_path, map_path, method, err);
    detection_log_free(&log);
    dn_mlp_run_free(loop);
    return s;
}

typedef struct run_pool {
    const robust_experiment *ex;
    robust_run *runs;
    const dn_dataset *train, *test;
} run_pool;

/* A worker: one run, its files, its exit code. */
static int run_job(int job, void *context)
{
    run_pool *pool = context;
    const robust_experiment *ex = pool->ex;
    robust_run *r = &pool->runs[job];
    dn_error err = {0};
    dn_dataset *root = NULL, *rest = NULL;
    dn_partition *part = NULL;
    dn_mlp_run_options o;
    dn_mlp *mlp = NULL;
    dn_status s = run_data(ex, r, pool->train, &root, &rest, &part, &err);
    if (!s) s = loop_options(ex, r, part, root, &o, &err);
    if (!s && !(mlp = network(ex, &err))) s = err.code;
    if (!s) s = train_run(ex, r, mlp, &o, rest ? rest : pool->train, pool->test, &err);
    if (!s) s = save_result(ex, r, &err);
    if (!s && !ex->quiet)
        fprintf(stderr, "%s %s F=%g %s: %.2f%% after %d rounds (%.1f s)\n", ex->partitions[r->partition],
                attack_text(ex, r), r->fraction, ex->defences[r->defence], 100 * r->final_accuracy, ex->rounds,
                r->seconds);
    dn_mlp_free(mlp);
    dn_partition_free(part);
    dn_dataset_free(root), dn_dataset_free(rest);
    return s ? cli_report(&err) : CLI_EXIT_OK;
}

/* Every run: per partition the baselines (each defence without attack),
 * then attack × fraction × defence. */
static int plan_runs(const robust_experiment *ex, robust_run *runs)
{
    int n = 0;
    for (int p = 0; p < ex->npartitions; p++) {
        for (int d = 0; d < ex->ndefences; d++) runs[n++] = (robust_run){.partition = p, .attack = -1, .defence = d};
        for (int a = 0; a < ex->nattacks; a++)
            for (int f = 0; f < ex->nfractions; f++)
                for (int d = 0; d < ex->ndefences; d++)
                    runs[n++] = (robust_run){.partition = p, .attack = a, .defence = d, .fraction = ex->fractions[f]};
    }
    return n;
}

/* ------------------------------------------------------ looking up runs */

static const robust_run *find_run(const robust_run *runs, int count, int partition, int attack, double fraction,
                                  int defence)
{
    for (int i = 0; i < count; i++) {
        const robust_run *r = &runs[i];
        if (r->partition == partition && r->attack == attack && r->defence == defence &&
            (attack < 0 || fabs(r->fraction - fraction) < 1e-12))
            return r;
    }
    return NULL;
}

/* The no-attack accuracy of a defence (in points). */
static double baseline(const robust_run *runs, int count, int partition, int defence)
{
    const robust_run *b = find_run(runs, count, partition, -1, 0, defence);
    return b ? 100 * b->final_accuracy : NAN;
}

/* ------------------------------------------------------ figures */

/* The test-accuracy column (percent) of a run's CSV. */
static dn_status read_accuracy(const char *path, double *acc, size_t cap, size_t *n, dn_error *err)
{
    FILE *fp = fopen(path, "r");
    if (!fp) return cli_fail(err, DN_ERR_IO, "%s: cannot open (%s)", path, strerror(errno));
    char line[256];
    *n = 0;
    if (!fgets(line, sizeof line, fp)) line[0] = '\0'; /* the header */
    int round;
    double a;
    while (*n < cap && fgets(line, sizeof line, fp) && sscanf(line, "%d,%lf", &round, &a) == 2) acc[(*n)++] = 100 * a;
    fclose(fp);
    return DN_OK;
}

/* Accuracy vs rounds of every defence under one attack and fraction. */
static dn_status plot_curves(const robust_experiment *ex, const robust_run *runs, int count, int partition, int attack,
                             double fraction, const char *file, dn_error *err)
{
    dn_plot_series series[MAX_ITEMS];
    double *buf = malloc((size_t)ex->ndefences * (size_t)ex->rounds * 2 * sizeof *buf);
    if (!buf) return cli_fail(err, DN_ERR_NOMEM, "out of memory");
    size_t n = 0;
    dn_status s = DN_OK;
    for (int d = 0; d < ex->ndefences && !s; d++) {
        const robust_run *r = find_run(runs, count, partition, attack, fraction, d);
        char path[4096];
        double *x = buf + 2 * (size_t)d * (size_t)ex->rounds, *y = x + ex->rounds;
        size_t len = 0;
        if (!r || (s = run_path(ex, r, ".csv", path, sizeof path, err))) continue;
        if ((s = read_accuracy(path, y, (size_t)ex->rounds, &len, err))) break;
        for (size_t k = 0; k < len; k++) x[k] = (double)(k + 1);
        series[n++] = (dn_plot_series){ex->defences[d], x, y, len};
    }
    char title[160], path[4096];
    snprintf(title, sizeof title, "%s, attack %s by %g of the clients: test accuracy", ex->partitions[partition],
             attack < 0 ? "none" : ex->attacks[attack], attack < 0 ? 0.0 : fraction);
    snprintf(path, sizeof path, "%s/%s", ex->out, file);
    if (!s && n) {
        dn_plot_options po;
        dn_plot_options_default(&po);
        s = dn_plot_lines(path, title, "round", "test accuracy (%)", series, n, &po, err);
    }
    free(buf);
    return s;
}

/* ------------------------------------------------------ the report */

/* "97.1 (12)": final accuracy and rounds to the target; marks for NaN. */
static void cell_text(const robust_run *r, char *buf, size_t size)
{
    if (!r) {
        snprintf(buf, size, "—");
        return;
    }
    char reached[16] = "—";
    if (r->reached) snprintf(reached, sizeof reached, "%d", r->reached);
    char low[32] = "";
    if (r->late_low < 100 * r->final_accuracy - 5) snprintf(low, sizeof low, ", low %.1f", r->late_low);
    snprintf(buf, size, "%.1f (%s%s)%s", 100 * r->final_accuracy, reached, low, r->nonfinite ? " NaN!" : "");
}

static void write_table(report *rep, const robust_experiment *ex, const robust_run *runs, int count, int p,
                        double fraction)
{
    char header[512] = "attack";
    for (int d = 0; d < ex->ndefences; d++)
        snprintf(header + strlen(header), sizeof header - strlen(header), "|%s", ex->defences[d]);
    report_heading(rep, 3, "%s, %g %% malicious", ex->partitions[p], 100 * fraction);
    report_table(rep, header);
    for (int a = -1; a < ex->nattacks; a++) {
        char row[1024], cell[128];
        snprintf(row, sizeof row, "%s", a < 0 ? "**none**" : ex->attacks[a]);
        for (int d = 0; d < ex->ndefences; d++) {
            cell_text(find_run(runs, count, p, a, fraction, d), cell, sizeof cell);
            snprintf(row + strlen(row), sizeof row - strlen(row), "|%s", cell);
        }
        report_row(rep, "%s", row);
    }
}

/* Precision and recall of mean+detect per attack and fraction. */
static void write_detection(report *rep, const robust_experiment *ex, const robust_run *runs, int count, int p)
{
    int d = -1;
    for (int i = 0; i < ex->ndefences; i++)
        if (!strcmp(ex->defences[i], "mean+detect")) d = i;
    if (d < 0) return;
    char header[256] = "attack";
    for (int f = 0; f < ex->nfractions; f++)
        snprintf(header + strlen(header), sizeof header - strlen(header), "|F = %g: precision / recall (TP, FP, FN)",
                 ex->fractions[f]);
    report_heading(rep, 3, "Detection (%s), %s", dn_detect_method_name((dn_detect_method)ex->detector),
                   ex->partitions[p]);
    report_table(rep, header);
    for (int a = 0; a < ex->nattacks; a++) {
        char row[1024];
        snprintf(row, sizeof row, "%s", ex->attacks[a]);
        for (int f = 0; f < ex->nfractions; f++) {
            const robust_run *r = find_run(runs, count, p, a, ex->fractions[f], d);
            char prec[16] = "n/a", rec[16] = "n/a";
            if (r && r->tp + r->fp) snprintf(prec, sizeof prec, "%.2f", (double)r->tp / (double)(r->tp + r->fp));
            if (r && r->tp + r->fn) snprintf(rec, sizeof rec, "%.2f", (double)r->tp / (double)(r->tp + r->fn));
            snprintf(row + strlen(row), sizeof row - strlen(row), "|%s / %s (%zu, %zu, %zu)", prec, rec,
                     r ? r->tp : 0, r ? r->fp : 0, r ? r->fn : 0);
        }
        report_row(rep, "%s", row);
    }
}

/* Defences named in a list: those whose final accuracy is within their
 * own no-attack run's by HELD_POINTS (held), and those whose final
 * accuracy, or lowest over the second half of the rounds, fell more than
 * BROKE_POINTS below it or whose model went non-finite (broke). */
static void verdicts(const robust_experiment *ex, const robust_run *runs, int count, int p, int a, double fraction,
                     char *held, char *broke, size_t size, int *best)
{
    held[0] = broke[0] = '\0';
    *best = -1;
    double best_acc = -1;
    for (int d = 0; d < ex->ndefences; d++) {
        const robust_run *r = find_run(runs, count, p, a, fraction, d);
        if (!r) continue;
        double acc = 100 * r->final_accuracy, base = baseline(runs, count, p, d);
        if (acc > best_acc) best_acc = acc, *best = d;
        int collapsed = acc < base - BROKE_POINTS || r->late_low < base - BROKE_POINTS || r->nonfinite;
        char *list = collapsed ? broke : acc >= base - HELD_POINTS ? held : NULL;
        if (list) snprintf(list + strlen(list), size - strlen(list), "%s%s", *list ? ", " : "", ex->defences[d]);
    }
}

/* " Detection (METHOD): precision P, recall R — evaded." for mean+detect's
 * run, or "" when there is none. */
static void detection_text(const robust_experiment *ex, const robust_run *runs, int count, int p, int a,
                           double fraction, char *buf, size_t size)
{
    buf[0] = '\0';
    for (int d = 0; d < ex->ndefences; d++) {
        const robust_run *r = strcmp(ex->defences[d], "mean+detect") ? NULL : find_run(runs, count, p, a, fraction, d);
        if (!r || r->tp + r->fn == 0) continue;
        double recall = (double)r->tp / (double)(r->tp + r->fn);
        char precision[16] = "n/a";
        if (r->tp + r->fp) snprintf(precision, sizeof precision, "%.2f", (double)r->tp / (double)(r->tp + r->fp));
        snprintf(buf, size, " Detection (%s): precision %s, recall %.2f%s", dn_detect_method_name((dn_detect_method)ex->detector),
                 precision, recall, recall < 0.5 ? " — the attackers evaded it." : ".");
    }
}

/* What the tables say, computed from them: per attack, the best defence,
 * the ones that held and the ones that broke. */
static void write_reading(report *rep, const robust_experiment *ex, const robust_run *runs, int count, int p,
                          double fraction)
{
    report_heading(rep, 3, "Reading: %s, %g %% malicious", ex->partitions[p], 100 * fraction);
    int mean = defence_index("mean"), plain = -1;
    for (int d = 0; d < ex->ndefences; d++)
        if (defence_index(ex->defences[d]) == mean) plain = d;
    double clean = plain >= 0 ? baseline(runs, count, p, plain) : NAN;
    for (int a = 0; a < ex->nattacks; a++) {
        char held[256], broke[256];
        int best;
        verdicts(ex, runs, count, p, a, fraction, held, broke, sizeof held, &best);
        if (best < 0) continue;
        const robust_run *b = find_run(runs, count, p, a, fraction, best);
        char versus[96] = "";
        if (isfinite(clean))
            snprintf(versus, sizeof versus, " (%+.1f points from plain FedAvg without attack, %.1f %%)",
                     100 * b->final_accuracy - clean, clean);
        char found[160] = "";
        detection_text(ex, runs, count, p, a, fraction, found, sizeof found);
        report_bullet(rep, "**%s**: best %s at %.1f %%%s; held (within %g points of their own no-attack run): %s; "
                           "broke (more than %g points below at the end or in the second half, or NaN): %s.%s",
                      ex->attacks[a], ex->defences[best], 100 * b->final_accuracy, versus, HELD_POINTS,
                      *held ? held : "none", BROKE_POINTS, *broke ? broke : "none", found);
    }
}

static dn_status write_figures(report *rep, const robust_experiment *ex, const robust_run *runs, int count, int p,
                               double fraction, dn_error *err)
{
    int detect = -1;
    for (int d = 0; d < ex->ndefences; d++)
        if (!strcmp(ex->defences[d], "mean+detect")) detect = d;
    dn_status s = DN_OK;
    for (int a = 0; a < ex->nattacks && !s; a++) {
        char file[160], caption[256], stem[160];
        snprintf(file, sizeof file, "curves_%s_%d.svg", ex->partitions[p], a);
        for (char *c = file; *c; c++)
            if (*c == ':') *c = '-';
        if ((s = plot_curves(ex, runs, count, p, a, fraction, file, err))) break;
        snprintf(caption, sizeof caption, "%s, %s by %g %% of the clients: test accuracy of every defence.",
                 ex->partitions[p], ex->attacks[a], 100 * fraction);
        const robust_run *r = detect >= 0 ? find_run(runs, count, p, a, fraction, detect) : NULL;
        if (!r) {
            report_figure(rep, file, caption);
            continue;
        }
        run_stem(ex, r, stem, sizeof stem);
        char map[192], map_caption[256];
        snprintf(map, sizeof map, "%s_scores.svg", stem);
        snprintf(map_caption, sizeof map_caption, "Suspicion scores (%s) per client and round, malicious clients "
                 "marked; outlined cells were flagged.", dn_detect_method_name((dn_detect_method)ex->detector));
        report_figure_pair(rep, file, caption, map, map_caption);
    }
    return s;
}

static dn_status write_robust_report(const robust_experiment *ex, const robust_run *runs, int count, double wall,
                                     dn_error *err)
{
    report *rep = report_create(ex->out);
    if (!rep) return cli_fail(err, DN_ERR_NOMEM, "out of memory composing the report");
    report_heading(rep, 1, "Who survives what: attacks and defences in federated averaging");
    report_paragraph(rep,
                     "digitnet %s, `digitnet reproduce --experiment robust%s`. MNIST, K = %d clients, C = %g (%zu a "
                     "round), the 2NN (784-200-200-10 ReLU, seed %llu), E = 1 epoch of plain SGD, B = 10, rate %g, "
                     "%d rounds, the test set evaluated after each. A seeded fraction F of the clients is malicious "
                     "for the whole run and attacks whenever sampled (alie and ipm are omniscient: they see the "
                     "round's honest updates). Defences: mean (plain FedAvg), median, trimmed mean (trim 0.3), "
                     "multi-Krum (f = 3, the mean of the 7 best), norm clipping (to the round's median update norm), "
                     "FLTrust (the server's root set: %zu samples taken out of the clients' data) and the mean after "
                     "detection by %s (flagged clients left out of the round). Each cell: final test accuracy in %% "
                     "(round it first reached %g %%, — if never; \"low\" the lowest accuracy over the second half of the rounds when it "
                     "is more than 5 points below the final one: a collapse the final number hides); NaN! marks a "
                     "final model with a non-finite value.",
                     DN_VERSION, ex->quick ? " --quick" : "", CLIENTS, FRACTION,
                     dn_fedavg_sample_count(CLIENTS, FRACTION), (unsigned long long)ex->seed, ex->lr, ex->rounds,
                     ex->root_size, dn_detect_method_name((dn_detect_method)ex->detector), 100 * TARGET);
    dn_status s = DN_OK;
    for (int p = 0; p < ex->npartitions; p++) {
        report_heading(rep, 2, "%s", ex->partitions[p]);
        for (int f = 0; f < ex->nfractions; f++) write_table(rep, ex, runs, count, p, ex->fractions[f]);
        write_detection(rep, ex, runs, count, p);
        double middle = ex->fractions[ex->nfractions / 2];
        for (int f = 0; f < ex->nfractions; f++) write_reading(rep, ex, runs, count, p, ex->fractions[f]);
        if (!s) s = write_figures(rep, ex, runs, count, p, middle, err);
    }
    double trained = 0;
    for (int i = 0; i < count; i++) trained += runs[i].seconds;
    if (ex->report_only)
        report_paragraph(rep, "Written with --report-only from the result files of an earlier run: %d runs, whose own "
                              "times add up to %.0f s.", count, trained);
    else
        report_paragraph(rep, "Whole run: %d runs (their own times add up to %.0f s), %.0f s of wall time with %d worker "
                              "process%s.", count, trained, wall, ex->jobs, ex->jobs == 1 ? "" : "es");
    char md[4096], html[4096];
    snprintf(md, sizeof md, "%s/report.md", ex->out);
    snprintf(html, sizeof html, "%s/report.html", ex->out);
    if (!s) s = report_write(rep, md, html, err);
    report_free(rep);
    return s;
}

static void print_summary(const robust_experiment *ex, const robust_run *runs, int count)
{
    printf("%-16s %-12s %5s %-14s %9s %7s %s\n", "partition", "attack", "F", "defence", "accuracy", "reached",
           "detection TP/FP/FN");
    for (int i = 0; i < count; i++) {
        const robust_run *r = &runs[i];
        printf("%-16s %-12s %5g %-14s %8.2f%% %7d %zu/%zu/%zu%s\n", ex->partitions[r->partition], attack_text(ex, r),
               r->fraction, ex->defences[r->defence], 100 * r->final_accuracy, r->reached, r->tp, r->fp, r->fn,
               r->nonfinite ? " NaN" : "");
    }
}

/* ------------------------------------------------------------ the command */

int reproduce_robust_main(int argc, char **argv)
{
    robust_experiment ex = {.data = "data/mnist", .out = "out/robust", .attacks_text = ROBUST_ATTACKS,
                            .defences_text = ROBUST_DEFENCES, .fractions_text = ROBUST_FRACTIONS,
                            .partitions_text = ROBUST_PARTITIONS, .jobs = 2, .detector = DN_DETECT_KRUM,
                            .root_size = 100, .lr = 0.1, .seed = 1};
    int experiment = 2;
    const cli_opt opts[] = {
        {"--experiment", CLI_CHOICE, &experiment, "NAME", "which experiment", 0, 0, 0, reproduce_experiments()},
        {"--data", CLI_STRING, &ex.data, "DIR", "MNIST-format folder", 0, 0, 0, NULL},
        {"--out", CLI_STRING, &ex.out, "DIR", "where the report, the CSVs and the figures go", 0, 0, 0, NULL},
        {"--quick", CLI_FLAG, &ex.quick, "", "F = 0.2 only, IID only, " ROBUST_QUICK_ROUNDS_TEXT " rounds", 0, 0, 0,
         NULL},
        {"--attacks", CLI_STRING, &ex.attacks_text, "LIST", "attacks (as --attack spells them) (default " ROBUST_ATTACKS
         ")", 0, 0, 0, NULL},
        {"--defences", CLI_STRING, &ex.defences_text, "LIST", "defences (default " ROBUST_DEFENCES ")", 0, 0, 0, NULL},
        {"--fractions", CLI_STRING, &ex.fractions_text, "LIST", "malicious fractions F (default " ROBUST_FRACTIONS ")",
         0, 0, 0, NULL},
        {"--partitions", CLI_STRING, &ex.partitions_text, "LIST", "partitions (default " ROBUST_PARTITIONS ")", 0, 0, 0,
         NULL},
        {"--rounds", CLI_INT, &ex.rounds, "R", "rounds per run, 0 = " ROBUST_ROUNDS_TEXT " (" ROBUST_QUICK_ROUNDS_TEXT
         " with --quick)", 0, 1e6, 0, NULL},
        {"--detector", CLI_CHOICE, &ex.detector, "METHOD", "the detector of mean+detect", 0, 0, 0,
         dn_detect_method_choices()},
        {"--root-size", CLI_SIZE, &ex.root_size, "N", "FLTrust's root set", 1, 1e6, 0, NULL},
        {"--lr", CLI_DOUBLE, &ex.lr, "ETA", "the clients' learning rate", 0, 100, 1, NULL},
        {"--train-size", CLI_SIZE, &ex.train_size, "N", "the first N training samples, 0 = all", 0, 1e7, 0, NULL},
        {"--jobs", CLI_INT, &ex.jobs, "J", "runs trained at once, each in its own process", 1, 64, 0, NULL},
        {"--seed", CLI_U64, &ex.seed, "S", "seed of the network, partitions, malicious clients and draws", 0, 1.8e19, 0,
         NULL},
        {"--quiet", CLI_FLAG, &ex.quiet, "", "no progress lines on stderr (results still on stdout)", 0, 0, 0, NULL},
        {"--report-only", CLI_FLAG, &ex.report_only, "",
         "train nothing: write the report from the result files an earlier run with the same lists left in --out", 0,
         0, 0, NULL},
    };
    const cli_spec spec = {"reproduce --experiment robust", "",
                           "Attacks x defences x malicious fractions in federated averaging (MNIST 2NN, K = 100, "
                           "C = 0.1), IID and non-IID, with no-attack baselines; writes DIR/report.md, "
                           "DIR/report.html, a CSV per run, accuracy curves and suspicion heat maps.",
                           opts, (int)(sizeof opts / sizeof *opts), 0, 0};
    const char *pos[1];
    int npos, rc = cli_parse(&spec, argc, argv, pos, &npos);
    if (rc) return cli_parse_exit_code(rc);
    if (ex.quick) {
        ex.fractions_text = strcmp(ex.fractions_text, ROBUST_FRACTIONS) ? ex.fractions_text : "0.2";
        ex.partitions_text = strcmp(ex.partitions_text, ROBUST_PARTITIONS) ? ex.partitions_text : "iid";
    }
    if (ex.rounds == 0) ex.rounds = ex.quick ? ROBUST_QUICK_ROUNDS : ROBUST_ROUNDS;
    dn_error err = {0};
    if (check_lists(&ex, &err)) return cli_report(&err);
    if (ex.detector == DN_DETECT_NONE) {
        cli_fail(&err, DN_ERR_USAGE, "--detector none: mean+detect needs a detector");
        return cli_report(&err);
    }
    dn_dataset *train = NULL, *test = NULL;
    if ((rc = cli_load_mnist(ex.data, &train, &test))) return rc; /* before the folder: a failed run leaves none */
    dn_dataset view = dn_dataset_view(train, 0, ex.train_size && ex.train_size < train->count ? ex.train_size
                                                                                              : train->count);
    int count = ex.npartitions * ex.ndefences * (1 + ex.nattacks * ex.nfractions);
    robust_run *runs = calloc((size_t)count, sizeof *runs);
    int *order = malloc((size_t)count * sizeof *order);
    if (!runs || !order) rc = cli_report(&(dn_error){DN_ERR_NOMEM, "out of memory planning the runs"});
    else if (cli_make_dirs(ex.out, &err)) rc = cli_report(&err);
    if (!rc) {
        plan_runs(&ex, runs);
        for (int i = 0; i < count; i++) order[i] = i;
        double t0 = cli_now_seconds();
        run_pool pool = {&ex, runs, &view, test};
        if (!ex.report_only) rc = worker_pool_run(order, count, ex.jobs, run_job, &pool);
        dn_status s = DN_OK;
        for (int i = 0; i < count && !rc && !s; i++) {
            s = load_result(&ex, &runs[i], &err);
            if (!s) s = late_low(&ex, &runs[i], &err);
        }
        if (!rc && !s) s = write_robust_report(&ex, runs, count, cli_now_seconds() - t0, &err);
        if (!rc && !s) print_summary(&ex, runs, count);
        if (!rc && !s) printf("wrote %s/report.md, %s/report.html, a CSV per run, curves and heat maps\n", ex.out, ex.out);
        if (!rc && s) rc = cli_report(&err);
    }
    free(runs), free(order);
    dn_dataset_free(train);
    dn_dataset_free(test);
    return rc;
}
