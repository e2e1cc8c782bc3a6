/* mlp_distributed.c — see mlp_distributed.h. */
#include <stdlib.h>
#include "detection_log.h"
#include "serve_live.h"
#include "mlp_distributed.h"
#include "profile.h"
#include "mlp_regularise.h"

#define TARGET_ACCURACY 0.97 /* rank 0 reports the first epoch or round that reaches it */

const char *const *mlp_dist_modes(void)
{
    static const char *modes[DN_MLP_RUN_FEDAVG + 3]; /* "off", the library's modes, NULL */
    if (!modes[0]) {
        const char *const *run_modes = dn_mlp_run_mode_choices();
        modes[0] = "off";
        for (int i = 0; run_modes[i] && i <= DN_MLP_RUN_FEDAVG; i++) modes[i + 1] = run_modes[i];
    }
    return modes;
}

const char *mlp_dist_partition_help(void)
{
    static char help[192];
    if (!help[0]) snprintf(help, sizeof help, "fedavg --clients: how the training set is split, %s (default iid)",
                           dn_partition_syntax());
    return help;
}

enum { MODE_OFF = 0, MODE_SYNC = 1 + DN_MLP_RUN_SYNC, MODE_FEDAVG = 1 + DN_MLP_RUN_FEDAVG };

/* 1 when any of the virtual clients' flags was given. */
static int client_flags_given(const mlp_dist *d)
{
    const mlp_dist def = MLP_DIST_DEFAULT;
    return d->clients || d->client_fraction != def.client_fraction || d->partition || d->partition_file ||
           d->partition_seed != def.partition_seed || d->stragglers != def.stragglers ||
           d->straggler_policy != def.straggler_policy || d->dropout_rate != def.dropout_rate;
}

/* 1 when any of the adversaries' flags was given. */
static int adversary_flags_given(const mlp_dist *d)
{
    const mlp_dist def = MLP_DIST_DEFAULT;
    return d->attack || d->malicious != def.malicious || d->detect != def.detect ||
           d->detect_threshold != def.detect_threshold || d->reputation != def.reputation || d->scores ||
           d->score_map;
}

/* 1 when the merge's own flags beyond the rule were given. */
static int rule_flags_given(const mlp_dist *d)
{
    const mlp_dist def = MLP_DIST_DEFAULT;
    return d->krum_select != def.krum_select || d->clip != def.clip || d->root_size != def.root_size;
}

int mlp_dist_wanted(const mlp_dist *d)
{
    const mlp_dist def = MLP_DIST_DEFAULT;
    return d->mode != def.mode || d->deterministic || d->rounds != def.rounds ||
           d->local_epochs != def.local_epochs || d->aggregate != def.aggregate || d->trim != def.trim ||
           d->faulty != def.faulty || d->prox_mu != def.prox_mu || d->server_momentum != def.server_momentum ||
           d->server_adam || d->server_lr != def.server_lr || d->checkpoint || d->resume || d->checkpoint_every != def.checkpoint_every ||
           d->flags.shard != def.flags.shard || d->flags.shard_seed != def.flags.shard_seed || d->flags.fault ||
           d->flags.fault_rank >= 0 || client_flags_given(d) || adversary_flags_given(d) || rule_flags_given(d);
}

/* C: --client-fraction, or 1. */
static double client_fraction(const mlp_dist *d) { return d->client_fraction >= 0 ? d->client_fraction : 1; }

/* One distributed run as rank 0 reports it (the other ranks fill it too). */
typedef struct dist_run {
    mlp_dist *d;
    dn_mlp *mlp;
    dn_mlp_run *loop; /* the library's loop over epochs or rounds, with the checkpoints */
    const dn_dataset *train; /* the first n samples */
    const dn_dataset *test;
    const dn_dataset *validation; /* alone with --validation: the last N of the n samples, else NULL */
    int quiet, root;
    cli_text metrics; /* metrics.fp NULL when not written here */
    double train_seconds;
    uint32_t data_crc32; /* of the first n training samples, all ranks' data together */
    int target_step; /* first step (1-based) at TARGET_ACCURACY, 0 if none */
    double target_seconds, test_accuracy;
    dn_error step_err; /* an evaluation failure inside on_step */
    const dn_partition *part; /* --clients: the virtual clients, else NULL */
    uint64_t seed;            /* --seed: the clients' draws and shuffles */
    const dn_dataset *root_set; /* --root-size: the server's root set, else NULL */
    detection_log detection;  /* --detect: the totals, --scores and --score-map */
    dn_profile profile;       /* --profile: rank 0's steps */
} dist_run;

/* A fedavg run's --metrics columns; with --clients four more follow. */
#define FEDAVG_COLUMNS                                                                                                 \
    "round,test_error,test_accuracy,test_loss,train_loss,refused,bad_rank,chosen_rank,seconds,bytes_sent,"           \
    "bytes_received"

/* With --attack or --detect, after the clients' columns. */
#define ADVERSARY_COLUMNS ",malicious,flagged,true_positives,false_positives,false_negatives,banned"

/* ---------------------------------------------------------------- checks */

/* The merge rule and its settings for these flags. */
static dn_aggregate_options aggregate_flag_options(const mlp_dist *d)
{
    dn_aggregate_options a;
    dn_aggregate_options_default(&a);
    a.rule = (dn_aggregate_rule)d->aggregate;
    a.trim = d->trim, a.faulty = d->faulty, a.select = d->krum_select, a.clip = d->clip;
    return a;
}

/* The library's FedProx, server optimiser, heterogeneity and adversary
 * settings for these flags (the attack already checked). */
static void fedavg_flag_options(const mlp_dist *d, dn_fedavg_options *o)
{
    if (d->attack) dn_attack_parse(d->attack, &o->attack, NULL);
    o->malicious = d->malicious;
    o->detect = (dn_detect_options){(dn_detect_method)d->detect, d->detect_threshold, d->reputation};
    o->stragglers = d->stragglers;
    o->straggler_policy = (dn_straggler_policy)d->straggler_policy;
    o->dropout_rate = d->dropout_rate;
    o->prox_mu = d->prox_mu;
    o->server = d->server_adam ? DN_FEDAVG_SERVER_ADAM
                : d->server_momentum > 0 ? DN_FEDAVG_SERVER_MOMENTUM
                                         : DN_FEDAVG_SERVER_PLAIN;
    o->server_momentum = d->server_momentum;
    o->server_lr = d->server_lr > 0 ? d->server_lr : d->server_adam ? SERVER_ADAM_LR : 1;
}

/* --clients and its companions, before any data is read. */
static dn_status check_client_flags(const mlp_dist *d, dn_error *err)
{
    const mlp_dist def = MLP_DIST_DEFAULT;
    if (!client_flags_given(d)) return DN_OK;
    if (d->mode != MODE_FEDAVG)
        return cli_fail(err, DN_ERR_USAGE, "--clients, --client-fraction, --partition, --partition-file, "
                                           "--partition-seed, --stragglers, --straggler-policy and --dropout-rate "
                                           "apply to --distributed fedavg");
    if (!d->clients && !d->partition_file)
        return cli_fail(err, DN_ERR_USAGE, "--client-fraction, --partition, --partition-seed, --stragglers, "
                                           "--straggler-policy and --dropout-rate need --clients K (or "
                                           "--partition-file FILE)");
    if (d->straggler_policy != def.straggler_policy && !(d->stragglers > 0))
        return cli_fail(err, DN_ERR_USAGE, "--straggler-policy needs --stragglers P above 0: it says what the "
                                           "stragglers do");
    if (d->partition && d->partition_file)
        return cli_fail(err, DN_ERR_USAGE, "--partition and --partition-file: pick one (the file records its spec)");
    if (d->partition_file && d->partition_seed != def.partition_seed)
        return cli_fail(err, DN_ERR_USAGE, "--partition-seed and --partition-file: the file records its seed");
    if (d->flags.shard != def.flags.shard || d->flags.shard_seed != def.flags.shard_seed || d->flags.fault ||
        d->flags.fault_rank >= 0)
        return cli_fail(err, DN_ERR_USAGE, "--shard, --shard-seed, --fault and --fault-rank apply to one client per "
                                           "rank: with --clients the partition splits the data");
    dn_partition_spec spec;
    return d->partition ? dn_partition_parse(d->partition, &spec, err) : DN_OK;
}

/* --krum-select, --clip, --root-size: each with the rule it belongs to. */
static dn_status check_rule_flags(const mlp_dist *d, dn_error *err)
{
    const mlp_dist def = MLP_DIST_DEFAULT;
    int fltrust = d->aggregate == DN_AGG_FLTRUST || d->detect == DN_DETECT_FLTRUST;
    if (d->krum_select != def.krum_select && d->aggregate != DN_AGG_KRUM)
        return cli_fail(err, DN_ERR_USAGE, "--krum-select applies to --aggregate krum (multi-Krum)");
    if (d->clip != def.clip && d->aggregate != DN_AGG_CLIP)
        return cli_fail(err, DN_ERR_USAGE, "--clip applies to --aggregate clip");
    if (d->root_size && !fltrust)
        return cli_fail(err, DN_ERR_USAGE, "--root-size applies to --aggregate fltrust or --detect fltrust: it is "
                                           "the server's root set");
    if (fltrust && (!d->root_size || !d->clients))
        return cli_fail(err, DN_ERR_USAGE, "FLTrust (--aggregate fltrust or --detect fltrust) needs --clients K and "
                                           "--root-size N: the server trains on N clean samples each round");
    return DN_OK;
}

/* --attack, --malicious, --detect and theirs: virtual clients only. */
static dn_status check_adversary_flags(const mlp_dist *d, dn_error *err)
{
    const mlp_dist def = MLP_DIST_DEFAULT;
    if (!adversary_flags_given(d)) return DN_OK;
    if (d->mode != MODE_FEDAVG || !(d->clients || d->partition_file))
        return cli_fail(err, DN_ERR_USAGE, "--attack, --malicious and --detect simulate adversaries among virtual "
                                           "clients: they need --distributed fedavg --clients K");
    dn_attack attack;
    if (d->attack && dn_attack_parse(d->attack, &attack, err)) return err->code;
    if (d->attack && attack.kind != DN_ATTACK_NONE && !(d->malicious > 0))
        return cli_fail(err, DN_ERR_USAGE, "--attack needs --malicious F above 0: the share of clients that attack");
    if (d->malicious > 0 && (!d->attack || attack.kind == DN_ATTACK_NONE))
        return cli_fail(err, DN_ERR_USAGE, "--malicious needs --attack KIND: what those clients do");
    if (d->detect == DN_DETECT_NONE && (d->detect_threshold != def.detect_threshold ||
                                        d->reputation != def.reputation || d->scores || d->score_map))
        return cli_fail(err, DN_ERR_USAGE, "--detect-threshold, --reputation, --scores and --score-map need --detect "
                                           "METHOD");
    return DN_OK;
}

static dn_status check_flags(const mlp_dist *d, size_t validation, dn_error *err)
{
    const mlp_dist def = MLP_DIST_DEFAULT;
    if (check_client_flags(d, err) || check_adversary_flags(d, err) || check_rule_flags(d, err)) return err->code;
    if (d->mode != MODE_FEDAVG && (d->prox_mu != def.prox_mu || d->server_momentum != def.server_momentum ||
                                   d->server_adam || d->server_lr != def.server_lr))
        return cli_fail(err, DN_ERR_USAGE, "--prox-mu, --server-momentum, --server-adam and --server-lr apply to "
                                           "--distributed fedavg: they change its local objective and its merge");
    if (d->server_adam && d->server_momentum > 0)
        return cli_fail(err, DN_ERR_USAGE, "--server-momentum and --server-adam: pick one server optimiser "
                                           "(Adam has its own momentum, beta1 0.9)");
    if (d->mode == MODE_OFF)
        return cli_fail(err, DN_ERR_USAGE, "the distributed flags (--rounds, --aggregate, --fault, --checkpoint, ...) "
                                           "need --distributed sync or fedavg");
    if (validation)
        return cli_fail(err, DN_ERR_USAGE, "--validation is not available with --distributed: the test set is "
                                           "evaluated after every epoch or round");
    if (d->mode == MODE_SYNC && (d->flags.fault || d->aggregate))
        return cli_fail(err, DN_ERR_USAGE, "--fault and --aggregate apply to --distributed fedavg: sync sums "
                                           "gradients and has no aggregation rule to test");
    return dist_check_flags(&d->flags, err);
}

/* A single-process run that only asks for checkpoints runs as a sync job of
 * one rank, without MPI (the library's loop on a local communicator): with
 * one rank it trains bit for bit as plain `digitnet mlp` does
 * (tests/cli_mpi_mlp.sh checks it). */
static int only_checkpoint_flags(const mlp_dist *d)
{
    const mlp_dist def = MLP_DIST_DEFAULT;
    mlp_dist others = *d;
    others.checkpoint = others.resume = NULL;
    others.checkpoint_every = def.checkpoint_every;
    return d->mode == MODE_OFF && (d->checkpoint || d->resume) && !mlp_dist_wanted(&others);
}

/* Checks that need the job's size; every rank reaches the same verdict. */
static dn_status check_with_size(const mlp_dist *d, const dn_partition *part, int ranks, dn_error *err)
{
    if (d->mode != MODE_FEDAVG) return DN_OK;
    dn_aggregate_options agg = aggregate_flag_options(d);
    agg.reference = agg.trusted = (const float *)&agg; /* stand-ins: the rounds set both */
    /* with clients the rule merges the m clients drawn each round */
    size_t models = part ? dn_fedavg_sample_count(dn_partition_clients(part), client_fraction(d)) : (size_t)ranks;
    return dn_aggregate_options_check(&agg, models, err);
}

/* --clients: the partition, made (the same on every rank) or loaded and
 * checked against the first n samples. NULL with err filled on failure. */
static dn_partition *client_partition(const mlp_dist *d, const dn_dataset *train, size_t n, uint64_t seed,
                                      dn_error *err)
{
    if (d->partition_file) {
        dn_partition *part = dn_partition_load(d->partition_file, train, err);
        if (!part) return NULL;
        if (dn_partition_train_size(part) != n ||
            (d->clients && dn_partition_clients(part) != d->clients)) {
            cli_fail(err, DN_ERR_USAGE, "%s: partitions the first %zu samples among %zu clients; this run has "
                     "--train-size %zu and --clients %zu", d->partition_file, dn_partition_train_size(part),
                     dn_partition_clients(part), n, d->clients ? d->clients : dn_partition_clients(part));
            dn_partition_free(part);
            return NULL;
        }
        return part;
    }
    if (d->clients > n) {
        cli_fail(err, DN_ERR_USAGE, "--clients %zu is more than the %zu training samples (valid: 1 to %zu)",
                 d->clients, n, n);
        return NULL;
    }
    dn_partition_spec spec;
    if (dn_partition_parse(d->partition ? d->partition : "iid", &spec, err)) return NULL;
    uint64_t pseed = d->partition_seed != PARTITION_SEED_UNSET ? d->partition_seed : seed;
    return dn_partition_make(train, n, d->clients, &spec, pseed, err);
}

/* The partition's line: spec, n, K, seed, client sizes, the draw. */
static void print_partition(const dist_run *run)
{
    const dn_partition *part = run->part;
    size_t k = dn_partition_clients(part), smallest = (size_t)-1, largest = 0;
    for (size_t c = 0; c < k; c++) {
        size_t n = dn_partition_client_size(part, c);
        if (n < smallest) smallest = n;
        if (n > largest) largest = n;
    }
    char spec[64];
    dn_partition_format(dn_partition_get_spec(part), spec, sizeof spec);
    double c = client_fraction(run->d);
    printf("partition: %s of the first %zu training samples over %zu clients (seed %llu), sizes %zu to %zu; "
           "C = %g: %zu clients per round over %d rank%s\n",
           spec, dn_partition_train_size(part), k, (unsigned long long)dn_partition_seed(part), smallest, largest, c,
           dn_fedavg_sample_count(k, c), run->d->job.size, run->d->job.size == 1 ? "" : "s");
}

/* --------------------------------------------------------------- output */

/* The adversaries' line, ending the fedavg line: attack and detection. */
static void print_adversaries(const dist_run *run, const dn_fedavg_options *fo)
{
    if (fo->malicious > 0 && fo->attack.kind != DN_ATTACK_NONE) {
        char attack[64];
        dn_attack_format(&fo->attack, attack, sizeof attack);
        size_t k = dn_partition_clients(run->part), bad = 0;
        unsigned char *mask = malloc(k);
        if (mask) bad = dn_malicious_clients(k, fo->malicious, run->seed, mask);
        free(mask);
        printf("\nattack %s by %zu of the %zu clients (--malicious %g)", attack, bad, k, fo->malicious);
    }
    if (fo->detect.method == DN_DETECT_NONE) return;
    printf("%sdetection %s, threshold %g", fo->malicious > 0 ? "; " : "\n", dn_detect_method_name(fo->detect.method),
           fo->detect.threshold > 0 ? fo->detect.threshold : dn_detect_default_threshold(fo->detect.method));
    if (fo->detect.reputation > 0) printf(", banned after %d flags", fo->detect.reputation);
}

static void print_header(const dist_run *run, const dn_mlp_options *o, size_t n)
{
    const mlp_dist *d = run->d;
    printf("mlp --distributed %s: 784", mlp_dist_modes()[d->mode]);
    for (int i = 0; i < o->n_hidden; i++) printf("-%zu", o->hidden[i]);
    printf("-10 %s, %s lr=%g, schedule %s, seed %llu, %zu training samples\n", dn_activation_name(o->activation),
           dn_optimizer_name(o->optimizer), o->lr, dn_schedule_name(o->schedule), (unsigned long long)o->seed, n);
    if (d->mode == MODE_SYNC) {
        size_t B = o->batch ? o->batch : n; /* 0: the full batch */
        printf("sync over %d rank%s: global batch %zu, parts", d->job.size, d->job.size == 1 ? "" : "s", B);
        for (int r = 0; r < d->job.size; r++) printf(" %zu", dn_shard_size(B, d->job.size, r));
        printf(", %d epochs%s\n", o->epochs, d->deterministic ? ", deterministic (rank-order sums)" : "");
        mlp_describe_regularisation(o);
        if (run->validation)
            printf("%5s %10s %9s %9s %9s %9s %8s\n", "epoch", "train_loss", "train_acc", "val_acc", "test_acc", "lr",
                   "seconds");
        else
            printf("%5s %10s %9s %9s %9s %8s\n", "epoch", "train_loss", "train_acc", "test_acc", "lr", "seconds");
    } else {
        if (run->part) print_partition(run);
        else dist_print_shards(&d->job, &d->flags, n);
        char batch[32] = "full (each client's set)";
        if (o->batch) snprintf(batch, sizeof batch, "%zu", o->batch);
        printf("fedavg: %d rounds of %d local epoch%s, batch %s, aggregate %s", d->rounds, d->local_epochs,
               d->local_epochs == 1 ? "" : "s", batch, dn_aggregate_rule_name((dn_aggregate_rule)d->aggregate));
        if (d->aggregate == DN_AGG_TRIMMED_MEAN) printf(" (trim %g)", d->trim);
        if (d->aggregate == DN_AGG_KRUM) printf(" (f = %d)", d->faulty);
        dn_fedavg_options fo;
        dn_fedavg_options_default(&fo);
        fedavg_flag_options(d, &fo);
        if (fo.prox_mu > 0) printf(", FedProx mu %g", fo.prox_mu);
        if (fo.server == DN_FEDAVG_SERVER_MOMENTUM) printf(", server momentum %g", fo.server_momentum);
        if (fo.server == DN_FEDAVG_SERVER_ADAM)
            printf(", server Adam (beta1 %g, beta2 %g, tau %g)", fo.server_beta1, fo.server_beta2, fo.server_tau);
        if (fo.server != DN_FEDAVG_SERVER_PLAIN || fo.server_lr != 1) printf(", server lr %g", fo.server_lr);
        if (fo.stragglers > 0)
            printf(", stragglers %g (%s)", fo.stragglers, dn_straggler_policy_name(fo.straggler_policy));
        if (fo.dropout_rate > 0) printf(", dropout rate %g", fo.dropout_rate);
        if (d->aggregate == DN_AGG_KRUM && d->krum_select > 1) printf(" (multi-Krum, M = %d)", d->krum_select);
        if (d->aggregate == DN_AGG_CLIP && d->clip > 0) printf(" (clip %g)", d->clip);
        if (run->root_set) printf(", root set %zu samples", run->root_set->count);
        print_adversaries(run, &fo);
        printf("\n%5s %10s %9s %10s %8s %9s %9s", "round", "test_error", "test_loss", "train_loss", "seconds", "MB_sent",
               "MB_recv");
        printf(run->part ? " %9s  note\n" : "  note\n", "clients");
    }
    fflush(stdout);
}

static void note_accuracy(dist_run *run, int step, double accuracy, double seconds)
{
    run->train_seconds += seconds;
    run->test_accuracy = accuracy;
    if (!run->target_step && accuracy >= TARGET_ACCURACY)
        run->target_step = step, run->target_seconds = run->train_seconds;
}

static void sync_row(dist_run *run, const dn_mlp_run_report *rr, const dn_mlp_eval *test)
{
    const dn_mlp_epoch_report *r = rr->epoch;
    if (!run->quiet && rr->selection)
        printf("%5d %10.5f %9.4f %9.4f %9.4f %9.5f %8.2f\n", r->epoch + 1, r->train_loss, r->train_accuracy,
               rr->selection->accuracy, test->accuracy, r->lr, r->seconds);
    else if (!run->quiet)
        printf("%5d %10.5f %9.4f %9.4f %9.5f %8.2f\n", r->epoch + 1, r->train_loss, r->train_accuracy, test->accuracy,
               r->lr, r->seconds);
    if (run->metrics.fp)
        fprintf(run->metrics.fp, "%d,%.6f,%.6f,%.6f,%.6f,%.6g,%.4f\n", r->epoch + 1, r->train_loss,
                r->train_accuracy, test->accuracy, 1 - test->accuracy, r->lr, r->seconds);
}

/* The row's note: a refusal's reason, Krum's pick, who did not report. */
static void fedavg_note(const dist_run *run, const dn_fedavg_report *r, char *note, size_t size)
{
    size_t used = 0;
    note[0] = '\0';
    if (r->refused) used = (size_t)snprintf(note, size, "%s", r->reason);
    else if (r->chosen_rank >= 0)
        used = (size_t)snprintf(note, size, "krum picked %s %d", run->part ? "client" : "rank", r->chosen_rank);
    if (used < size && run->detection.on)
        used += (size_t)snprintf(note + used, size - used, "%sflagged %zu of %zu (%zu malicious): TP %zu FP %zu FN %zu%s",
                                 used ? "; " : "", r->flagged, r->scored + r->banned, r->malicious, r->true_positives,
                                 r->false_positives, r->false_negatives, r->banned ? ", banned ones included" : "");
    if (r->refused || used >= size || !(r->clients_straggling || r->clients_dropped_out)) return;
    snprintf(note + used, size - used, "%s%zu straggler%s (%s), %zu dropped out", used ? "; " : "",
             r->clients_straggling, r->clients_straggling == 1 ? "" : "s",
             dn_straggler_policy_name((dn_straggler_policy)run->d->straggler_policy), r->clients_dropped_out);
}

static void fedavg_row(dist_run *run, const dn_fedavg_report *r, const dn_mlp_eval *test)
{
    detection_log_round(&run->detection, r);
    char note[DN_ERROR_MESSAGE_MAX + 96];
    fedavg_note(run, r, note, sizeof note);
    if (!run->quiet) {
        char clients[48];
        snprintf(clients, sizeof clients, "%zu/%zu", r->clients_reported, r->clients_sampled);
        printf("%5d %9.2f%% %9.5f %10.5f %8.2f %9.2f %9.2f", r->round + 1, 100 * (1 - test->accuracy), test->loss,
               r->train_loss, r->seconds, (double)r->bytes_sent / 1e6, (double)r->bytes_received / 1e6);
        if (run->part) printf(" %9s", clients);
        printf("  %s\n", note);
    }
    if (run->metrics.fp) {
        fprintf(run->metrics.fp, "%d,%.6f,%.6f,%.6f,%.6f,%d,%d,%d,%.4f,%llu,%llu", r->round + 1, 1 - test->accuracy,
                test->accuracy, test->loss, r->train_loss, r->refused, r->bad_rank, r->chosen_rank, r->seconds,
                (unsigned long long)r->bytes_sent, (unsigned long long)r->bytes_received);
        if (run->part)
            fprintf(run->metrics.fp, ",%zu,%zu,%zu,%zu", r->clients_sampled, r->clients_reported,
                    r->clients_straggling, r->clients_dropped_out);
        if (adversary_flags_given(run->d))
            fprintf(run->metrics.fp, ",%zu,%zu,%zu,%zu,%zu,%zu", r->malicious, r->flagged, r->true_positives,
                    r->false_positives, r->false_negatives, r->banned);
        fputc('\n', run->metrics.fp);
    }
    if (r->refused) fprintf(stderr, "digitnet: round %d: %s\n", r->round + 1, r->reason);
}

/* ------------------------------------------------------------------ steps */

/* After each epoch or round (the library's loop calls it, once the
 * checkpoint is written): rank 0 evaluates and prints; then the
 * DN_TEST_KILL_AT hook. An evaluation failure stops the run. */
/* --serve: the columns of the rows rank 0 sends to the page, by mode. */
static const char *const live_sync_columns[] = {"epoch", "train_loss", "train_accuracy", "test_accuracy", "lr",
                                                "seconds"};
static const char *const live_fedavg_columns[] = {"round", "test_accuracy", "test_loss", "train_loss", "seconds"};
#define LIVE_SYNC_COLUMNS (sizeof live_sync_columns / sizeof *live_sync_columns)
#define LIVE_FEDAVG_COLUMNS (sizeof live_fedavg_columns / sizeof *live_fedavg_columns)

static void live_row(const dist_run *run, const dn_mlp_run_report *r, const dn_mlp_eval *test)
{
    if (r->epoch) {
        const dn_mlp_epoch_report *e = r->epoch;
        const double row[LIVE_SYNC_COLUMNS] = {e->epoch + 1, e->train_loss, e->train_accuracy, test->accuracy, e->lr,
                                               e->seconds};
        serve_live_row(run->d->live, row, LIVE_SYNC_COLUMNS);
    } else {
        const dn_fedavg_report *f = r->round;
        const double row[LIVE_FEDAVG_COLUMNS] = {f->round + 1, test->accuracy, test->loss, f->train_loss, f->seconds};
        serve_live_row(run->d->live, row, LIVE_FEDAVG_COLUMNS);
    }
}

static int on_step(const dn_mlp_run_report *r, void *user)
{
    dist_run *run = user;
    dn_mlp_eval test = {0};
    int failed = 0;
    if (run->root && !(failed = dn_mlp_evaluate(run->mlp, run->test, &test, &run->step_err) != DN_OK)) {
        if (r->epoch) {
            note_accuracy(run, r->step, test.accuracy, r->epoch->seconds);
            sync_row(run, r, &test);
        } else {
            note_accuracy(run, r->step, test.accuracy, r->round->seconds);
            fedavg_row(run, r->round, &test);
        }
        live_row(run, r, &test);
        fflush(stdout);
    }
    dist_test_kill_at(&run->d->job, r->step); /* DN_TEST_KILL_AT=R:S */
    return failed;
}

static int steps_done(const dist_run *run) { return dn_mlp_run_steps_done(run->loop); }

static dn_status train_all(dist_run *run, dn_error *err)
{
    dn_status s = dn_mlp_run_train(run->loop, err);
    run->d->agreed = dn_mlp_run_failed_alike(run->loop);
    if (!s && run->step_err.code) *err = run->step_err, s = run->step_err.code;
    return s;
}

/* ------------------------------------------------------------- the run */

static dn_status finish(dist_run *run, const char *metrics, const char *save, dn_error *err)
{
    dn_status s = DN_OK;
    if (run->metrics.fp) {
        s = cli_text_commit(&run->metrics, metrics, err);
        run->metrics.fp = NULL; /* closed and freed by the commit */
    }
    if (s || !run->root) return s;
    if (run->validation) { /* keep-best put another epoch's weights back: the test accuracy is theirs */
        dn_mlp_eval test;
        if ((s = dn_mlp_evaluate(run->mlp, run->test, &test, err))) return s;
        run->test_accuracy = test.accuracy;
        mlp_print_selection(run->mlp);
    }
    const char *unit = run->d->mode == MODE_SYNC ? "epoch" : "round";
    size_t seen = run->d->mode == MODE_SYNC ? run->train->count * (size_t)steps_done(run) : 0;
    printf("test accuracy: %.2f%% after %d %ss, %.2f s of training", 100 * run->test_accuracy, steps_done(run), unit,
           run->train_seconds);
    if (seen && run->train_seconds > 0) printf(", %.0f samples/s", (double)seen / run->train_seconds);
    printf("\n");
    if (run->target_step)
        printf("time to %.0f%% test accuracy: %.2f s (%s %d)\n", 100 * TARGET_ACCURACY, run->target_seconds, unit,
               run->target_step);
    if (run->detection.on) detection_log_print(&run->detection, stdout);
    const mlp_dist *d = run->d;
    if (d->profile) profile_print(stdout, &run->profile);
    s = detection_log_write(&run->detection, d->scores, d->score_map,
                            dn_detect_method_name((dn_detect_method)d->detect), err);
    if (s) return s;
    if (d->scores) printf("scores: %s\n", d->scores);
    if (d->score_map) printf("score map: %s\n", d->score_map);
    if (!save && !d->live) return DN_OK;
    dn_model *model = dn_model_from_mlp(run->mlp, run->data_crc32, err);
    s = model ? (save ? dn_model_save(model, save, err) : DN_OK) : err->code;
    if (!s && save) printf("saved %s\n", save);
    if (!s && d->live) run->d->served = model, model = NULL; /* served once the job has ended */
    dn_model_free(model);
    return s;
}

/* The library's options for this job (dist.h's flags mapped). */
static void loop_options(const dist_run *run, dn_mlp_run_options *o)
{
    const mlp_dist *d = run->d;
    dn_mlp_run_options_default(o);
    o->mode = (dn_mlp_run_mode)(d->mode - 1);
    o->deterministic = d->deterministic;
    o->rounds = d->rounds;
    o->fedavg.local_epochs = d->local_epochs;
    o->fedavg.aggregate = aggregate_flag_options(d);
    fedavg_flag_options(d, &o->fedavg);
    o->fedavg.root = run->root_set;
    o->checkpoint = (dn_checkpoint_policy){d->checkpoint, d->checkpoint_every, d->resume};
    o->on_step = on_step;
    o->user = (void *)run;
    o->clients = run->part; /* NULL: one client per rank */
    o->client_fraction = client_fraction(d);
    o->client_seed = run->seed;
    o->validation = run->validation;
    dist_options(&d->job, &d->flags, d->job_text, &o->dist); /* comm NULL alone: the library runs without MPI */
}

/* The network every rank starts from: the same seed, or the checkpoint. */
static dn_status prepare(dist_run *run, dn_mlp_options opt, const char *metrics, dn_error *err)
{
    mlp_dist *d = run->d;
    if (d->mode == MODE_FEDAVG) opt.epochs = d->rounds * d->local_epochs; /* the schedule spans the run */
    if (!(run->mlp = dn_mlp_create(&opt, err))) return err->code;
    if (run->root && d->profile) dn_mlp_set_profile(run->mlp, &run->profile);
    if (run->root && metrics) {
        if (cli_text_open(&run->metrics)) return cli_fail(err, DN_ERR_NOMEM, "%s: out of memory", metrics);
        fprintf(run->metrics.fp, d->mode == MODE_SYNC
                                     ? "epoch,train_loss,train_accuracy,test_accuracy,test_error,lr,seconds"
                                 : run->part
                                     ? FEDAVG_COLUMNS ",clients_sampled,clients_reported,clients_straggling,"
                                                      "clients_dropped_out"
                                     : FEDAVG_COLUMNS);
        fprintf(run->metrics.fp, "%s\n", adversary_flags_given(d) ? ADVERSARY_COLUMNS : "");
    }
    dn_mlp_run_options o;
    loop_options(run, &o);
    if (run->root && adversary_flags_given(d)) {
        dn_status s = detection_log_open(&run->detection, &o.fedavg, dn_partition_clients(run->part), d->rounds,
                                         run->seed, d->scores != NULL, d->score_map != NULL, err);
        if (s) return s;
    }
    if (!(run->loop = dn_mlp_run_create(run->mlp, &o, run->train, err))) return err->code;
    dn_status s = dn_mlp_run_resume(run->loop, err);
    d->agreed = dn_mlp_run_failed_alike(run->loop); /* a resume fails on every rank alike */
    if (!s && d->resume && run->root && !run->quiet)
        printf("resumed from %s after %d %s\n", d->resume, steps_done(run), d->mode == MODE_SYNC ? "epochs" : "rounds");
    return s;
}

static dn_status run_job(mlp_dist *d, const dn_mlp_options *opt, const dn_dataset *train, const dn_dataset *test,
                         const dn_dataset *root, size_t n, size_t validation, const dn_partition *part,
                         const char *metrics, const char *save, int quiet, dn_error *err)
{
    n -= validation; /* alone: the last validation samples are held out, as plain `digitnet mlp` does */
    dn_dataset fit = dn_dataset_view(train, 0, n), held = dn_dataset_view(train, n, validation);
    dist_run run = {.d = d, .train = &fit, .test = test, .quiet = quiet, .root = d->job.rank == 0, .part = part,
                    .seed = opt->seed, .root_set = root, .validation = validation ? &held : NULL};
    dist_job_text(d->job_text, sizeof d->job_text, d->deterministic ? "sync deterministic" : mlp_dist_modes()[d->mode],
                  &d->flags);
    if (run.root && save) run.data_crc32 = dn_dataset_crc32(&fit);
    dn_status s = DN_OK;
    if (run.root && d->serve) {
        int sync = d->mode == MODE_SYNC;
        d->live = serve_live_start(d->serve, "mlp", d->argc, d->argv, sync ? live_sync_columns : live_fedavg_columns,
                                   sync ? LIVE_SYNC_COLUMNS : LIVE_FEDAVG_COLUMNS, err);
        s = d->live ? DN_OK : err->code; /* the other ranks are stopped with the job */
    }
    if (!s && run.root && !quiet) print_header(&run, opt, n);
    if (!s) s = prepare(&run, *opt, run.root ? metrics : NULL, err);
    if (!s) s = train_all(&run, err);
    if (!s) s = finish(&run, metrics, run.root ? save : NULL, err);
    if (run.metrics.fp) fclose(run.metrics.fp), free(run.metrics.buffer);
    detection_log_free(&run.detection);
    dn_mlp_run_free(run.loop);
    dn_mlp_free(run.mlp);
    return s;
}

/* Joins the MPI job, except for a single process with checkpoints only:
 * a job of one that the library runs without MPI (no communicator). */
static dn_status join(mlp_dist *d, int alone, dn_error *err)
{
    if (!alone) return dist_job_begin(&d->job, &d->flags, err);
    d->job = (dist_job){0};
    d->job.size = 1;
    return DN_OK;
}

/* --root-size: the server's root set taken out of the first *n samples;
 * *train becomes the rest (its first *n − N samples), *n their count. */
static dn_status take_root(const mlp_dist *d, dn_dataset **train, dn_dataset **root, size_t *n, uint64_t seed,
                           dn_error *err)
{
    dn_dataset *rest = NULL;
    if (d->root_size >= *n)
        return cli_fail(err, DN_ERR_USAGE, "--root-size %zu leaves no sample for the clients of --train-size %zu "
                                           "(valid: 1 to %zu)", d->root_size, *n, *n - 1);
    dn_status s = dn_dataset_split_root(*train, *n, d->root_size, seed, root, &rest, err);
    if (s) return s;
    dn_dataset_free(*train);
    *train = rest;
    *n -= d->root_size;
    return DN_OK;
}

int mlp_dist_main(mlp_dist *d, dn_mlp_options *opt, const char *data, size_t train_size, size_t validation,
                  const char *metrics, const char *save, int quiet)
{
    dn_error err = {0};
    int alone = only_checkpoint_flags(d);
    if (alone) d->mode = MODE_SYNC;
    if (check_flags(d, alone ? 0 : validation, &err) || cli_check_output("--metrics", metrics, &err) ||
        cli_check_output("--save", save, &err) || cli_check_output("--scores", d->scores, &err) ||
        cli_check_output("--score-map", d->score_map, &err) || cli_check_output("--checkpoint", d->checkpoint, &err))
        return cli_report(&err);
    dn_dataset *train = NULL, *test = NULL, *root = NULL;
    dn_partition *part = NULL;
    int rc = cli_load_mnist(data, &train, &test);
    if (rc) return rc;
    if (train_size > train->count) {
        cli_fail(&err, DN_ERR_USAGE, "--train-size %zu is larger than the training set (valid: 1 to %zu)", train_size,
                 train->count);
        rc = cli_report(&err);
    } else if (d->root_size && take_root(d, &train, &root, &train_size, opt->seed, &err)) {
        rc = cli_report(&err);
    } else if (client_flags_given(d) && !(part = client_partition(d, train, train_size, opt->seed, &err))) {
        rc = cli_report(&err); /* before the job: every rank alike, each says it */
    } else if (join(d, alone, &err)) {
        rc = dist_report_once(&d->job, &err); /* all ranks fail alike here */
    } else if (check_with_size(d, part, d->job.size, &err)) {
        /* Every rank stops here together: rank 0 says why, all leave cleanly. */
        rc = dist_job_leave(&d->job, dist_report_once(&d->job, &err));
    } else {
        if (d->job.rank != 0) quiet = 1;
        dn_status s = run_job(d, opt, train, test, root, train_size, validation, part, metrics, save, quiet, &err);
        if (s && d->agreed) /* every rank knows why: rank 0 says it, all leave cleanly */
            rc = dist_job_leave(&d->job, dist_report_once(&d->job, &err));
        else
            rc = dist_job_end(&d->job, s ? dist_report(&d->job, &err) : CLI_EXIT_OK);
    }
    /* Rank 0 serves the trained model only now, out of the job, so that the
     * other ranks have left MPI and Ctrl-C reaches one process. */
    if (!rc && d->live) serve_live_finish(d->live, save ? save : "mlp", d->served);
    else serve_live_free(d->live), dn_model_free(d->served);
    d->live = NULL, d->served = NULL;
    dn_partition_free(part);
    dn_dataset_free(root);
    dn_dataset_free(train);
    dn_dataset_free(test);
    return rc;
}
