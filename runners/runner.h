/* runner — the one interface every backend implements (see DESIGN.md).
 *
 * A runner scores and generates text; it knows nothing of tasks or SQLite.
 * Items are handed over in bulk so that the runner may sort, batch and share
 * prefixes; results come back in input order. The local runner's numbers do
 * not depend on batch size, thread count or item order.
 *
 * Ownership: the caller owns every item and every result array it passes in.
 * Strings a runner returns inside results (runner_gen_result.text) are
 * malloc'd and freed by the caller with free(). All calls return 0 or -1 with
 * a message in *e. */
#ifndef CJ_RUNNER_H
#define CJ_RUNNER_H

#include <stdint.h>

#include "../common/err.h"

/* Per-item cost, filled by every call. */
typedef struct {
    int prefill_tokens; /* tokens pushed through the model for this item (after any sharing) */
    int decode_tokens;  /* tokens generated (generate only) */
    double wall_s;      /* wall time attributed to this item */
    double ttft_s;      /* time to first generated token (generate only; 0 otherwise) */
} runner_timing;

/* --- loglikelihood -------------------------------------------------------- */

typedef struct {
    const char *context;              /* UTF-8, may be "" */
    const char *const *continuations; /* n_cont UTF-8 strings */
    int n_cont;
} runner_ll_item;

typedef struct {
    double logprob; /* sum of ln p over the continuation's tokens */
    int n_tokens;   /* continuation tokens scored */
    int is_greedy;  /* 1 if every continuation token was the argmax */
} runner_ll_result;

/* --- loglikelihood_rolling --------------------------------------------------- */

typedef struct {
    double logprob; /* sum of ln p over every token of the text (BOS excluded) */
    int n_tokens;   /* tokens scored */
} runner_rolling_result;

/* --- generate -------------------------------------------------------------- */

typedef struct {
    const char *context;
    const char *const *until; /* stop strings; generation stops before the first match */
    int n_until;
    int max_tokens;
    float temperature; /* 0 = greedy, deterministic */
    float top_p;       /* 1 = off */
    uint64_t seed;
} runner_gen_item;

typedef enum { RUNNER_FINISH_STOP = 0, RUNNER_FINISH_LENGTH = 1, RUNNER_FINISH_EOS = 2 } runner_finish;

typedef struct {
    char *text; /* malloc'd, caller frees; stop string not included */
    int n_tokens;
    runner_finish finish;
} runner_gen_result;

/* --- identity -------------------------------------------------------------- */

typedef struct {
    const char *path;
    char sha256[65];       /* of the weights file (first shard / index for sharded HF) */
    const char *format;    /* "gguf" | "safetensors" | "llama2c" | "http" */
    const char *arch;      /* "llama" | "mistral" | "qwen2"; http: what /v1/models says of the model (JSON) */
    int64_t n_params;
    const char *dtype;     /* e.g. "F32", "F16", "Q8_0", "mixed" */
    int ctx_len;
    const char *tokenizer; /* e.g. "spm 512 (tok512.bin)" */
    const char *kernels;   /* the weight products: "own" (bit-identical everywhere) or "openblas"; NULL: not local */
} runner_info;

/* --- the interface ---------------------------------------------------------- */

typedef struct runner runner;

typedef struct {
    /* out has one entry per continuation, items in order, continuations in
     * order: sum of items[i].n_cont entries. timings has n entries. */
    int (*loglikelihood)(runner *r, const runner_ll_item *items, int n, runner_ll_result *out,
                         runner_timing *timings, cj_err *e);
    int (*loglikelihood_rolling)(runner *r, const char *const *texts, int n, runner_rolling_result *out,
                                 runner_timing *timings, cj_err *e);
    int (*generate)(runner *r, const runner_gen_item *items, int n, runner_gen_result *out,
                    runner_timing *timings, cj_err *e);
    const runner_info *(*info)(runner *r);
    void (*free)(runner *r);
} runner_vtable;

struct runner {
    const runner_vtable *vt;
    void *impl;
};

static inline int runner_loglikelihood(runner *r, const runner_ll_item *items, int n, runner_ll_result *out,
                                       runner_timing *t, cj_err *e) {
    return r->vt->loglikelihood(r, items, n, out, t, e);
}
static inline int runner_loglikelihood_rolling(runner *r, const char *const *texts, int n,
                                               runner_rolling_result *out, runner_timing *t, cj_err *e) {
    return r->vt->loglikelihood_rolling(r, texts, n, out, t, e);
}
static inline int runner_generate(runner *r, const runner_gen_item *items, int n, runner_gen_result *out,
                                  runner_timing *t, cj_err *e) {
    return r->vt->generate(r, items, n, out, t, e);
}
static inline const runner_info *runner_get_info(runner *r) { return r->vt->info(r); }
static inline void runner_free(runner *r) {
    if (r) r->vt->free(r);
}

/* Options common to local backends. */
typedef struct {
    const char *model_path;     /* .gguf file, HF folder, or llama2.c .bin */
    const char *tokenizer_path; /* llama2.c tokenizer.bin, or an override tokenizer.json; NULL = from the model */
    int threads;                /* 0 = all cores */
    int batch_tokens;           /* max tokens per forward batch; 0 = default */
    int no_prefix_cache;        /* 1 = plain path, no prefix sharing */
    int kv_budget_mb;           /* bound in MiB on the KV cache plus one batch's activations; 0 = none */
    int gen_batch;              /* sequences generated together, at most; 0 = default (64); 1 = one at a time */
    int chat_prompts;           /* 1: prompts are chat-template renderings: the special tokens they hold are
                                 * read as such and no BOS is added (lm-eval's apply_chat_template) */
    const char *kernels;        /* "own" (default when NULL) or "openblas": see runners/transformer/compute/gemm.h */
} runner_opts;

/* The local transformer (runners/transformer/). Returns a runner the caller
 * releases with runner_free, or NULL with a message in *e. */
runner *runner_local_open(const runner_opts *opts, cj_err *e);

/* Options of the HTTP runner (runners/http/): an OpenAI-compatible server. */
typedef struct {
    const char *urls;           /* "http[s]://HOST[:PORT]/v1", or several, comma-separated */
    const char *model_name;     /* the "model" of every request; NULL: the one model the server lists */
    const char *tokenizer_path; /* tokenizer.json, .gguf or llama2.c tokenizer.bin: prompts go as token ids; NULL: as text */
    const char *api_key_env;    /* variable holding the API key; NULL: OPENAI_API_KEY */
    int concurrency;            /* requests in flight; 0 = 4 */
    int prompts_per_request;    /* scoring prompts batched in one request; 0 = 1 */
    double timeout_s;           /* per request; 0 = 600 */
    int retries;                /* further attempts after a failed one; < 0 = 5 */
    double backoff_s;           /* first retry delay; 0 = 0.5 (doubling, with jitter, at most 30 s) */
    int max_length;             /* with a tokenizer: rolling window and left truncation; 0 = 2048 */
    int chat;                   /* 1: generation contexts are JSON chat messages (task_chat.as_messages), sent
                                 * to /v1/chat/completions; scoring is then refused */
    int stream;                 /* 1: generation streams (SSE), timing the first token */
    int chat_prompts;           /* 1: contexts are chat-template renderings (runner_opts.chat_prompts): with
                                 * a tokenizer, their special tokens are read as such and no BOS added */
} runner_http_opts;

/* The HTTP runner (runners/http/http.c): asks the server for /v1/models
 * first. Returns NULL with a message in *e when no endpoint answers. */
runner *runner_http_open(const runner_http_opts *opts, cj_err *e);

/* Of the choices runner r (an HTTP runner; any other gives zeros) has
 * scored from text prompts since it was opened: how many (*scored), and in
 * how many a token of the server's spanned the context's end (*spanned):
 * there the continuation it scored is not lm-eval's, which only token-id
 * prompts (--tokenizer, or the server's /tokenize) reproduce. Requests the
 * run's cache answered are not counted. */
void runner_http_text_boundaries(runner *r, long *scored, long *spanned);

#endif
