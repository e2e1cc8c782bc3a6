/* rng.c — xoshiro256** (Blackman & Vigna), seeded through splitmix64 so
 * that nearby seeds give unrelated streams. */
#include <math.h>

#include "digitnet.h"
#include "internal.h"

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* splitmix64's finaliser: a well-mixed 64-bit value from x. */
static uint64_t mix64(uint64_t x)
{
    uint64_t state = x;
    return splitmix64(&state);
}

uint64_t dn_seed_derive_(uint64_t seed, uint64_t tag, uint64_t a, uint64_t b)
{
    return mix64(mix64(mix64(seed ^ tag) ^ a) ^ b);
}

void dn_rng_seed(dn_rng *rng, uint64_t seed)
{
    for (int i = 0; i < 4; i++) rng->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t dn_rng_next(dn_rng *rng)
{
    uint64_t *s = rng->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double dn_rng_uniform(dn_rng *rng) { return (double)(dn_rng_next(rng) >> 11) * 0x1.0p-53; }

uint64_t dn_rng_below(dn_rng *rng, uint64_t bound)
{
    /* Reject the top sliver so every residue is equally likely. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
    uint64_t r;
    do r = dn_rng_next(rng);
    while (r >= limit);
    return r % bound;
}

double dn_rng_normal(dn_rng *rng)
{
    double u1 = 1.0 - dn_rng_uniform(rng); /* (0, 1]: log stays finite */
    double u2 = dn_rng_uniform(rng);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}
