/* Tests of prefix sharing: the prefix tree of one call, the prefix kept
 * between calls and the KV budget give the log-probs of the plain path bit
 * for bit, on MMLU-shaped requests (a shared 5-shot block, questions, four
 * one-letter answers) and on hand-made token sequences. */
#include "../../common/fileio.h"
#include "../../common/sb.h"
#include "../../runners/runner.h"
#include "../../runners/transformer/compute/forward.h"
#include "../../runners/transformer/formats/model.h"
#include "../check.h"

static char *golden_path(const char *rel) {
    char *g = cj_golden_dir();
    char *p = cj_path_join(g, rel);
    free(g);
    return p;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static unsigned rnd(unsigned n) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (unsigned)(rng_state >> 33) % n;
}

/* --- MMLU-shaped requests ------------------------------------------------------- */

enum { N_SUBJ = 2, N_Q = 6, N_CHOICE = 4, N_ITEMS = N_SUBJ * N_Q };

static const char *WORDS[] = {"the", "cat", "sat", "on", "a", "mat", "and", "then", "ran", "to", "tree", "big",
                              "small", "dog", "said", "hello", "sun", "was", "bright", "they", "played", "with",
                              "ball", "in", "park", "happy", "girl", "boy", "saw", "bird"};

static void words(sb *s, int n) {
    for (int i = 0; i < n; i++) sb_printf(s, "%s%s", i ? " " : "", WORDS[rnd(sizeof WORDS / sizeof *WORDS)]);
}

static void question(sb *s) {
    sb_puts(s, "Question: ");
    words(s, 8 + (int)rnd(10));
    sb_puts(s, "?\n");
    for (int c = 0; c < N_CHOICE; c++) {
        sb_printf(s, "%c. ", 'A' + c);
        words(s, 1 + (int)rnd(4));
        sb_puts(s, "\n");
    }
    sb_puts(s, "Answer:");
}

typedef struct {
    char *ctx[N_ITEMS];
    runner_ll_item items[N_ITEMS];
} mmlu_set;

static const char *LETTERS[N_CHOICE] = {" A", " B", " C", " D"};

/* Subject by subject: a description and five solved examples shared by the
 * subject's questions, then the question. */
static void mmlu_init(mmlu_set *ms) {
    rng_state = 0x9e3779b97f4a7c15ull;
    for (int s = 0; s < N_SUBJ; s++) {
        sb shots;
        sb_init(&shots);
        sb_printf(&shots, "The following are multiple choice questions (with answers) about subject %d.\n\n", s);
        for (int k = 0; k < 5; k++) {
            question(&shots);
            sb_printf(&shots, " %c\n\n", 'A' + (int)rnd(4));
        }
        for (int q = 0; q < N_Q; q++) {
            sb it;
            sb_init(&it);
            sb_puts(&it, shots.s);
            question(&it);
            int i = s * N_Q + q;
            ms->ctx[i] = sb_take(&it);
            ms->items[i] = (runner_ll_item){ms->ctx[i], LETTERS, N_CHOICE};
        }
        sb_free(&shots);
    }
}

static void mmlu_free(mmlu_set *ms) {
    for (int i = 0; i < N_ITEMS; i++) free(ms->ctx[i]);
}

/* Scores the set in calls of per_call items; sums the prefill tokens of
 * each call into prefill[call] if non-NULL. */
static int mmlu_score(runner *r, const mmlu_set *ms, int per_call, runner_ll_result *out, long *prefill) {
    runner_timing tm[N_ITEMS];
    cj_err e;
    for (int i = 0, call = 0; i < N_ITEMS; i += per_call, call++) {
        int n = N_ITEMS - i < per_call ? N_ITEMS - i : per_call;
        if (runner_loglikelihood(r, ms->items + i, n, out + i * N_CHOICE, tm, &e)) {
            printf("  %s\n", e.msg);
            return -1;
        }
        if (prefill) {
            prefill[call] = 0;
            for (int k = 0; k < n; k++) prefill[call] += tm[k].prefill_tokens;
        }
    }
    return 0;
}

static int decision(const runner_ll_result *res) {
    int best = 0;
    for (int c = 1; c < N_CHOICE; c++)
        if (res[c].logprob > res[best].logprob) best = c;
    return best;
}

/* The plain path one item per call against the shared path in several
 * batchings, thread counts and KV budgets (the configurations in the bit
 * mask `which`). */
static void mmlu_check(const char *model_rel, const char *tok_rel, unsigned which) {
    char *mp = golden_path(model_rel), *tp = tok_rel ? golden_path(tok_rel) : NULL;
    mmlu_set ms;
    mmlu_init(&ms);
    runner_ll_result ref[N_ITEMS * N_CHOICE], got[N_ITEMS * N_CHOICE];
    long plain[N_ITEMS], shared[N_ITEMS];
    cj_err e;
    runner_opts o = {.model_path = mp, .tokenizer_path = tp, .threads = 1, .no_prefix_cache = 1};
    runner *r = runner_local_open(&o, &e);
    CHECK(r != NULL);
    if (!r) {
        printf("  %s\n", e.msg);
        goto done;
    }
    CHECK(mmlu_score(r, &ms, 1, ref, plain) == 0);
    runner_free(r);
    /* (threads, batch tokens, KV budget MiB, items per call) */
    int configs[][4] = {{1, 0, 0, N_Q}, {2, 0, 0, N_ITEMS}, {1, 0, 0, 1}, {2, 64, 0, 4}, {1, 100, 1, 5}};
    double max_d = 0;
    for (size_t c = 0; c < sizeof configs / sizeof configs[0]; c++) {
        if (!(which >> c & 1)) continue;
        o = (runner_opts){.model_path = mp, .tokenizer_path = tp, .threads = configs[c][0],
                          .batch_tokens = configs[c][1], .kv_budget_mb = configs[c][2]};
        r = runner_local_open(&o, &e);
        CHECK(r != NULL);
        if (!r) continue;
        memset(got, 0, sizeof got);
        CHECK(mmlu_score(r, &ms, configs[c][3], got, shared) == 0);
        for (int i = 0; i < N_ITEMS * N_CHOICE; i++) {
            double d = fabs(got[i].logprob - ref[i].logprob);
            max_d = d > max_d ? d : max_d;
            CHECKF(d <= 1e-6, "config %zu request %d: %.9f vs %.9f", c, i, got[i].logprob, ref[i].logprob);
            CHECK(got[i].is_greedy == ref[i].is_greedy && got[i].n_tokens == ref[i].n_tokens);
        }
        for (int i = 0; i < N_ITEMS; i++) CHECK(decision(got + i * N_CHOICE) == decision(ref + i * N_CHOICE));
        if (c == 0) {
            /* one call per subject: the few-shot block once per subject, the
             * question once per item */
            long p_plain = 0;
            for (int i = 0; i < N_Q; i++) p_plain += plain[i];
            CHECKF(shared[0] * 3 < p_plain, "%ld vs %ld", shared[0], p_plain);
        }
        if (c == 2) {
            /* one item per call: the kept few-shot block serves the next
             * question of the subject */
            CHECKF(shared[1] * 3 < plain[1], "%ld vs %ld", shared[1], plain[1]);
        }
        runner_free(r);
    }
    printf("  %s: %d requests, max |d| shared vs plain: %.3g\n", model_rel, N_ITEMS * N_CHOICE, max_d);
done:
    mmlu_free(&ms);
    free(mp);
    free(tp);
}

static void test_mmlu_stories260K(void) { mmlu_check("llamacpp/stories260K.gguf", NULL, 0x1f); }
/* a larger model: fewer configurations, to keep the test short */
static void test_mmlu_tiny_q8_0(void) { mmlu_check("llamacpp/tiny-llama-q8_0.gguf", NULL, 0x0d); }

/* --- hand-made sequences at the forward pass ------------------------------------ */

enum { MAXLEN = 400 };

typedef struct {
    int tok[MAXLEN];
    int n, from;
    float lp[MAXLEN];
    int am[MAXLEN];
} hseq;

static void hseq_score_alone(const model *m, hseq *h) {
    fwd *f;
    cj_err e;
    CHECK(fwd_new(m, 1, 0, &f, &e) == 0);
    fwd_set_prefix_sharing(f, 0);
    fwd_seq q = {.tokens = h->tok, .n_tokens = h->n, .score_from = h->from, .logprobs = h->lp, .argmax = h->am};
    CHECK(fwd_score(f, &q, 1, &e) == 0);
    fwd_free(f);
}

/* Scores seqs[0..n) in one call of f and compares with the alone results;
 * returns the tokens computed. */
static int call_and_compare(fwd *f, hseq *const *hs, int n, const char *what) {
    fwd_seq q[8];
    float lp[8][MAXLEN];
    int am[8][MAXLEN];
    cj_err e;
    for (int i = 0; i < n; i++) q[i] = (fwd_seq){.tokens = hs[i]->tok, .n_tokens = hs[i]->n, .score_from = hs[i]->from, .logprobs = lp[i], .argmax = am[i]};
    CHECK(fwd_score(f, q, n, &e) == 0);
    int computed = 0;
    for (int i = 0; i < n; i++) {
        int k = hs[i]->n - hs[i]->from;
        CHECKF(!memcmp(lp[i], hs[i]->lp, (size_t)k * sizeof(float)), "%s: sequence %d", what, i);
        CHECK(!memcmp(am[i], hs[i]->am, (size_t)k * sizeof(int)));
        computed += q[i].computed;
    }
    return computed;
}

/* The kept prefix: reused whole, in part, with predictions read inside it,
 * as an entire sequence, after decoding, and under a KV budget that forces
 * small batches, for 1 and 2 threads. */
static void test_kept_prefix(void) {
    char *mp = golden_path("llamacpp/stories260K.gguf");
    model *m = NULL;
    cj_err e;
    CHECK(model_load(mp, NULL, &m, &e) == 0);
    free(mp);
    if (!m) return;
    int V = m->hp.vocab_size;
    enum { P = 150 };
    int prefix[P];
    rng_state = 12345;
    prefix[0] = 1;
    for (int i = 1; i < P; i++) prefix[i] = 3 + (int)rnd((unsigned)V - 3);
    static hseq h[8];
    /* 0, 1: P + own tail; 2: 100 of P + own; 3: P + own, scored from 120
     * (inside the kept prefix, whose hidden states are not kept: [100, P)
     * runs again); 4: exactly P; 5: unrelated; 6: P + own, long; 7: P + own */
    int shared_len[8] = {P, P, 100, P, P, 0, P, P}, tail[8] = {20, 15, 30, 10, 0, 40, 230, 5};
    int from[8] = {P, P - 3, 101, 120, P - 10, 1, 200, P + 1};
    for (int s = 0; s < 8; s++) {
        memcpy(h[s].tok, prefix, (size_t)shared_len[s] * sizeof(int));
        h[s].n = shared_len[s] + tail[s];
        for (int i = shared_len[s]; i < h[s].n; i++) h[s].tok[i] = 3 + (int)rnd((unsigned)V - 3);
        if (s == 5) h[s].tok[0] = 1;
        h[s].from = from[s];
        hseq_score_alone(m, &h[s]);
    }
    for (int th = 1; th <= 2; th++)
        for (int budget = 0; budget < 2; budget++) {
            fwd *f;
            CHECK(fwd_new(m, th, budget ? 32 : 0, &f, &e) == 0);
            size_t per_row = (size_t)m->hp.n_layers * 2 * (size_t)m->hp.n_kv_heads * m->hp.head_dim * sizeof(float);
            if (budget) fwd_set_kv_budget(f, 400 * per_row); /* the prefix fits, a few batches beside it */
            hseq *c1[] = {&h[0], &h[1]};
            CHECK(call_and_compare(f, c1, 2, "first call") == P + 19 + 14);
            hseq *c2[] = {&h[7], &h[7]}; /* a prefix is kept when 2 sequences share it */
            CHECK(call_and_compare(f, c2, 2, "whole prefix kept") == 4);
            hseq *c3[] = {&h[2], &h[3], &h[4], &h[5], &h[6]};
            int got = call_and_compare(f, c3, 5, "partial, inside, equal, unrelated, long");
            /* [1, 100) reused; 5 shares BOS, scored from 1: [0, 1) runs again;
             * no sequence's last token runs */
            CHECKF(got == 1 + 29 + (P - 100) + 9 + 38 + 229, "%d", got);
            hseq *c4[] = {&h[6], &h[0]};
            call_and_compare(f, c4, 2, "after a long one");
            int tok[3] = {5, 6, 7};
            float logits[512];
            CHECK(V <= 512 && fwd_push(f, tok, 3, logits, &e) == 0); /* decoding drops the kept prefix */
            hseq *c5[] = {&h[1]};
            CHECK(call_and_compare(f, c5, 1, "after decoding") == h[1].n - 1);
            fwd_free(f);
        }
    model_free(m);
}

int main(void) {
    RUN(test_kept_prefix);
    RUN(test_mmlu_stories260K);
    RUN(test_mmlu_tiny_q8_0);
    return check_summary_();
}
