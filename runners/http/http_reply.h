/* http_reply — reading an OpenAI-compatible /v1/completions or /v1/models
 * reply, and turning echoed prompt log-probs into runner results.
 *
 * Every reply is untrusted: a body that is not JSON, a missing or mistyped
 * field, a choice count, index or token count that does not match the
 * request, or a log-prob that is not a finite number gives -1 with a message
 * naming the field (and the choice), never a crash or an out-of-bounds read.
 *
 * Ownership: http_reply_parse fills caller-owned http_choice entries whose
 * arrays and strings it allocates; http_choices_free releases them. */
#ifndef CJ_HTTP_REPLY_H
#define CJ_HTTP_REPLY_H

#include <stddef.h>

#include "../../common/err.h"
#include "../runner.h"

/* One choice of a completions reply. The logprobs arrays have n entries
 * (n = 0 when the reply had no logprobs and none were asked for). */
typedef struct {
    int n;
    double *lp;      /* token_logprobs[i]; NaN where the reply has null */
    double *top_max; /* the largest value of top_logprobs[i]; NaN where absent */
    long *offset;    /* text_offset[i]; NULL when the reply has none */
    long last_end;   /* text_offset of the last token plus its length in characters (from
                        logprobs.tokens); -1 when either is absent */
    char *text;      /* choices[].text ("" when absent) */
    char *finish;    /* finish_reason (NULL when absent or null) */
} http_choice;

typedef struct {
    long prompt_tokens;     /* usage.prompt_tokens; -1 when absent */
    long completion_tokens; /* usage.completion_tokens; -1 when absent */
} http_usage;

/* usage.prompt_tokens and usage.completion_tokens of a reply's "usage"
 * object (a json_t *; -1 for a field absent or not a count). */
struct json_t;
void http_usage_read(const struct json_t *usage, http_usage *u);

/* Parses a completions reply for a request of n_prompts prompts into
 * out[0..n_prompts), ordered by each choice's "index" (position when absent).
 * want_logprobs: every choice must carry logprobs.token_logprobs and
 * logprobs.top_logprobs of equal lengths. */
int http_reply_parse(const char *body, size_t len, int n_prompts, int want_logprobs, http_choice *out,
                     http_usage *usage, cj_err *e);
/* The same for a /v1/chat/completions reply of one choice: its text is
 * choices[0].message.content (null, as for a refusal, reads as ""). */
int http_reply_parse_chat(const char *body, size_t len, http_choice *out, http_usage *usage, cj_err *e);
void http_choices_free(http_choice *c, int n);

/* Scores a prompt sent as n_prompt token ids whose last n_cont tokens are
 * the continuation: the choice must echo n_prompt or n_prompt + 1 tokens (a
 * generated one after them); is_greedy holds when each continuation token's
 * log-prob is the largest of its top_logprobs, as lm-eval decides it. */
int http_score_ids(const http_choice *c, int n_prompt, int n_cont, runner_ll_result *out, cj_err *e);

/* Scores a prompt sent as text: the echoed tokens starting before
 * prompt_len characters (code points, as text_offset counts them) are the prompt's; the continuation is those that start at
 * or after cont_from (the context's length without trailing whitespace).
 * Needs text_offset. With cont_from 0 (a rolling text) every prompt token
 * with a log-prob counts: a server that adds BOS gives it none. Offsets
 * may run ahead of the prompt (llama-cpp-python counts them in its
 * detokenized prompt, which starts with SentencePiece's dummy-prefix space):
 * the lead is where the last echoed token ends less the length of the echoed
 * text (prompt + generated text), whether or not a token was generated (a
 * server that samples EOS for max_tokens 1 echoes none); without the token
 * texts, the generated token's offset less prompt_len. A lead of 1 to 4
 * characters moves every offset back by it; more is not a lead. */
int http_score_text(const http_choice *c, long prompt_len, long cont_from, runner_ll_result *out, cj_err *e);

/* For a prompt sent as text (arguments as http_score_text): 1 when no
 * echoed prompt token starts where the context ends, a token spanning the
 * context's end (cont_from 0 or no text_offset: 0). Then the server's
 * tokens of context + continuation cannot begin with tok(context), so the
 * continuation it scores is not lm-eval's (tok(context + continuation) after
 * len(tok(context)) tokens, after tok(context)). The converse does not hold:
 * a context tokenized differently inside goes unseen. */
int http_text_boundary_spanned(const http_choice *c, long prompt_len, long cont_from);

/* Finds model in a /v1/models reply and returns a canonical description of
 * it (malloc'd): {"id":..., "root":..., "max_model_len":...} with the fields
 * the reply has (never "created", which a server restart changes). model
 * NULL: the reply must list exactly one model, whose id goes to *id_out
 * (malloc'd). */
int http_models_find(const char *body, size_t len, const char *model, char **desc, char **id_out, cj_err *e);

#endif
