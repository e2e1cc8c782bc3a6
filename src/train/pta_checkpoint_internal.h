/*
 * pta_checkpoint_internal.h — a perceptron trainer's state inside any
 * checkpoint kind: pta_checkpoint.c ("pta-checkpoint") and
 * pta_distributed_checkpoint.c ("pta-distributed-checkpoint") store the same
 * tensors and metadata, the distributed kind adding its own on top.
 * Not installed.
 */
#ifndef DN_PTA_CHECKPOINT_INTERNAL_H
#define DN_PTA_CHECKPOINT_INTERNAL_H

#include "checkpoint_internal.h"

#define DN_PTA_CKPT_MAX_EXTRA 4 /* tensors a kind may add */

/* Writes pta's state to path atomically, as dn_pta_checkpoint_save
 * describes, under m: made by dn_ckpt_meta_init with the kind, holding the
 * kind's own entries, which stay first. extra (nextra ≤
 * DN_PTA_CKPT_MAX_EXTRA tensors, may be NULL when 0) follow the PTA's. */
dn_status dn_pta_ckpt_write(const dn_pta *pta, const dn_pta_curve *curve, uint32_t data_crc32, const char *path,
                            dn_ckpt_meta *m, const dn_tensor *extra, size_t nextra, dn_error *err);

/* *out gets a new trainer in the state file (from dn_ckpt_read, any kind)
 * holds, with every check and the expect rules of dn_pta_checkpoint_load.
 * On failure *out is NULL and curve emptied. */
dn_status dn_pta_ckpt_restore(const dn_st_file *file, const char *path, const dn_pta_options *expect,
                              dn_pta **out, dn_pta_curve *curve, uint32_t *data_crc32, dn_error *err);

#endif /* DN_PTA_CHECKPOINT_INTERNAL_H */
