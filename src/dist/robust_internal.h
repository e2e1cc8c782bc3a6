/*
 * robust_internal.h — the pieces of the robust aggregation rules
 * (aggregate.c) that detection (detect.c) scores with, so that a detector
 * and the rule it mirrors compute the same numbers. Not installed.
 */
#ifndef DN_ROBUST_INTERNAL_H
#define DN_ROBUST_INTERNAL_H

#include <stddef.h>

#include "digitnet.h"

/* Sorts column (k floats) in the robust rules' total order (−Inf < finite
 * < +Inf < NaN) and returns the mean of sorted[t … k−t−1] in double: the
 * median for t = (k − 1) / 2. */
double dn_middle_mean_(float *column, size_t k, size_t t);

/* The median of v (n ≥ 1, no NaN), sorting v in place; even n: the mean of
 * the two middle values. */
double dn_median_f64_(double *v, size_t n);

/* Krum's score of each of the k models (k, p): the sum of its m ≤ k − 1
 * smallest squared distances to the others, +Inf when not finite. */
dn_status dn_krum_scores_(const float *models, size_t k, size_t p, size_t m, double *score, dn_error *err);

/* With Δ = model − reference and g = direction − reference: *dot = Δ·g
 * (0 when direction is NULL) and *norm2 = ‖Δ‖², in double, one pass. */
void dn_update_dot_(const float *model, const float *reference, const float *direction, size_t p, double *dot,
                    double *norm2);

/* FLTrust's trust t_i = max(0, cos(Δ_i, g_0)) of each of the k models
 * (0 for a non-finite or zero update, and for all when g_0 = 0), with
 * norm[i] = ‖Δ_i‖ (not finite for a non-finite update) and *server_norm =
 * ‖g_0‖. DN_ERR_NUMERIC when g_0 is not finite. */
dn_status dn_fltrust_trust_(const float *models, size_t k, size_t p, const float *reference, const float *trusted,
                            double *trust, double *norm, double *server_norm, dn_error *err);

#endif /* DN_ROBUST_INTERNAL_H */
