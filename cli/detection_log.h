/* detection_log.h — what `digitnet mlp --distributed fedavg --detect` keeps
 * of detection over a run: the totals of the closing "detection:" line,
 * every score (--scores, CSV) and the clients × rounds heat map
 * (--score-map, SVG), written atomically at the end. */
#ifndef DN_DETECTION_LOG_H
#define DN_DETECTION_LOG_H

#include "cli.h"

typedef struct detection_log {
    int on;                        /* --detect given */
    size_t true_positives, false_positives, false_negatives, flagged, malicious;
    cli_text scores;               /* scores.fp NULL unless --scores */
    double *map;                   /* (clients, rounds) the scores, NaN where none; NULL unless --score-map */
    unsigned char *is_malicious;   /* (clients) the ground truth, for the map's marks */
    size_t clients, rounds;
    double threshold;              /* the threshold in use, drawn on the map */
} detection_log;

/* Prepares the log for K clients over R rounds; ground truth from
 * (fraction, seed) as the library draws it. 0, or DN_ERR_USAGE / NOMEM. */
dn_status detection_log_open(detection_log *log, const dn_fedavg_options *fo, size_t clients, int rounds,
                             uint64_t seed, int want_scores, int want_map, dn_error *err);
/* Adds one round's verdicts and scores. */
void detection_log_round(detection_log *log, const dn_fedavg_report *r);
/* The "detection: precision P recall R (TP tp, FP fp, FN fn)" line. */
void detection_log_print(const detection_log *log, FILE *out);
/* Writes --scores and --score-map (either path may be NULL). */
dn_status detection_log_write(detection_log *log, const char *scores, const char *map, const char *method,
                              dn_error *err);
void detection_log_free(detection_log *log);

#endif
