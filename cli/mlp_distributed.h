/* mlp_distributed.h — `digitnet mlp --distributed sync|fedavg`.
 *
 *   sync    synchronous data-parallel SGD: every rank holds the training
 *           set, computes the gradient of its part of each global batch,
 *           the gradients are summed (MPI_Allreduce over the one gradient
 *           buffer) and every rank takes the same step: the same model as
 *           one process with the same batch, within float rounding.
 *           --deterministic sums in rank order on rank 0 instead (bit-
 *           identical run to run). Trains --epochs epochs.
 *   fedavg  federated averaging: --rounds R of (rank 0 broadcasts the
 *           model, every rank trains --local-epochs E on its shard, rank 0
 *           gathers and merges with --aggregate, then evaluates on the test
 *           set). The learning-rate schedule spans R × E local epochs.
 *           --prox-mu adds FedProx's proximal term to the local training;
 *           --server-momentum (FedAvgM) or --server-adam (FedAdam), with
 *           --server-lr, step rank 0's model along the averaged update
 *           (dn_fedavg_round has the formulas).
 *           --clients K trains K virtual clients of a partition instead of
 *           one client per rank: --partition SPEC (dn_partition_syntax,
 *           default iid; made with dn_partition_make from --partition-seed,
 *           default --seed) or --partition-file FILE (dn_partition_load,
 *           checked against the data); each round m = max(round(C·K), 1)
 *           clients are drawn (--client-fraction C, default 1) from --seed
 *           and trained on the ranks (dn_fedavg_clients_round): the same
 *           model for any number of ranks, mpirun or not. The header gains
 *           the partition's line, each row and --metrics the clients
 *           sampled and reported (only with --clients). --stragglers P
 *           (--straggler-policy drop|partial) and --dropout-rate Q make
 *           clients straggle or fail to report (dn_fedavg_plan_round); a
 *           round nobody reports keeps the model and says so.
 *           --attack KIND --malicious F make a seeded share of the clients
 *           attack; --aggregate adds clip and fltrust (--root-size N: the
 *           server's clean samples) and --krum-select M; --detect METHOD
 *           scores each round's clients and leaves out the suspicious
 *           (--detect-threshold, --reputation R bans); the rows, --metrics
 *           and the closing "detection:" line count its hits and misses,
 *           --scores and --score-map keep every score.
 *
 * Rank 0 prints a row per epoch or round and writes --metrics, --save and
 * --checkpoint; every rank takes part in every collective. MPI aborts the
 * whole job when a rank dies: --checkpoint FILE --checkpoint-every N and a
 * later --resume FILE are the recovery.
 *
 * Testing aid: DN_TEST_KILL_AT=R:S in the environment makes rank R kill
 * itself (SIGKILL) right after step S (epoch or round, 1-based) and its
 * checkpoint (dist_test_kill_at in dist.h), which is how
 * tests/cli_mpi_checkpoint.sh exercises resuming. */
#ifndef DN_MLP_DISTRIBUTED_H
#define DN_MLP_DISTRIBUTED_H

#include "dist.h"

typedef struct mlp_dist {
    int mode; /* index into mlp_dist_modes(): 0 = off, else 1 + dn_mlp_run_mode */
    int deterministic;
    int rounds, local_epochs;
    int aggregate; /* index into dn_aggregate_rule_choices() (= dn_aggregate_rule) */
    double trim;
    int faulty;
    double prox_mu;         /* FedProx μ (0: none) */
    double server_momentum; /* > 0: FedAvgM */
    int server_adam;        /* FedAdam */
    double server_lr;       /* η_s; 0: the default (1, or SERVER_ADAM_LR with --server-adam) */
    const char *checkpoint, *resume;
    int checkpoint_every;
    dist_flags flags;
    dist_job job;
    char job_text[DIST_JOB_TEXT_MAX]; /* what its checkpoints record (dist_job_text) */
    int agreed; /* the run failed on every rank alike (a checkpoint step): rank 0 alone reports, all leave cleanly */
    size_t clients;          /* K virtual clients; 0: one client per rank */
    double client_fraction;  /* C in [0, 1]; CLIENTS_UNSET: 1 */
    const char *partition;   /* SPEC (dn_partition_parse); NULL: iid */
    const char *partition_file; /* FILE (dn_partition_load) */
    uint64_t partition_seed; /* PARTITION_SEED_UNSET: --seed */
    double stragglers;       /* fraction of each round's clients that straggle */
    int straggler_policy;    /* index into dn_straggler_policy_choices() (= dn_straggler_policy) */
    double dropout_rate;     /* probability that a sampled client fails to report */
    const char *attack;      /* --attack KIND (dn_attack_parse); NULL: none */
    double malicious;        /* --malicious F: the malicious share of the clients */
    int krum_select;         /* --krum-select M: multi-Krum (1: Krum) */
    double clip;             /* --clip C: the clip rule's bound (0: the median update norm) */
    size_t root_size;        /* --root-size N: FLTrust's root set, taken out of the clients' data */
    int detect;              /* index into dn_detect_method_choices() (= dn_detect_method) */
    double detect_threshold; /* 0: the method's default */
    int reputation;          /* bans after this many flags (0: never) */
    const char *scores;      /* --scores FILE: every score, CSV */
    const char *score_map;   /* --score-map FILE: clients x rounds heat map, SVG */
    const char *serve;       /* --serve HOST:PORT (set by cmd_mlp): rank 0 serves the run; NULL: not */
    int argc;                /* the command line, shown on the page */
    char **argv;
    struct serve_live *live; /* rank 0 with --serve: the server, during the run and after the job */
    dn_model *served;        /* rank 0 with --serve: the trained model, served once the job has ended */
    int profile;             /* --profile (set by cmd_mlp): rank 0 prints where its steps' time went */
} mlp_dist;

#define CLIENTS_UNSET (-1.0)          /* --client-fraction not given (its range starts at 0) */
#define PARTITION_SEED_UNSET UINT64_MAX /* --partition-seed not given (above its range) */

/* --partition's help: "--clients: how the training set is split, SPEC: "
 * followed by dn_partition_syntax(). Static storage. */
const char *mlp_dist_partition_help(void);

/* "off", then the library's run modes (dn_mlp_run_mode_choices: "sync",
 * "fedavg"): entry i + 1 names the dn_mlp_run_mode i. */
const char *const *mlp_dist_modes(void);

#define MLP_DIST_DEFAULT                                                                                               \
    {0, 0, 10, 1, 0, 0.25, 1, 0, 0, 0, 0, NULL, NULL, 1, DIST_FLAGS_DEFAULT, {0}, "", 0, 0, CLIENTS_UNSET, NULL, NULL,   \
     PARTITION_SEED_UNSET, 0, 0, 0, NULL, 0, 1, 0, 0, 0, 0, 0, NULL, NULL, NULL, 0, NULL, NULL, NULL, 0}

/* --server-lr when --server-adam is given without it: FedAdam's step bounds
 * how far a coordinate moves per round (see dn_fedavg_round). */
#define SERVER_ADAM_LR 0.01

#define MLP_DIST_OPTS(d)                                                                                               \
    {"--distributed", CLI_CHOICE, &(d).mode, "MODE",                                                                  \
     "run across the ranks of mpirun: sync = data-parallel SGD, fedavg = federated averaging", 0, 0, 0,               \
     mlp_dist_modes()},                                                                                                  \
        {"--deterministic", CLI_FLAG, &(d).deterministic, "",                                                         \
         "sync: sum gradients in rank order on rank 0 (bit-identical runs)", 0, 0, 0, NULL},                          \
        {"--rounds", CLI_INT, &(d).rounds, "R", "fedavg: communication rounds", 1, 1e6, 0, NULL},                     \
        {"--local-epochs", CLI_INT, &(d).local_epochs, "E", "fedavg: epochs each rank trains per round", 1, 1e4, 0,   \
         NULL},                                                                                                        \
        {"--aggregate", CLI_CHOICE, &(d).aggregate, "RULE", "fedavg: how rank 0 merges the models", 0, 0, 0,          \
         dn_aggregate_rule_choices()},                                                                                              \
        {"--trim", CLI_DOUBLE, &(d).trim, "F", "trimmed-mean: fraction cut at each end, [0, 0.5)", 0, 0.4999, 0,      \
         NULL},                                                                                                        \
        {"--faulty", CLI_INT, &(d).faulty, "F", "krum: faulty ranks tolerated (needs ranks >= 2F + 3)", 0, 1e6, 0,    \
         NULL},                                                                                                        \
        {"--prox-mu", CLI_DOUBLE, &(d).prox_mu, "MU",                                                                 \
         "fedavg: FedProx, each local objective gains MU/2 |w - w_global|^2", 0, 1e6, 0, NULL},                       \
        {"--server-momentum", CLI_DOUBLE, &(d).server_momentum, "BETA",                                               \
         "fedavg: server momentum on the averaged update (FedAvgM), in [0, 1)", 0, 0.999999, 0, NULL},                \
        {"--server-adam", CLI_FLAG, &(d).server_adam, "",                                                             \
         "fedavg: Adam on the averaged update (FedAdam: beta1 0.9, beta2 0.99, tau 1e-3)", 0, 0, 0, NULL},            \
        {"--server-lr", CLI_DOUBLE, &(d).server_lr, "ETA",                                                            \
         "fedavg: server step size on the averaged update; 0 = 1, or 0.01 with --server-adam", 0, 1e6, 0, NULL},      \
        {"--checkpoint", CLI_STRING, &(d).checkpoint, "FILE", "write a checkpoint here (rank 0, atomically)", 0, 0, 0, \
         NULL},                                                                                                        \
        {"--checkpoint-every", CLI_INT, &(d).checkpoint_every, "N", "checkpoint after every N epochs or rounds", 1,    \
         1e6, 0, NULL},                                                                                                \
        {"--resume", CLI_STRING, &(d).resume, "FILE", "continue the run this checkpoint saved", 0, 0, 0, NULL},       \
        {"--clients", CLI_SIZE, &(d).clients, "K",                                                                    \
         "fedavg: K virtual clients of a partition (default: one client per rank)", 1, 1e6, 0, NULL},                \
        {"--client-fraction", CLI_DOUBLE, &(d).client_fraction, "C",                                                  \
         "fedavg --clients: fraction of the clients drawn each round, max(round(C*K), 1) of them (default 1)", 0, 1, \
         0, NULL},                                                                                                     \
        {"--partition", CLI_STRING, &(d).partition, "SPEC", mlp_dist_partition_help(), 0, 0, 0, NULL},                \
        {"--partition-file", CLI_STRING, &(d).partition_file, "FILE",                                                 \
         "fedavg --clients: the partition saved by `digitnet partition` (instead of --partition)", 0, 0, 0, NULL},    \
        {"--partition-seed", CLI_U64, &(d).partition_seed, "S",                                                       \
         "fedavg --clients: seed of the partition (default --seed)", 0, 1.8e19, 0, NULL},                             \
        {"--stragglers", CLI_DOUBLE, &(d).stragglers, "P",                                                            \
         "fedavg --clients: fraction of each round's clients that straggle, in [0, 1]", 0, 1, 0, NULL},              \
        {"--straggler-policy", CLI_CHOICE, &(d).straggler_policy, "HOW",                                              \
         "drop = their updates are discarded (FedAvg), partial = they train randint(1, E) epochs and are kept "         \
         "(FedProx)", 0, 0, 0, dn_straggler_policy_choices()},                                                         \
        {"--dropout-rate", CLI_DOUBLE, &(d).dropout_rate, "Q",                                                        \
         "fedavg --clients: probability that a sampled client fails to report, in [0, 1]", 0, 1, 0, NULL},           \
        {"--attack", CLI_STRING, &(d).attack, "KIND",                                                                \
         "fedavg --clients: what the --malicious clients do: label-flip, sign-flip[:L], scale:S, gaussian[:SIGMA], "  \
         "alie[:Z], ipm[:EPS], nan, zero, random (alie and ipm are omniscient: they see the round's honest updates)", \
         0, 0, 0, NULL},                                                                                               \
        {"--malicious", CLI_DOUBLE, &(d).malicious, "F",                                                              \
         "fedavg --clients: fraction of the clients that attack for the whole run (seeded by --seed), in [0, 1)", 0, \
         0.999999, 0, NULL},                                                                                           \
        {"--krum-select", CLI_INT, &(d).krum_select, "M", "krum: average the M best-scored models (multi-Krum)", 1,   \
         1e6, 0, NULL},                                                                                                \
        {"--clip", CLI_DOUBLE, &(d).clip, "C",                                                                        \
         "clip: bound on each update's norm (default 0 = the round's median update norm)", 0, 1e30, 0, NULL},         \
        {"--root-size", CLI_SIZE, &(d).root_size, "N",                                                                \
         "fltrust: the server's clean root set, N training samples taken out of the clients' data", 1, 1e6, 0, NULL}, \
        {"--detect", CLI_CHOICE, &(d).detect, "METHOD",                                                               \
         "fedavg --clients: score every client each round and leave out those over the threshold", 0, 0, 0,           \
         dn_detect_method_choices()},                                                                                  \
        {"--detect-threshold", CLI_DOUBLE, &(d).detect_threshold, "T",                                                \
         "--detect: flag scores above T (default: the method's; see docs/distributed.md)", 0, 1e30, 0, NULL},         \
        {"--reputation", CLI_INT, &(d).reputation, "R", "--detect: ban a client flagged in R rounds for the rest of " \
         "the run (0 = never)", 0, 1e6, 0, NULL},                                                                      \
        {"--scores", CLI_STRING, &(d).scores, "FILE",                                                                 \
         "--detect: every score as CSV: round,client,malicious,score,flagged", 0, 0, 0, NULL},                         \
        {"--score-map", CLI_STRING, &(d).score_map, "FILE",                                                           \
         "--detect: the clients x rounds heat map of the scores, malicious clients marked (SVG)", 0, 0, 0, NULL},     \
        DIST_FLAGS_OPTS((d).flags)

/* 1 when --distributed or any flag of this table was given. */
int mlp_dist_wanted(const mlp_dist *d);

/* The whole run when mlp_dist_wanted: checks, loads the data, joins the
 * job, trains, reports, saves, leaves the job. Returns the exit code. */
int mlp_dist_main(mlp_dist *d, dn_mlp_options *opt, const char *data, size_t train_size, size_t validation,
                  const char *metrics, const char *save, int quiet);

#endif /* DN_MLP_DISTRIBUTED_H */
