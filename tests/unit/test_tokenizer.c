/* Tokenizer tests: llama.cpp's own tokenizer test vectors, the HF and
 * llama.cpp goldens, round trips, and hostile input. */
#include <jansson.h>
#include <stdint.h>
#include <unistd.h>

#include "../../common/err.h"
#include "../../common/fileio.h"
#include "../../common/sb.h"
#include "../../runners/transformer/formats/gguf.h"
#include "../../runners/transformer/tokenizer/tokenizer.h"
#include "../check.h"

static char *assets, *golden;

static char *apath(const char *rel) { return cj_path_join(assets, rel); }
static char *gpath(const char *rel) { return cj_path_join(golden, rel); }

/* ---- loading, once per vocabulary ---- */

enum { V_SPM, V_PHI3, V_GPT2, V_DEEPSEEK, V_LLAMA3, V_HF_SPM, V_STORIES_BIN, V_STORIES_GGUF, V_LLAMA2_BIN,
       V_LLAMA2_GGUF, V_COUNT };
static const char *const vocab_name[V_COUNT] = {
    "llama-spm.gguf", "phi-3.gguf", "gpt-2.gguf", "deepseek-llm.gguf", "llama3 tokenizer.json",
    "mistral-32k tokenizer.json", "tok512.bin", "stories260K.gguf", "llama2 tokenizer.bin", "tiny-llama-f16.gguf"};
static tokenizer *cache[V_COUNT];

static tokenizer *load_gguf_file(char *path) {
    cj_err e = {{0}};
    gguf_ctx *g = NULL;
    tokenizer *t = NULL;
    if (gguf_open(path, &g, &e) || tok_load_gguf(g, &t, &e)) printf("  load %s: %s\n", path, e.msg);
    gguf_close(g);
    free(path);
    return t;
}

static tokenizer *load_other(char *path, int llama2c_vocab) {
    cj_err e = {{0}};
    tokenizer *t = NULL;
    int rc = llama2c_vocab ? tok_load_llama2c(path, llama2c_vocab, &t, &e) : tok_load_hf_json(path, &t, &e);
    if (rc) printf("  load %s: %s\n", path, e.msg);
    free(path);
    return t;
}

static tokenizer *vocab(int v) {
    if (cache[v]) return cache[v];
    switch (v) {
    case V_SPM: cache[v] = load_gguf_file(apath("vocab-gguf/ggml-vocab-llama-spm.gguf")); break;
    case V_PHI3: cache[v] = load_gguf_file(apath("vocab-gguf/ggml-vocab-phi-3.gguf")); break;
    case V_GPT2: cache[v] = load_gguf_file(apath("vocab-gguf/ggml-vocab-gpt-2.gguf")); break;
    case V_DEEPSEEK: cache[v] = load_gguf_file(apath("vocab-gguf/ggml-vocab-deepseek-llm.gguf")); break;
    case V_LLAMA3: cache[v] = load_other(apath("tokenizers/hf/llama3/tokenizer.json"), 0); break;
    case V_HF_SPM: cache[v] = load_other(apath("tokenizers/hf/mistral-32k/tokenizer.json"), 0); break;
    case V_STORIES_BIN: cache[v] = load_other(apath("models/stories260K/tok512.bin"), 512); break;
    case V_STORIES_GGUF: cache[v] = load_gguf_file(gpath("llamacpp/stories260K.gguf")); break;
    case V_LLAMA2_BIN: cache[v] = load_other(apath("tokenizers/llama2/tokenizer.bin"), 32000); break;
    case V_LLAMA2_GGUF: cache[v] = load_gguf_file(gpath("llamacpp/tiny-llama-f16.gguf")); break;
    }
    return cache[v];
}

/* ---- helpers ---- */

static int *encode(const tokenizer *t, const char *s, size_t len, int bos, int *n) {
    cj_err e = {{0}};
    int *ids = NULL;
    if (tok_encode(t, s, len, bos, &ids, n, &e)) {
        printf("  encode: %s\n", e.msg);
        *n = -1;
    }
    return ids;
}

static int same_ids(const int *a, int na, const json_t *want) {
    if (na != (int)json_array_size(want)) return 0;
    for (int i = 0; i < na; i++)
        if (a[i] != json_integer_value(json_array_get(want, (size_t)i))) return 0;
    return 1;
}

static void print_ids(const char *label, const int *ids, int n) {
    printf("  %s:", label);
    for (int i = 0; i < n && i < 40; i++) printf(" %d", ids[i]);
    printf(n > 40 ? " ...\n" : "\n");
}

/* ---- llama.cpp's test vectors (tests/test-tokenizer-0) ---- */

/* Runs <name>.inp against <name>.out; returns the number of vectors passed. */
static int run_vectors(const tokenizer *t, const char *name, int *total) {
    char rel[128], *data, *want;
    size_t len, wlen;
    cj_err e;
    snprintf(rel, sizeof rel, "vocab-gguf/ggml-vocab-%s.gguf.inp", name);
    char *p = apath(rel);
    int rc = cj_read_file(p, &data, &len, &e);
    free(p);
    snprintf(rel, sizeof rel, "vocab-gguf/ggml-vocab-%s.gguf.out", name);
    p = apath(rel);
    rc |= cj_read_file(p, &want, &wlen, &e);
    free(p);
    *total = 0;
    if (rc || !t) return 0;
    static const char sep[] = "\n__ggml_vocab_test__\n";
    int pass = 0;
    char *in = data, *out = want;
    for (char *end; (end = strstr(in, sep)); in = end + strlen(sep)) {
        char *eol = strchr(out, '\n');
        if (!eol) break;
        *eol = 0;
        int n, ok = 1, k = 0;
        int *ids = encode(t, in, (size_t)(end - in), 0, &n);
        for (char *q = out; *q;) {
            char *next;
            long v = strtol(q, &next, 10);
            if (next == q) break;
            ok &= k < n && ids[k] == v;
            k++;
            q = next;
        }
        ok &= k == n;
        if (!ok) {
            printf("  %s vector %d: \"%.*s\"\n  want:%s\n", name, *total, (int)(end - in), in, out);
            print_ids("got ", ids, n);
        }
        pass += ok;
        (*total)++;
        free(ids);
        out = eol + 1;
    }
    free(data);
    free(want);
    printf("  ggml-vocab-%s: %d/%d vectors pass\n", name, pass, *total);
    return pass;
}

static void check_vectors(int v, const char *name) {
    int total, pass = run_vectors(vocab(v), name, &total);
    CHECK(vocab(v) != NULL);
    CHECK(total == 46);
    CHECK(pass == total);
}

static void test_vectors_llama_spm(void) { check_vectors(V_SPM, "llama-spm"); }
static void test_vectors_phi3(void) { check_vectors(V_PHI3, "phi-3"); }
static void test_vectors_gpt2(void) { check_vectors(V_GPT2, "gpt-2"); }
static void test_vectors_deepseek_llm(void) { check_vectors(V_DEEPSEEK, "deepseek-llm"); }
static void test_vectors_llama_bpe(void) { check_vectors(V_LLAMA3, "llama-bpe"); }

/* ---- goldens ---- */

static json_t *load_json(char *path) {
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    if (!j) printf("  %s: %s\n", path, je.text);
    free(path);
    return j;
}

/* Each texts[i].text encodes (with BOS) to texts[i].ids. */
static void check_texts(const tokenizer *t, const json_t *texts, const char *label) {
    CHECK(json_array_size(texts) > 0);
    for (size_t i = 0; t && i < json_array_size(texts); i++) {
        const json_t *x = json_array_get(texts, i);
        const json_t *s = json_object_get(x, "text");
        int n;
        int *ids = encode(t, json_string_value(s), json_string_length(s), 1, &n);
        int ok = same_ids(ids, n, json_object_get(x, "ids"));
        CHECKF(ok, "%s text %zu", label, i);
        if (!ok) print_ids("got", ids, n);
        free(ids);
    }
}

static void test_hf_goldens(void) {
    static const char *const dirs[] = {"hf/llama-tied-f32", "hf/llama-untied-bf16", "hf/qwen2-qkvbias-f32"};
    for (int d = 0; d < 3; d++) {
        char rel[128];
        snprintf(rel, sizeof rel, "%s/tokenizer.json", dirs[d]);
        tokenizer *t = load_other(gpath(rel), 0);
        CHECK(t != NULL);
        snprintf(rel, sizeof rel, "%s/golden.json", dirs[d]);
        json_t *j = load_json(gpath(rel));
        CHECK(j != NULL);
        if (t && j) {
            CHECK(tok_bos(t) == 1 && tok_add_bos(t) == 1);
            check_texts(t, json_object_get(j, "texts"), dirs[d]);
        }
        json_decref(j);
        tok_free(t);
    }
}

static void check_llamacpp(int v, const char *logprobs, const char *mc) {
    const tokenizer *t = vocab(v);
    CHECK(t != NULL);
    json_t *j = load_json(gpath(logprobs));
    CHECK(j != NULL);
    if (t && j) check_texts(t, json_object_get(j, "texts"), vocab_name[v]);
    json_decref(j);
    /* the MC requests: context and context + " A".." D" */
    json_t *m = load_json(gpath(mc));
    CHECK(m != NULL);
    if (!t || !m) {
        json_decref(m);
        return;
    }
    const json_t *ctx = json_object_get(m, "context"), *conts = json_object_get(m, "continuations");
    int n;
    int *ids = encode(t, json_string_value(ctx), json_string_length(ctx), 1, &n);
    CHECK(same_ids(ids, n, json_object_get(m, "context_ids")));
    for (size_t i = 0; i < json_array_size(conts); i++) {
        const json_t *c = json_array_get(conts, i);
        sb whole;
        sb_init(&whole);
        sb_puts(&whole, json_string_value(ctx));
        sb_puts(&whole, json_string_value(json_object_get(c, "continuation")));
        int nw;
        int *w = encode(t, whole.s, whole.len, 1, &nw);
        const json_t *cont = json_object_get(c, "continuation_ids");
        CHECK(nw == json_integer_value(json_object_get(c, "whole_ids_len")));
        CHECK(nw >= n && same_ids(w + n, nw - n, cont));
        free(w);
        sb_free(&whole);
    }
    free(ids);
    json_decref(m);
}

static void test_stories260K_tokenizer_bin(void) {
    check_llamacpp(V_STORIES_BIN, "llamacpp/stories260K.f32compute.logprobs.json", "llamacpp/stories260K.mc.json");
}
static void test_stories260K_gguf(void) {
    check_llamacpp(V_STORIES_GGUF, "llamacpp/stories260K.f32compute.logprobs.json", "llamacpp/stories260K.mc.json");
}
static void test_llama2_tokenizer_bin(void) {
    check_llamacpp(V_LLAMA2_BIN, "llamacpp/tiny-llama-f16.f32compute.logprobs.json", "llamacpp/tiny-llama-f16.mc.json");
}
static void test_llama2_gguf(void) {
    check_llamacpp(V_LLAMA2_GGUF, "llamacpp/tiny-llama-f16.f32compute.logprobs.json", "llamacpp/tiny-llama-f16.mc.json");
}

/* llama2.c's greedy output decodes from its ids, first space dropped. */
static void test_decode_greedy200(void) {
    json_t *j = load_json(gpath("llamacpp/stories260K.greedy200.json"));
    char *txt = NULL;
    size_t tlen;
    cj_err e;
    char *p = gpath("llama2c/stories260K_greedy200.txt");
    CHECK(cj_read_file(p, &txt, &tlen, &e) == 0);
    free(p);
    for (int v = V_STORIES_BIN; v <= V_STORIES_GGUF && j && txt; v++) {
        const json_t *ids = json_object_get(j, "ids");
        int n = (int)json_array_size(ids), *v_ids = malloc(sizeof(int) * (size_t)n);
        for (int i = 0; i < n; i++) v_ids[i] = (int)json_integer_value(json_array_get(ids, (size_t)i));
        sb out;
        sb_init(&out);
        CHECK(vocab(v) != NULL);
        if (vocab(v)) tok_decode(vocab(v), v_ids, n, 1, &out);
        CHECK(out.len == tlen && memcmp(out.s, txt, tlen) == 0);
        CHECK(n == 201);
        sb_free(&out);
        free(v_ids);
    }
    free(txt);
    json_decref(j);
}

/* ---- round trips ---- */

static void test_round_trip(void) {
    static const char *const texts[] = {
        "한국어 문장도 평가합니다: 대한민국의 수도는 서울이다.",
        "emoji 😀🦙 and 👩‍👩‍👧 family, ✅ done",
        "  leading spaces, tabs\tand\nnewlines; numbers 3.14159",
        "KMMLU 문제: 다음 중 옳은 것은? A. 가 B. 나 C. 다 D. 라",
        "mixed 中文 日本語 ελληνικά Ελλάδα русский \xc2\xa0nbsp",
    };
    for (int v = 0; v < V_COUNT; v++) {
        const tokenizer *t = vocab(v);
        CHECKF(t != NULL, "%s", vocab_name[v]);
        if (!t) continue;
        for (size_t k = 0; k < sizeof texts / sizeof texts[0]; k++) {
            int n;
            int *ids = encode(t, texts[k], strlen(texts[k]), 1, &n);
            sb out;
            sb_init(&out);
            tok_decode(t, ids, n, tok_get_kind(t) == TOK_SPM, &out);
            CHECKF(!strcmp(out.s, texts[k]), "%s: \"%s\" -> \"%s\"", vocab_name[v], texts[k], out.s);
            sb_free(&out);
            free(ids);
        }
    }
}

static void test_decode_rules(void) {
    const tokenizer *t = vocab(V_SPM);
    CHECK(t != NULL);
    if (!t) return;
    /* BOS and EOS render as nothing; byte tokens as bytes; "▁" as a space */
    int ids[] = {1, 15043, 3186, 13, 2};
    sb out;
    sb_init(&out);
    tok_decode(t, ids, 5, 0, &out);
    CHECK_STR(out.s, " Hello world\n");
    sb_clear(&out);
    tok_decode(t, ids, 5, 1, &out);
    CHECK_STR(out.s, "Hello world\n");
    sb_clear(&out);
    int bad[] = {-5, 32000, 1 << 30};
    tok_decode(t, bad, 3, 1, &out);
    CHECK_STR(out.s, "");
    sb_free(&out);
    CHECK_STR(tok_piece(t, 450), "\xe2\x96\x81The");
    CHECK(tok_piece(t, 32000) == NULL && tok_piece(t, -1) == NULL);
    CHECK(tok_n_vocab(t) == 32000 && tok_bos(t) == 1 && tok_eos(t) == 2 && tok_add_bos(t) == 1);
    CHECK_STR(tok_describe(t), "spm 32000 (ggml-vocab-llama-spm.gguf)");
    CHECK_STR(tok_describe(vocab(V_LLAMA3)), "bpe 128256 llama3 (tokenizer.json)");
    CHECK(tok_bos(vocab(V_LLAMA3)) == 128000 && tok_add_bos(vocab(V_LLAMA3)) == 1);
    CHECK(tok_bos(vocab(V_GPT2)) == 50256 && tok_add_bos(vocab(V_GPT2)) == 0);
}

/* Control tokens in text stay text (parse_special = false); user-defined
 * ones are split out (DeepSeek's "ø" is a user-defined token). */
static void test_special_text(void) {
    int n;
    int *ids = encode(vocab(V_SPM), "<s>x</s>", 8, 0, &n);
    CHECK(n > 2 && ids[0] != 1);
    free(ids);
    ids = encode(vocab(V_DEEPSEEK), "\xc3\xb8", 2, 0, &n);
    CHECK(n == 1 && ids[0] == 100002);
    free(ids);
    /* parse_special: the control tokens a chat template writes are those
     * tokens (HF tokenizers' ids for this text, add_special_tokens=False) */
    static const char chat[] = "<|start_header_id|>user<|end_header_id|>\n\nHi <s> there<|eot_id|>";
    static const int want[] = {128006, 882, 128007, 271, 13347, 366, 82, 29, 1070, 128009};
    cj_err e;
    CHECK(tok_encode_ex(vocab(V_LLAMA3), chat, strlen(chat), 1, 1, &ids, &n, &e) == 0);
    CHECKF(n == 11 && ids[0] == tok_bos(vocab(V_LLAMA3)) && !memcmp(ids + 1, want, sizeof want), "%d ids", n);
    free(ids);
    CHECK(tok_encode_ex(vocab(V_LLAMA3), chat, strlen(chat), 0, 0, &ids, &n, &e) == 0);
    CHECK(n > 10 && ids[0] != 128006); /* without it, text like any other */
    free(ids);
}

/* ---- a GGUF metadata writer, for broken tokenizer metadata ---- */

typedef struct {
    sb b;
    uint64_t n_kv;
} gw;

static void gw_raw(gw *w, const void *p, size_t n) { sb_putn(&w->b, p, n); }
static void gw_u32(gw *w, uint32_t v) { gw_raw(w, &v, 4); }
static void gw_u64(gw *w, uint64_t v) { gw_raw(w, &v, 8); }
static void gw_s(gw *w, const char *s) {
    gw_u64(w, strlen(s));
    gw_raw(w, s, strlen(s));
}
static void gw_key(gw *w, const char *k, uint32_t type) {
    gw_s(w, k);
    gw_u32(w, type);
    w->n_kv++;
}
static void kv_str(gw *w, const char *k, const char *v) {
    gw_key(w, k, 8);
    gw_s(w, v);
}
static void kv_u32(gw *w, const char *k, uint32_t v) {
    gw_key(w, k, 4);
    gw_u32(w, v);
}
static void kv_strs(gw *w, const char *k, const char *const *v, int n) {
    gw_key(w, k, 9);
    gw_u32(w, 8);
    gw_u64(w, (uint64_t)n);
    for (int i = 0; i < n; i++) gw_s(w, v[i]);
}
static void kv_nums(gw *w, const char *k, uint32_t type, const void *v, int n) {
    gw_key(w, k, 9);
    gw_u32(w, type);
    gw_u64(w, (uint64_t)n);
    gw_raw(w, v, 4 * (size_t)n);
}

/* Loads a tokenizer from the metadata in w; returns tok_load_gguf's result. */
static int gw_load(gw *w, tokenizer **t, cj_err *e) {
    sb file;
    sb_init(&file);
    sb_putn(&file, "GGUF", 4);
    uint32_t version = 3;
    uint64_t zero = 0;
    sb_putn(&file, (const char *)&version, 4);
    sb_putn(&file, (const char *)&zero, 8);
    sb_putn(&file, (const char *)&w->n_kv, 8);
    sb_putn(&file, w->b.s, w->b.len);
    gguf_ctx *g = NULL;
    int rc = gguf_open_mem(file.s, file.len, "meta.gguf", &g, e);
    if (!rc) rc = tok_load_gguf(g, t, e);
    gguf_close(g);
    sb_free(&file);
    sb_free(&w->b);
    return rc;
}

static void test_broken_gguf_metadata(void) {
    static const char *const toks[] = {"<unk>", "<s>", "</s>", "a", "b", "ab", "\xe2\x96\x81"};
    static const float scores[7] = {0, 0, 0, -1, -2, -0.5f, -3};
    static const int32_t types[7] = {2, 3, 3, 1, 1, 1, 1};
    for (int k = 0; k < 9; k++) {
        gw w = {{0}, 0};
        sb_init(&w.b);
        kv_str(&w, "tokenizer.ggml.model", k == 0 ? "bert" : k >= 5 ? "gpt2" : "llama");
        if (k == 6) kv_str(&w, "tokenizer.ggml.pre", "no-such-pre");
        if (k != 1) kv_strs(&w, "tokenizer.ggml.tokens", toks, 7);
        kv_nums(&w, "tokenizer.ggml.scores", 6, scores, k == 2 ? 6 : 7);
        kv_nums(&w, "tokenizer.ggml.token_type", k == 3 ? 6 : 5, types, 7);
        if (k == 4) kv_u32(&w, "tokenizer.ggml.add_bos_token", 7); /* not a bool */
        if (k == 7) kv_strs(&w, "tokenizer.ggml.merges", toks, 2);
        if (k == 8) kv_nums(&w, "tokenizer.ggml.merges", 5, types, 7);
        tokenizer *t = NULL;
        cj_err e = {{0}};
        int rc = gw_load(&w, &t, &e);
        if (k == 7) { /* merges without a space are kept as never-matching rules, as llama.cpp does */
            CHECKF(rc == 0, "%s", e.msg);
            int n, *ids = t ? encode(t, "ab", 2, 0, &n) : NULL;
            CHECK(t && n == 2 && ids[0] == 3 && ids[1] == 4);
            free(ids);
        } else {
            CHECKF(rc == -1 && t == NULL && strstr(e.msg, "meta.gguf"), "case %d: rc %d: %s", k, rc, e.msg);
        }
        tok_free(t);
    }
    /* a valid SPM vocabulary: merges by score, bos 0xFFFFFFFF means none */
    gw w = {{0}, 0};
    sb_init(&w.b);
    kv_str(&w, "tokenizer.ggml.model", "llama");
    kv_strs(&w, "tokenizer.ggml.tokens", toks, 7);
    kv_nums(&w, "tokenizer.ggml.scores", 6, scores, 7);
    kv_nums(&w, "tokenizer.ggml.token_type", 5, types, 7);
    kv_u32(&w, "tokenizer.ggml.bos_token_id", 0xFFFFFFFFu);
    kv_u32(&w, "tokenizer.ggml.eos_token_id", 99);
    tokenizer *t = NULL;
    cj_err e = {{0}};
    CHECKF(gw_load(&w, &t, &e) == 0, "%s", e.msg);
    if (!t) return;
    CHECK(tok_bos(t) == -1 && tok_add_bos(t) == 0 && tok_eos(t) == 2);
    int n, *ids = encode(t, "ab ab", 5, 1, &n);
    CHECK(n == 4 && ids[0] == 6 && ids[1] == 5 && ids[2] == 6 && ids[3] == 5);
    free(ids);
    tok_free(t);
}

/* ---- hostile input ---- */

static uint64_t rng = 0x9E3779B97F4A7C15ULL;
static uint32_t rnd(void) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (uint32_t)rng;
}

static void test_random_bytes(void) {
    static const char *const bad[] = {"\xff\xfe", "\xc3", "\xe2\x96", "\xf0\x9f\x98", "\xed\xa0\x80", "\xc0\x80",
                                      "\xf5\x80\x80\x80", "a\200b", "\xe2\x96\x81\xe2\x96"};
    static const char alpha[] = " \n\t'aZ9\xc3\xb8\xe2\x96\x81<";
    char buf[300];
    for (int v = 0; v < V_COUNT; v++) {
        const tokenizer *t = vocab(v);
        if (!t) continue;
        int fails = 0;
        for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
            int n;
            int *ids = encode(t, bad[k], strlen(bad[k]), 1, &n);
            fails += n < 0;
            for (int i = 0; i < n; i++) fails += ids[i] < 0 || ids[i] >= tok_n_vocab(t);
            free(ids);
        }
        for (int r = 0; r < 40; r++) {
            size_t len = rnd() % sizeof buf;
            for (size_t i = 0; i < len; i++) buf[i] = r & 1 ? (char)rnd() : alpha[rnd() % (sizeof alpha - 1)];
            int n;
            int *ids = encode(t, buf, len, r & 2, &n);
            fails += n < 0;
            for (int i = 0; i < n; i++) fails += ids[i] < 0 || ids[i] >= tok_n_vocab(t);
            sb out;
            sb_init(&out);
            tok_decode(t, ids, n, 1, &out);
            sb_free(&out);
            free(ids);
        }
        CHECKF(fails == 0, "%s: %d failures", vocab_name[v], fails);
    }
    int n, *ids = encode(vocab(V_SPM), "", 0, 0, &n);
    CHECK(n == 0 && ids != NULL);
    free(ids);
    ids = encode(vocab(V_SPM), "", 0, 1, &n);
    CHECK(n == 1 && ids[0] == 1);
    free(ids);
}

static char *write_tmp(const void *data, size_t len, const char *suffix) {
    char *path = malloc(64);
    snprintf(path, 64, "/tmp/cj_tok_XXXXXX%s", suffix);
    int fd = mkstemps(path, (int)strlen(suffix));
    if (fd < 0 || write(fd, data, len) != (ssize_t)len) printf("  cannot write %s\n", path);
    if (fd >= 0) close(fd);
    return path;
}

static void test_truncated_llama2c(void) {
    char *p = apath("models/stories260K/tok512.bin"), *data;
    size_t len;
    cj_err e;
    CHECK(cj_read_file(p, &data, &len, &e) == 0);
    free(p);
    int failed = 0, crashed_ok = 1;
    for (size_t cut = 0; data && cut < len; cut += 1 + cut / 7) {
        char *tmp = write_tmp(data, cut, ".bin");
        tokenizer *t = NULL;
        e.msg[0] = 0;
        int rc = tok_load_llama2c(tmp, 512, &t, &e);
        failed += rc == -1 && t == NULL && strstr(e.msg, tmp) != NULL;
        crashed_ok &= rc == -1;
        tok_free(t);
        unlink(tmp);
        free(tmp);
    }
    CHECK(crashed_ok && failed > 0);
    /* a length field pointing past the end, a negative length, a zero vocabulary */
    int32_t hdr[10] = {10, 0, 1000, 0};
    memcpy(&hdr[1], &(float){0.5f}, 4);
    char *tmp = write_tmp(hdr, sizeof hdr, ".bin");
    tokenizer *t = NULL;
    CHECK(tok_load_llama2c(tmp, 4, &t, &e) == -1 && strstr(e.msg, "token 0") && t == NULL);
    hdr[2] = -3;
    unlink(tmp);
    free(tmp);
    tmp = write_tmp(hdr, sizeof hdr, ".bin");
    CHECK(tok_load_llama2c(tmp, 4, &t, &e) == -1 && strstr(e.msg, "-3"));
    CHECK(tok_load_llama2c(tmp, 0, &t, &e) == -1);
    CHECK(tok_load_llama2c("/nonexistent/tokenizer.bin", 32, &t, &e) == -1);
    /* a vocabulary the file cannot hold is refused before it is allocated */
    CHECK(tok_load_llama2c(tmp, 4000000, &t, &e) == -1 && strstr(e.msg, "too short for 4000000 tokens") && !t);
    unlink(tmp);
    free(tmp);
    free(data);
}

static void test_broken_json(void) {
    static const char *const cases[] = {
        "",
        "{",
        "[1,2,3]",
        "{\"model\": 5}",
        "{\"model\": {\"type\": \"Unigram\", \"vocab\": {}}}",
        "{\"model\": {\"type\": \"BPE\"}}",
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {}}}",
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": -1}}}",
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 99999999999}}}",
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": \"x\"}}}",
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [\"ab\"]}}",
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [[\"a\"]]}}",
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": 7}}",
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}}, \"added_tokens\": [{\"id\": -4, \"content\": \"x\"}]}",
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}}, \"added_tokens\": [{\"id\": 1}]}",
        ("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}}, \"pre_tokenizer\": {\"type\": \"Sequence\", "
         "\"pretokenizers\": [{\"type\": \"Split\", \"pattern\": {\"Regex\": \"(\"}}, {\"type\": \"ByteLevel\"}]}}"),
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}}, \"pre_tokenizer\": {\"type\": \"Digits\"}}",
        /* one large id made a 60-byte file allocate 2^24 tokens (loader audit) */
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 16777215}}}",
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *tmp = write_tmp(cases[i], strlen(cases[i]), ".json");
        tokenizer *t = NULL;
        cj_err e = {{0}};
        int rc = tok_load_hf_json(tmp, &t, &e);
        CHECKF(rc == -1 && t == NULL && strstr(e.msg, tmp), "case %zu: rc %d msg %s", i, rc, e.msg);
        tok_free(t);
        unlink(tmp);
        free(tmp);
    }
    /* a minimal valid byte-level file with a custom regex loads and encodes */
    const char *ok = "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1, \"ab\": 2, \"\xc4\xa0\": 3},"
                     " \"merges\": [\"a b\"]}, \"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": ["
                     "{\"type\": \"Split\", \"pattern\": {\"Regex\": \"\\\\s?\\\\p{L}+\"}, \"behavior\": \"Isolated\"},"
                     "{\"type\": \"ByteLevel\", \"use_regex\": false}]}}";
    char *tmp = write_tmp(ok, strlen(ok), ".json");
    tokenizer *t = NULL;
    cj_err e = {{0}};
    CHECKF(tok_load_hf_json(tmp, &t, &e) == 0, "%s", e.msg);
    if (t) {
        int n, *ids = encode(t, "ab ab", 5, 1, &n);
        CHECK(n == 3 && ids[0] == 2 && ids[1] == 3 && ids[2] == 2);
        free(ids);
        CHECK(tok_bos(t) == -1 && tok_get_kind(t) == TOK_BPE);
    }
    tok_free(t);
    unlink(tmp);
    free(tmp);
    /* a BOS id from the post-processor outside the vocabulary means no BOS */
    static const char *const bos_ids[] = {"-5", "99999999999", "3"};
    for (int i = 0; i < 3; i++) {
        char json[512];
        snprintf(json, sizeof json,
                 "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1}}, \"post_processor\": "
                 "{\"type\": \"TemplateProcessing\", \"single\": [{\"SpecialToken\": {\"id\": \"<s>\"}}], "
                 "\"special_tokens\": {\"<s>\": {\"ids\": [%s]}}}}",
                 bos_ids[i]);
        tmp = write_tmp(json, strlen(json), ".json");
        t = NULL;
        CHECKF(tok_load_hf_json(tmp, &t, &e) == 0, "%s", e.msg);
        if (t) CHECKF(tok_bos(t) == -1 && !tok_add_bos(t), "ids [%s]: bos %d", bos_ids[i], tok_bos(t));
        tok_free(t);
        unlink(tmp);
        free(tmp);
    }
}

int main(void) {
    assets = cj_assets_dir();
    golden = cj_golden_dir();
    RUN(test_vectors_llama_spm);
    RUN(test_vectors_phi3);
    RUN(test_vectors_gpt2);
    RUN(test_vectors_deepseek_llm);
    RUN(test_vectors_llama_bpe);
    RUN(test_hf_goldens);
    RUN(test_stories260K_tokenizer_bin);
    RUN(test_stories260K_gguf);
    RUN(test_llama2_tokenizer_bin);
    RUN(test_llama2_gguf);
    RUN(test_decode_greedy200);
    RUN(test_round_trip);
    RUN(test_decode_rules);
    RUN(test_special_text);
    RUN(test_random_bytes);
    RUN(test_truncated_llama2c);
    RUN(test_broken_json);
    RUN(test_broken_gguf_metadata);
    for (int v = 0; v < V_COUNT; v++) tok_free(cache[v]);
    free(assets);
    free(golden);
    return check_summary_();
}
