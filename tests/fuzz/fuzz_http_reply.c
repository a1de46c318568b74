/* libFuzzer target: an OpenAI-compatible server's replies (runners/http/
 * http_reply.c). The first byte: bit 0 = prompts - 1, bit 1 = logprobs
 * wanted, bit 2 = the model list read without a name, bits 3-5 = prompt
 * tokens, bits 6-7 = continuation tokens scored; the rest is the reply body, read as a completions reply (then
 * scored as ids and as text), as a chat reply, as a stream of server-sent
 * events (bit 1: chat chunks) and as a /v1/models reply. A refusal must
 * leave a message; an accepted score must count what it was asked to; the
 * first-text scan must stay inside the body. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../runners/http/http_reply.h"
#include "../../runners/http/http_sse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int np = 1 + (data[0] & 1), ntok = (data[0] >> 3) & 7, ncont = data[0] >> 6;
    const char *body = (const char *)data + 1;
    size_t len = size - 1;
    http_choice c[2];
    http_usage u;
    cj_err e;
    e.msg[0] = 0;
    if (http_reply_parse(body, len, np, data[0] & 2, c, &u, &e) == 0) {
        for (int i = 0; i < np; i++) {
            runner_ll_result r;
            if (c[i].lp && http_score_ids(&c[i], ntok, ncont, &r, &e) == 0 && r.n_tokens != ncont) __builtin_trap();
            if (c[i].lp && http_score_text(&c[i], ntok * 3, ncont, &r, &e) == 0 && r.n_tokens > c[i].n)
                __builtin_trap();
        }
        http_choices_free(c, np);
    } else if (!e.msg[0]) {
        __builtin_trap();
    }
    e.msg[0] = 0;
    if (http_reply_parse_chat(body, len, c, &u, &e) == 0) http_choices_free(c, 1);
    else if (!e.msg[0]) __builtin_trap();
    http_sse_reply sr;
    e.msg[0] = 0;
    if (http_sse_parse(body, len, data[0] & 2, &sr, &e) != 0 && !e.msg[0]) __builtin_trap();
    if (!sr.text) __builtin_trap();
    http_sse_reply_free(&sr);
    size_t scan = 0;
    (void)http_sse_first_text(body, len, &scan);
    if (scan > len) __builtin_trap();
    char *desc = NULL, *id = NULL;
    if (http_models_find(body, len, (data[0] & 4) ? NULL : "m", &desc, &id, &e) == 0 && !desc) __builtin_trap();
    free(desc);
    free(id);
    return 0;
}
