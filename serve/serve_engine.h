/* serve_engine — the model behind `chaejeom serve`: scores token sequences
 * position by position and generates text, for serve_api, from any number
 * of threads at once.
 *
 * Scoring goes straight to the forward pass (fwd_score), so a prompt's
 * log-probs are the very floats the local runner sums for the same tokens.
 * One batching thread owns the forward pass: the scoring calls of every
 * thread that arrive while it works are folded into its next fwd_score call
 * (one prefix tree, one run of the layers per batch), which changes no
 * number (the forward pass does not depend on what shares a call).
 * Generation goes through the local runner (runner_local_open), one request
 * at a time, so stop strings, sampling and seeds behave as `chaejeom run`
 * does. The engine holds the model twice over (once per path; the weights
 * are mapped read-only, so shared in memory).
 *
 * Ownership: serve_engine_free (once no other thread uses the engine) stops
 * the batching thread and releases everything; arrays returned in a
 * serve_scores belong to the caller (serve_scores_free). Errors: -1 with a
 * message in *e; a failed forward call fails every request folded into it. */
#ifndef CJ_SERVE_ENGINE_H
#define CJ_SERVE_ENGINE_H

#include "../common/sb.h"
#include "../runners/runner.h"

#define SERVE_MAX_PROMPT_TOKENS 16384

typedef struct serve_engine serve_engine;

int serve_engine_open(const runner_opts *opts, serve_engine **out, cj_err *e);
void serve_engine_free(serve_engine *s);

int serve_engine_n_vocab(const serve_engine *s);
int serve_engine_ctx_len(const serve_engine *s);
const runner_info *serve_engine_info(const serve_engine *s);

/* Text to ids, BOS prepended when add_special and the vocabulary wants it. */
int serve_engine_encode(const serve_engine *s, const char *text, size_t len, int add_special, int **ids, int *n,
                        cj_err *e);
/* Appends the text of ids (skip_bos: a leading BOS id gives nothing). */
void serve_engine_decode(const serve_engine *s, const int *ids, int n, int skip_bos, sb *out);

/* --add-bos: prompts given as ids that do not start with BOS are scored
 * after one (not echoed), as `chaejeom run` scores them; for clients that
 * cannot add it (lm-eval's remote tokenizer). Off by default, as vLLM. */
void serve_engine_set_add_bos(serve_engine *s, int on);
int serve_engine_add_bos(const serve_engine *s);

/* The vocabulary's text of a token ("</s>"), or NULL (id -1 or out of range). */
const char *serve_engine_piece(const serve_engine *s, int id);
int serve_engine_bos(const serve_engine *s);

/* Position t (1 <= t < n) of a scored sequence is at index t - 1. */
typedef struct {
    float *lp;     /* ln p(ids[t] | ids[<t]) */
    int *argmax;   /* the most likely token there (first on ties) */
    int *rank;     /* 1 + the tokens strictly more likely than ids[t] (vLLM's rank) */
    int k;         /* alternatives per position */
    int *top_ids;  /* [(n - 1) * k]: the k most likely, most likely first (NULL when k is 0) */
    float *top_lps; /* their ln p: the same float as lp where the token is ids[t] */
} serve_scores;

/* Log-probs of ids[1..n) with k (0..FWD_MAX_TOP_K) alternatives each,
 * from one fwd_score call. */
int serve_engine_score(serve_engine *s, const int *ids, int n, int k, serve_scores *out, cj_err *e);
void serve_scores_free(serve_scores *sc);

/* The greedy next token after ids[0..n) (n >= 1): the argmax the scoring
 * path gives there, the token generation at temperature 0 picks too. */
int serve_engine_greedy_next(serve_engine *s, const int *ids, int n, int *tok, cj_err *e);
int serve_engine_eos(const serve_engine *s);

/* Forward calls made and scoring calls folded into them, since open. */
void serve_engine_stats(serve_engine *s, long *calls, long *jobs);

int serve_engine_generate(serve_engine *s, const runner_gen_item *it, runner_gen_result *out, cj_err *e);

/* Generation after a chat-template rendering (it->context), read as
 * `chaejeom run --apply-chat-template` reads it: special tokens in the text
 * are those tokens, no BOS added. A second runner, opened at the first call. */
int serve_engine_generate_chat(serve_engine *s, const runner_gen_item *it, runner_gen_result *out, cj_err *e);
/* The ids of a chat rendering, read the same way (usage.prompt_tokens; /tokenize
 * with messages), *ids malloc'd. */
int serve_engine_encode_chat(const serve_engine *s, const char *text, int **ids, int *n, cj_err *e);

#endif
