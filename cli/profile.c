/* profile.c — see profile.h. */
#include "profile.h"

#include <stdlib.h>

void profile_print(FILE *fp, const dn_profile *p)
{
    double total = 0;
    for (int i = 0; i < DN_PHASE_COUNT; i++) total += p->seconds[i];
    const char *forced = getenv("OPENBLAS_CORETYPE");
    if (forced && *forced)
        fprintf(fp, "matrix products: OpenBLAS's %s kernels, as OPENBLAS_CORETYPE=%s asks (without it, OpenBLAS picks "
                    "the kernels for this processor)\n",
                dn_blas_kernel(), forced);
    else
        fprintf(fp, "matrix products: OpenBLAS's %s kernels, its choice for this processor\n", dn_blas_kernel());
    fprintf(fp, "where the steps' time went (training thread 0's clock; %llu steps, %.3f s):\n",
            (unsigned long long)p->steps, total);
    fprintf(fp, "  %-12s %9s %7s %10s\n", "phase", "seconds", "share", "per step");
    for (int i = 0; i < DN_PHASE_COUNT; i++) {
        double s = p->seconds[i];
        fprintf(fp, "  %-12s %9.4f %6.1f%% %8.1f us\n", dn_phase_name((dn_phase)i), s, total > 0 ? 100 * s / total : 0.0,
                p->steps ? 1e6 * s / (double)p->steps : 0.0);
    }
}
