/* profile.h — `--profile`: where the training steps' time went, printed
 * after a run from the library's dn_profile (dn_mlp_set_profile). */
#ifndef DN_CLI_PROFILE_H
#define DN_CLI_PROFILE_H

#include <stdio.h>

#include "digitnet.h"

/* The BLAS kernels in use (and OPENBLAS_CORETYPE, when it chose them), then
 * the phases' seconds, shares of their sum and time per step, one row a
 * phase ("  NAME SECONDS SHARE% PER_STEP us"), after a heading line. */
void profile_print(FILE *fp, const dn_profile *p);

#endif
