/* libFuzzer target: request bodies of `chaejeom serve` (serve/serve_req.c),
 * read as a /v1/completions, a /v1/chat/completions, a /tokenize and a /detokenize body. The first byte
 * sets the vocabulary size (1..256); the rest is the body. A refusal must
 * leave a message and nothing to free; an accepted request must hold only
 * token ids inside the vocabulary and counts inside the documented bounds. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "../../serve/serve_req.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_req(const serve_req *r, int n_vocab) {
    if (r->n_prompts < 1 || r->n_prompts > SERVE_MAX_PROMPTS || r->n_stop > SERVE_MAX_STOPS) __builtin_trap();
    if (r->logprobs > SERVE_MAX_LOGPROBS || r->prompt_logprobs > SERVE_MAX_LOGPROBS || r->max_tokens < 0) __builtin_trap();
    for (int p = 0; p < r->n_prompts; p++) {
        const serve_prompt *q = &r->prompts[p];
        if (!q->text == !q->ids) __builtin_trap();
        for (int t = 0; t < q->n_ids; t++)
            if (q->ids[t] < 0 || q->ids[t] >= n_vocab) __builtin_trap();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int n_vocab = 1 + data[0];
    const char *body = (const char *)data + 1;
    size_t len = size - 1;
    serve_req r;
    cj_err e;
    e.msg[0] = 0;
    if (serve_parse_completion(body, len, n_vocab, &r, &e) == 0) {
        check_req(&r, n_vocab);
        serve_req_free(&r);
    } else if (!e.msg[0] || r.prompts || r.stop) {
        __builtin_trap();
    }
    e.msg[0] = 0;
    if (serve_parse_chat(body, len, &r, &e) == 0) {
        if (!r.messages || r.messages[0] != '[' || r.n_stop > SERVE_MAX_STOPS || r.max_tokens < -1) __builtin_trap();
        serve_req_free(&r);
    } else if (!e.msg[0] || r.messages || r.stop) {
        __builtin_trap();
    }
    char *text, *msgs;
    int add;
    e.msg[0] = 0;
    if (serve_parse_tokenize(body, len, &text, &msgs, &add, &e) == 0) {
        if (!text == !msgs || (msgs && (msgs[0] != '[' || add))) __builtin_trap(); /* one form or the other */
        free(text);
        free(msgs);
    } else if (!e.msg[0] || text || msgs) {
        __builtin_trap();
    }
    int *ids, n;
    e.msg[0] = 0;
    if (serve_parse_detokenize(body, len, n_vocab, &ids, &n, &e) == 0) {
        for (int i = 0; i < n; i++)
            if (ids[i] < 0 || ids[i] >= n_vocab) __builtin_trap();
        free(ids);
    } else if (!e.msg[0] || ids || n) {
        __builtin_trap();
    }
    return 0;
}
