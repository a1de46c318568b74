/* sampler — picking the next token from logits: greedy, or temperature and
 * top-p (nucleus) sampling driven by a seeded RNG, so that the same seed
 * always yields the same tokens.
 *
 * The RNG is xorshift64* seeded through splitmix64 (any seed, 0 included,
 * gives a well-mixed state). Sampling needs scratch space for n candidates;
 * a sampler owns it and sampler_free releases it. */
#ifndef CJ_SAMPLER_H
#define CJ_SAMPLER_H

#include <stdint.h>

typedef struct {
    uint64_t state;
} sampler_rng;

void sampler_rng_seed(sampler_rng *r, uint64_t seed);
uint64_t sampler_rng_next(sampler_rng *r);
/* Uniform in [0, 1), 24 bits of resolution. */
float sampler_rng_float(sampler_rng *r);

/* The first index of the largest of n values. */
int sampler_argmax(const float *logits, int n);

typedef struct {
    float p;
    int id;
} sampler_cand;

typedef struct {
    int n;            /* vocabulary size */
    float temperature;/* <= 0: greedy */
    float top_p;      /* in (0, 1]; >= 1 or <= 0: off */
    sampler_rng rng;
    float *probs;     /* [n] scratch */
    sampler_cand *cand; /* [n] scratch: nucleus candidates */
} sampler;

void sampler_init(sampler *s, int n, float temperature, float top_p, uint64_t seed);
void sampler_free(sampler *s);
/* The next token for logits[n] (logits are not modified). */
int sampler_next(sampler *s, const float *logits);

#endif
