/* Tests of bulk generation: the same texts, token counts and finishes
 * whether sequences are decoded one at a time (through fwd_push, outside
 * the bulk path), alone, or 7 or 64 together, with or without the shared
 * prefix, on 1 or 2 threads, under a tight KV budget; greedy and seeded
 * sampling; and end-of-generation tokens named by the file. */
#include <math.h>
#include <unistd.h>

#include "../../common/fileio.h"
#include "../../common/sb.h"
#include "../../runners/runner.h"
#include "../../runners/transformer/compute/forward.h"
#include "../../runners/transformer/compute/sampler.h"
#include "../../runners/transformer/formats/model.h"
#include "../check.h"

typedef struct {
    const char *model, *tokenizer; /* paths */
} model_paths;

static runner *open_runner(const model_paths *mp, int threads, int gen_batch, int no_share, int budget_mb) {
    runner_opts o = {.model_path = mp->model, .tokenizer_path = mp->tokenizer, .threads = threads,
                     .no_prefix_cache = no_share, .gen_batch = gen_batch, .kv_budget_mb = budget_mb};
    cj_err e;
    runner *r = runner_local_open(&o, &e);
    if (!r) printf("  %s\n", e.msg);
    return r;
}

/* --- the items ------------------------------------------------------------------ */

enum { N_ITEMS = 70 };

typedef struct {
    char *ctx[N_ITEMS];
    runner_gen_item it[N_ITEMS];
} item_set;

static const char *const STOPS[] = {"\n", ".", "park", " and"};

/* N_ITEMS prompts: a shared few-shot-like block and a question of its own
 * for most, some without the block, one empty; lengths, stop strings and
 * sampling settings vary. */
static void items_init(item_set *s, int n, int max_cap, int sample) {
    static const char *const block = "Once upon a time, there was a little girl named Lily. She liked to play "
                                     "outside with her ball.\nOne day, a big dog came to the park. ";
    static const char *const tails[] = {"The dog", "Lily was sad because", "Tom and Sue", "The sun", "He said",
                                        "They went to the", "Mom", "It was a"};
    for (int i = 0; i < n; i++) {
        sb c;
        sb_init(&c);
        if (i % 9 != 4) sb_puts(&c, block);
        if (i != 5) sb_printf(&c, "%s%s", tails[i % 8], i % 3 ? "" : " very");
        s->ctx[i] = sb_take(&c);
        if (!s->ctx[i]) s->ctx[i] = cj_xstrdup("");
        s->it[i] = (runner_gen_item){.context = s->ctx[i],
                                     .until = STOPS + i % 3,
                                     .n_until = i % 4 == 0 ? 0 : 1 + i % 2,
                                     .max_tokens = 1 + (i * 7) % max_cap,
                                     .temperature = sample ? 0.8f : 0,
                                     .top_p = sample && i % 2 ? 0.9f : 1,
                                     .seed = (uint64_t)(1000 + i)};
    }
}

static void items_free(item_set *s, int n) {
    for (int i = 0; i < n; i++) free(s->ctx[i]);
}

static void results_free(runner_gen_result *r, int n) {
    for (int i = 0; i < n; i++) free(r[i].text);
}

/* Generates items [0, n) in calls of `per_call`. */
static int generate(runner *r, const item_set *s, int n, int per_call, runner_gen_result *out, runner_timing *tm) {
    cj_err e;
    for (int i = 0; i < n; i += per_call) {
        int k = n - i < per_call ? n - i : per_call;
        if (runner_generate(r, s->it + i, k, out + i, tm + i, &e)) {
            printf("  %s\n", e.msg);
            return -1;
        }
    }
    return 0;
}

/* --- one at a time, outside the bulk path ------------------------------------------- */

/* What the runner's generation must give for one item, decoded with
 * fwd_push on a context of its own: prompt, then one token at a time. */
static void reference_one(const model *m, const runner_gen_item *it, runner_gen_result *res) {
    fwd *f = NULL;
    cj_err e;
    int *ids = NULL, n = 0, vocab = m->hp.vocab_size;
    memset(res, 0, sizeof *res);
    if (fwd_new(m, 1, 0, &f, &e) || tok_encode(m->tok, it->context, strlen(it->context), tok_add_bos(m->tok), &ids, &n, &e))
        return;
    if (n == 0) {
        ids = cj_xrealloc(ids, sizeof(int));
        ids[0] = tok_bos(m->tok);
        n = 1;
    }
    float *logits = cj_xmalloc((size_t)vocab * sizeof(float));
    sampler smp;
    sampler_init(&smp, vocab, it->temperature, it->top_p, it->seed);
    sb text;
    sb_init(&text);
    res->finish = RUNNER_FINISH_LENGTH;
    int rc = fwd_push(f, ids, n, logits, &e);
    while (rc == 0 && res->n_tokens < it->max_tokens) {
        int next = sampler_next(&smp, logits);
        if (tok_is_eog(m->tok, next)) {
            res->finish = RUNNER_FINISH_EOS;
            break;
        }
        size_t before = text.len;
        tok_decode(m->tok, &next, 1, res->n_tokens == 0 && !it->context[0], &text);
        res->n_tokens++;
        const char *hit = NULL;
        for (int s = 0; s < it->n_until; s++) {
            /* memmem: a sampled byte token may put a NUL in the text */
            size_t from = before > 8 ? before - 8 : 0;
            const char *h = memmem(text.s + from, text.len - from, it->until[s], strlen(it->until[s]));
            if (h && (!hit || h < hit)) hit = h;
        }
        if (hit) {
            text.len = (size_t)(hit - text.s);
            res->finish = RUNNER_FINISH_STOP;
            break;
        }
        if (res->n_tokens < it->max_tokens) rc = fwd_push(f, &next, 1, logits, &e);
    }
    res->text = cj_xstrndup(text.s ? text.s : "", text.len);
    sb_free(&text);
    sampler_free(&smp);
    free(logits);
    free(ids);
    fwd_free(f);
}

static int same_results(const runner_gen_result *a, const runner_gen_result *b, int n, const char *what) {
    int ok = 1;
    for (int i = 0; i < n; i++) {
        int same = a[i].text && b[i].text && !strcmp(a[i].text, b[i].text) && a[i].n_tokens == b[i].n_tokens &&
                   a[i].finish == b[i].finish;
        if (!same && ok)
            printf("  %s: item %d: \"%s\" (%d, %d) vs \"%s\" (%d, %d)\n", what, i, a[i].text ? a[i].text : "?",
                   a[i].n_tokens, a[i].finish, b[i].text ? b[i].text : "?", b[i].n_tokens, b[i].finish);
        ok &= same;
    }
    return ok;
}

/* Every configuration gives what the one-at-a-time reference gives. */
static void check_configs(const model_paths *mp, int n, int max_cap, int sample) {
    item_set s;
    items_init(&s, n, max_cap, sample);
    runner_gen_result ref[N_ITEMS], got[N_ITEMS];
    runner_timing tm[N_ITEMS];
    model *m = NULL;
    cj_err e;
    CHECK(model_load(mp->model, mp->tokenizer, &m, &e) == 0);
    if (!m) return;
    for (int i = 0; i < n; i++) reference_one(m, &s.it[i], &ref[i]);
    model_free(m);
    /* threads, gen_batch, no sharing, budget MiB, items per call */
    int cfg[][5] = {{1, 1, 1, 0, 1}, {1, 1, 0, 0, N_ITEMS}, {2, 7, 0, 0, N_ITEMS}, {1, 64, 0, 0, N_ITEMS},
                    {2, 64, 1, 0, 13},   {1, 64, 0, 1, N_ITEMS}, {2, 7, 0, 0, 5}};
    for (size_t c = 0; c < sizeof cfg / sizeof cfg[0]; c++) {
        runner *r = open_runner(mp, cfg[c][0], cfg[c][1], cfg[c][2], cfg[c][3]);
        CHECK(r != NULL);
        if (!r) continue;
        int rc = generate(r, &s, n, cfg[c][4], got, tm);
        CHECKF(rc == 0, "config %zu", c);
        char what[64];
        snprintf(what, sizeof what, "%s config %zu", sample ? "sampled" : "greedy", c);
        if (rc == 0) {
            CHECKF(same_results(ref, got, n, what), "%s", what);
            for (int i = 0; i < n; i++) /* the latency rows add up */
                CHECK(tm[i].decode_tokens == got[i].n_tokens && tm[i].ttft_s > 0 && tm[i].wall_s >= tm[i].ttft_s);
            results_free(got, n);
        }
        runner_free(r);
    }
    results_free(ref, n);
    items_free(&s, n);
}

static model_paths stories(void) {
    static char *m, *t;
    if (!m) {
        m = cj_asset_path("models/stories260K/stories260K.bin");
        t = cj_asset_path("models/stories260K/tok512.bin");
    }
    return (model_paths){m, t};
}

static void test_bulk_greedy_stories(void) {
    model_paths mp = stories();
    check_configs(&mp, N_ITEMS, 60, 0);
}

static void test_bulk_sampled_stories(void) {
    model_paths mp = stories();
    check_configs(&mp, N_ITEMS, 40, 1);
}

static void test_bulk_tiny_gguf(void) {
    char *m = cj_golden_path("llamacpp/tiny-llama-q4_k_m.gguf");
    model_paths mp = {m, NULL};
    if (!cj_is_file(m)) {
        printf("SKIP test_bulk_tiny_gguf: %s is absent\n", m);
    } else {
        check_configs(&mp, 9, 12, 0);
        check_configs(&mp, 9, 12, 1);
    }
    free(m);
}

/* Mistral with sliding_window 16: contexts and generations run past the
 * window, so decoding trims every row's keys. */
static void test_bulk_mistral_swa(void) {
    model_paths mp = {"tests/golden/arch/mistral-swa16-f32", NULL};
    check_configs(&mp, 9, 24, 0);
    check_configs(&mp, 9, 24, 1);
}

/* Gemma 2 and 3: windowed and global layers in one model, soft-capped
 * scores and logits in every decoding path. */
static void test_bulk_gemma(void) {
    const char *paths[] = {"tests/golden/arch/gemma2-swa-f32", "tests/golden/arch/gemma3-swa-f32/model.gguf"};
    for (int i = 0; i < 2; i++) {
        model_paths mp = {paths[i], NULL};
        check_configs(&mp, 9, 24, 0);
        check_configs(&mp, 9, 24, 1);
    }
}

/* --- end-of-generation tokens ------------------------------------------------------ */

static void put_u32(FILE *f, uint32_t v) { fwrite(&v, 4, 1, f); }
static void put_u64(FILE *f, uint64_t v) { fwrite(&v, 8, 1, f); }
static void put_str(FILE *f, const char *s) {
    put_u64(f, strlen(s));
    fwrite(s, 1, strlen(s), f);
}

/* A copy of the GGUF at src with tokenizer.ggml.eot_token_id = eot, put
 * first among its keys; a padding key keeps the insert a multiple of 32
 * bytes, so the data section stays aligned and the tensor offsets hold. */
static int gguf_with_eot(const char *src, const char *dst, uint32_t eot) {
    char *buf = NULL;
    size_t n = 0;
    cj_err e;
    if (cj_read_file(src, &buf, &n, &e) || n < 24) return -1;
    FILE *f = fopen(dst, "wb");
    if (!f) return -1;
    uint64_t n_kv;
    memcpy(&n_kv, buf + 16, 8);
    fwrite(buf, 1, 16, f);
    put_u64(f, n_kv + 2);
    put_str(f, "tokenizer.ggml.eot_token_id"); /* 8 + 27 + 4 + 4 = 43 bytes */
    put_u32(f, 4);                             /* UINT32 */
    put_u32(f, eot);
    put_str(f, "x.pad"); /* 8 + 5 + 4 + 8 + 28 = 53: 96 in all */
    put_u32(f, 8);       /* STRING */
    put_str(f, "0123456789012345678901234567");
    fwrite(buf + 24, 1, n - 24, f);
    free(buf);
    return fclose(f);
}

static void test_eot_stops(void) {
    char *src = cj_golden_path("llamacpp/stories260K.gguf");
    char dst[] = "/tmp/cj-eot-XXXXXX";
    int fd = mkstemp(dst);
    CHECK(fd >= 0);
    if (fd >= 0) close(fd);
    /* the greedy tokens from "Once upon a time" */
    model *m = NULL;
    fwd *f = NULL;
    cj_err e;
    int *ids = NULL, n = 0, toks[6];
    CHECK(model_load(src, NULL, &m, &e) == 0 && fwd_new(m, 1, 0, &f, &e) == 0);
    if (!f) {
        free(src);
        return;
    }
    CHECK(tok_encode(m->tok, "Once upon a time", 16, 1, &ids, &n, &e) == 0);
    float *logits = cj_xmalloc((size_t)m->hp.vocab_size * sizeof(float));
    CHECK(fwd_push(f, ids, n, logits, &e) == 0);
    for (int i = 0; i < 6; i++) {
        toks[i] = sampler_argmax(logits, m->hp.vocab_size);
        CHECK(fwd_push(f, &toks[i], 1, logits, &e) == 0);
    }
    int stop_at = 3;
    for (int i = 0; i < stop_at; i++) if (toks[i] == toks[stop_at]) stop_at = i; /* its first appearance */
    CHECK(!tok_is_eog(m->tok, toks[stop_at]));
    fwd_free(f);
    model_free(m);
    CHECK(gguf_with_eot(src, dst, (uint32_t)toks[stop_at]) == 0);
    model_paths mp = {dst, NULL};
    for (int gb = 1; gb <= 7; gb += 6) {
        runner *r = open_runner(&mp, 1, gb, 0, 0);
        CHECK(r != NULL);
        if (!r) break;
        runner_gen_item it[2] = {{.context = "Once upon a time", .max_tokens = 20},
                                 {.context = "Once upon a time", .max_tokens = 20, .temperature = 0.5f, .seed = 7}};
        runner_gen_result res[2];
        runner_timing tm[2];
        CHECK(runner_generate(r, it, 2, res, tm, &e) == 0);
        CHECKF(res[0].finish == RUNNER_FINISH_EOS && res[0].n_tokens == stop_at, "finish %d after %d tokens (want %d)",
               res[0].finish, res[0].n_tokens, stop_at);
        results_free(res, 2);
        runner_free(r);
    }
    unlink(dst);
    free(ids);
    free(logits);
    free(src);
}

/* Chat vocabularies' end-of-turn tokens are end-of-generation tokens. */
static void test_eog_vocab(void) {
    char *p = cj_asset_path("tokenizers/hf/llama3/tokenizer.json");
    tokenizer *t = NULL;
    cj_err e;
    CHECK(tok_load_hf_json(p, &t, &e) == 0);
    if (t) {
        const char *eog[] = {"<|eot_id|>", "<|end_of_text|>"};
        for (int i = 0; i < 2; i++) {
            int id = -1;
            for (int k = 0; k < tok_n_vocab(t); k++)
                if (!strcmp(tok_piece(t, k), eog[i])) id = k;
            CHECKF(id >= 0 && tok_is_eog(t, id), "%s (id %d)", eog[i], id);
        }
        CHECK(tok_is_eog(t, tok_eos(t)));
        CHECK(!tok_is_eog(t, 1000) && !tok_is_eog(t, tok_bos(t)));
        tok_free(t);
    }
    free(p);
}

/* The scan sampler_argmax stands for: the first strictly greater value. */
static int argmax_ref(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

/* sampler_argmax (vectorized where the build has AVX2) gives the scan's
 * index on every length around the vector width, with ties, signed zeros,
 * infinities and NaN (first or anywhere), and on the vocabulary's size. */
static void test_argmax(void) {
    static float x[49152];
    unsigned st = 7;
    int bad = 0, cases = 0;
    for (int n = 1; n <= 49152; n = n < 70 ? n + 1 : n * 3 + 1) {
        for (int kind = 0; kind < 7; kind++) {
            for (int i = 0; i < n; i++) {
                st = st * 1103515245u + 12345u;
                x[i] = kind == 1 ? (float)((st >> 16) % 4) : (float)((st >> 8) % 100000) / 997.0f - 50.0f;
            }
            int at = (int)((st >> 3) % (unsigned)n);
            if (kind == 2) x[0] = NAN;
            if (kind == 3) x[at] = NAN;
            if (kind == 4) for (int i = 0; i < n; i++) x[i] = (i & 1) ? 0.0f : -0.0f;
            if (kind == 5) x[at] = INFINITY, x[n - 1] = INFINITY;
            if (kind == 6) for (int i = 0; i < n; i++) x[i] = -INFINITY;
            cases++;
            if (sampler_argmax(x, n) != argmax_ref(x, n)) {
                if (bad++ < 5) printf("  n=%d kind=%d: %d, scan %d\n", n, kind, sampler_argmax(x, n), argmax_ref(x, n));
            }
        }
    }
    CHECKF(bad == 0, "%d of %d argmax cases differ from the scan", bad, cases);
}

int main(void) {
    RUN(test_argmax);
    RUN(test_bulk_greedy_stories);
    RUN(test_bulk_sampled_stories);
    RUN(test_bulk_tiny_gguf);
    RUN(test_bulk_mistral_swa);
    RUN(test_bulk_gemma);
    RUN(test_eot_stops);
    RUN(test_eog_vocab);
    return check_summary_();
}
