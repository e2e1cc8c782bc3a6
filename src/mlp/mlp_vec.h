/*
 * mlp_vec.h — the float vectors of the hand-written kernels (mlp_small.c,
 * mlp_input_t.c): eight floats (one AVX register) and sixteen (one AVX-512
 * register, or two AVX ones where there is no AVX-512), as GCC/Clang vector
 * extensions. Loads and stores go through memcpy: the rows need not be
 * aligned, and the compiler makes them plain vector moves. Not installed.
 */
#ifndef DN_MLP_VEC_H
#define DN_MLP_VEC_H

#include <string.h>

typedef float vec8 __attribute__((vector_size(32)));
typedef float vec16 __attribute__((vector_size(64)));

static inline vec8 load8(const float *p)
{
    vec8 v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void store8(float *p, vec8 v) { memcpy(p, &v, sizeof v); }

static inline vec16 load16(const float *p)
{
    vec16 v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void store16(float *p, vec16 v) { memcpy(p, &v, sizeof v); }

#endif /* DN_MLP_VEC_H */
