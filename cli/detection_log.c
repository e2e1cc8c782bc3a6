/* detection_log.c — see detection_log.h. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "detection_log.h"
#include "digitnet_plot.h"

dn_status detection_log_open(detection_log *log, const dn_fedavg_options *fo, size_t clients, int rounds,
                             uint64_t seed, int want_scores, int want_map, dn_error *err)
{
    memset(log, 0, sizeof *log);
    log->on = fo->detect.method != DN_DETECT_NONE;
    log->clients = clients, log->rounds = rounds > 0 ? (size_t)rounds : 0;
    log->threshold = fo->detect.threshold > 0 ? fo->detect.threshold : dn_detect_default_threshold(fo->detect.method);
    if (want_scores) {
        if (cli_text_open(&log->scores)) return cli_fail(err, DN_ERR_NOMEM, "out of memory for --scores");
        fprintf(log->scores.fp, "round,client,malicious,score,flagged\n");
    }
    if (!want_map && !want_scores) return DN_OK;
    if (!(log->is_malicious = calloc(clients, 1))) return cli_fail(err, DN_ERR_NOMEM, "out of memory for --scores");
    if (fo->malicious > 0 && fo->attack.kind != DN_ATTACK_NONE)
        dn_malicious_clients(clients, fo->malicious, seed, log->is_malicious);
    if (!want_map) return DN_OK;
    if (clients > 10000 || log->rounds > 10000)
        return cli_fail(err, DN_ERR_USAGE, "--score-map draws up to 10000 clients and 10000 rounds (this run: %zu "
                                           "clients, %zu rounds): use --scores", clients, log->rounds);
    if (!(log->map = malloc(clients * log->rounds * sizeof *log->map)))
        return cli_fail(err, DN_ERR_NOMEM, "out of memory for --score-map");
    for (size_t i = 0; i < clients * log->rounds; i++) log->map[i] = NAN;
    return DN_OK;
}

void detection_log_round(detection_log *log, const dn_fedavg_report *r)
{
    log->true_positives += r->true_positives, log->false_positives += r->false_positives;
    log->false_negatives += r->false_negatives, log->flagged += r->flagged, log->malicious += r->malicious;
    for (size_t i = 0; i < r->scored; i++) {
        size_t k = r->scored_clients[i];
        if (log->scores.fp)
            fprintf(log->scores.fp, "%d,%zu,%d,%.6g,%d\n", r->round + 1, k, log->is_malicious[k], r->scores[i],
                    r->flags[i]);
        if (log->map && k < log->clients && (size_t)r->round < log->rounds)
            log->map[k * log->rounds + (size_t)r->round] = r->scores[i];
    }
}

void detection_log_print(const detection_log *log, FILE *out)
{
    size_t tp = log->true_positives, fp = log->false_positives, fn = log->false_negatives;
    fprintf(out, "detection: precision ");
    if (tp + fp) fprintf(out, "%.3f", (double)tp / (double)(tp + fp));
    else fprintf(out, "n/a (nothing flagged)");
    fprintf(out, " recall ");
    if (tp + fn) fprintf(out, "%.3f", (double)tp / (double)(tp + fn));
    else fprintf(out, "n/a (no malicious participant)");
    fprintf(out, " (TP %zu, FP %zu, FN %zu)\n", tp, fp, fn);
}

dn_status detection_log_write(detection_log *log, const char *scores, const char *map, const char *method,
                              dn_error *err)
{
    dn_status s = DN_OK;
    if (log->scores.fp) {
        s = cli_text_commit(&log->scores, scores, err);
        log->scores.fp = NULL; /* closed and freed by the commit */
    }
    if (s || !log->map || !map) return s;
    char title[96];
    snprintf(title, sizeof title, "suspicion (%s) per client and round, threshold %g", method, log->threshold);
    double hi = 2 * log->threshold > 0 ? 2 * log->threshold : 1;
    return dn_plot_score_map(map, title, "client", "round", log->map, log->clients, log->rounds, 0, hi,
                             log->threshold, log->is_malicious, "malicious", err);
}

void detection_log_free(detection_log *log)
{
    if (log->scores.fp) fclose(log->scores.fp);
    free(log->scores.buffer);
    free(log->map);
    free(log->is_malicious);
    memset(log, 0, sizeof *log);
}
