/* sampler — greedy and seeded temperature / top-p sampling (see sampler.h).
 *
 * Top-p follows llama2.c: softmax at the temperature, keep the most probable
 * tokens until their mass exceeds top_p, draw from that set renormalized.
 * Candidates are ordered by probability and then by id, so the order (and
 * the draw) never depends on the sort algorithm's tie handling. */
#include "sampler.h"

#include <math.h>
#include <stdlib.h>
#ifdef __AVX2__
#include <immintrin.h>
#endif

#include "../../../common/sb.h"

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void sampler_rng_seed(sampler_rng *r, uint64_t seed) {
    r->state = splitmix64(&seed);
    if (r->state == 0) r->state = 0x9e3779b97f4a7c15ull; /* xorshift's one fixed point */
}

uint64_t sampler_rng_next(sampler_rng *r) {
    uint64_t x = r->state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    r->state = x;
    return x * 0x2545f4914f6cdd1dull;
}

float sampler_rng_float(sampler_rng *r) { return (float)(sampler_rng_next(r) >> 40) / 16777216.0f; }

/* The first index of the largest value: that of a scan keeping the first
 * strictly greater value (NaN never is, and one at 0 stays best). With
 * AVX2, the largest value is found 8 lanes at a time by the same test, then
 * its first index: the same answer at a fraction of the time, which matters
 * when 64 sequences each scan a 49,152-token vocabulary per step. */
int sampler_argmax(const float *logits, int n) {
    int best = 0, i = 1;
#ifdef __AVX2__
    if (n >= 16 && logits[0] == logits[0]) {
        __m256 m = _mm256_set1_ps(logits[0]);
        for (; i + 8 <= n; i += 8) {
            __m256 x = _mm256_loadu_ps(logits + i);
            m = _mm256_blendv_ps(m, x, _mm256_cmp_ps(x, m, _CMP_GT_OQ));
        }
        float lanes[8], mx = logits[0];
        _mm256_storeu_ps(lanes, m);
        for (int b = 0; b < 8; b++) mx = lanes[b] > mx ? lanes[b] : mx;
        for (; i < n; i++) mx = logits[i] > mx ? logits[i] : mx;
        while (logits[best] != mx) best++; /* mx is one of the values: found */
        return best;
    }
#endif
    for (; i < n; i++)
        if (logits[i] > logits[best]) best = i;
    return best;
}

void sampler_init(sampler *s, int n, float temperature, float top_p, uint64_t seed) {
    s->n = n;
    s->temperature = temperature;
    s->top_p = top_p;
    sampler_rng_seed(&s->rng, seed);
    s->probs = NULL;
    s->cand = NULL;
    if (temperature > 0) {
        s->probs = cj_xmalloc((size_t)n * sizeof(float));
        s->cand = cj_xmalloc((size_t)n * sizeof *s->cand);
    }
}

void sampler_free(sampler *s) {
    free(s->probs);
    free(s->cand);
    s->probs = NULL;
    s->cand = NULL;
}

static int by_prob_desc(const void *a, const void *b) {
    const sampler_cand *x = a, *y = b;
    if (x->p != y->p) return x->p > y->p ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

int sampler_next(sampler *s, const float *logits) {
    if (s->temperature <= 0) return sampler_argmax(logits, s->n);
    int n = s->n;
    float mx = logits[sampler_argmax(logits, n)];
    double sum = 0;
    for (int i = 0; i < n; i++) {
        s->probs[i] = expf((logits[i] - mx) / s->temperature);
        sum += s->probs[i];
    }
    for (int i = 0; i < n; i++) s->probs[i] = (float)(s->probs[i] / sum);
    float u = sampler_rng_float(&s->rng);

    if (s->top_p <= 0 || s->top_p >= 1) { /* no nucleus: inverse CDF in id order */
        float cdf = 0;
        for (int i = 0; i < n; i++) {
            cdf += s->probs[i];
            if (u < cdf) return i;
        }
        return n - 1;
    }
    /* A token below the cutoff cannot be needed to reach top_p, so only the
     * others are sorted (all of them if, on a flat distribution, none pass). */
    float cutoff = (1.0f - s->top_p) / (float)(n > 1 ? n - 1 : 1);
    int nc = 0;
    for (int i = 0; i < n; i++)
        if (s->probs[i] >= cutoff) s->cand[nc++] = (sampler_cand){s->probs[i], i};
    if (nc == 0)
        for (int i = 0; i < n; i++) s->cand[nc++] = (sampler_cand){s->probs[i], i};
    qsort(s->cand, (size_t)nc, sizeof *s->cand, by_prob_desc);
    int last = nc - 1;
    float mass = 0;
    for (int i = 0; i < nc; i++) {
        mass += s->cand[i].p;
        if (mass > s->top_p) {
            last = i;
            break;
        }
    }
    float r = u * mass, cdf = 0;
    for (int i = 0; i <= last; i++) {
        cdf += s->cand[i].p;
        if (r < cdf) return s->cand[i].id;
    }
    return s->cand[last].id;
}
