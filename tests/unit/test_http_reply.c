/* Reading OpenAI-compatible replies (runners/http/http_reply.c): scores from
 * echoed log-probs, and every malformed or mutated reply refused with a
 * message, never a crash (run under ASan by make test). */
#include <stdint.h>

#include "../../runners/http/http_reply.h"
#include "../check.h"

/* Five echoed tokens of a prompt (the first has no log-prob) and one
 * generated token, as vLLM answers echo + logprobs 1 + max_tokens 1. */
static const char *IDS_REPLY =
    "{\"id\":\"cmpl-1\",\"choices\":[{\"index\":0,\"text\":\"\",\"finish_reason\":\"length\",\"logprobs\":{"
    "\"tokens\":[\"<s>\",\"A\",\"B\",\"C\",\"D\",\"E\"],"
    "\"token_logprobs\":[null,-1.5,-2.25,-0.5,-0.125,-3],"
    "\"top_logprobs\":[null,{\"A\":-1.5},{\"B\":-2.25,\"x\":-0.5},{\"C\":-0.5,\"y\":-1},{\"D\":-0.125},{\"E\":-3}],"
    "\"text_offset\":[0,0,2,4,6,8]}}],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":1}}";

static int parse1(const char *body, int want, http_choice *c, cj_err *e) {
    http_usage u;
    return http_reply_parse(body, strlen(body), 1, want, c, &u, e);
}

static void test_ids_scores_the_last_tokens(void) {
    http_choice c;
    cj_err e;
    CHECK(parse1(IDS_REPLY, 1, &c, &e) == 0);
    runner_ll_result r;
    CHECK(http_score_ids(&c, 5, 2, &r, &e) == 0); /* tokens 3 and 4 */
    CHECK(r.logprob == -0.625 && r.n_tokens == 2 && r.is_greedy == 1);
    CHECK(http_score_ids(&c, 5, 3, &r, &e) == 0); /* token 2 is not the top one */
    CHECK(r.logprob == -2.875 && r.n_tokens == 3 && r.is_greedy == 0);
    CHECK(http_score_ids(&c, 5, 0, &r, &e) == 0 && r.n_tokens == 0 && r.logprob == 0);
    /* five echoed for a prompt of 4 is 4 + 2: refused; so is no context */
    CHECK(http_score_ids(&c, 4, 1, &r, &e) == -1 && strstr(e.msg, "6 tokens echoed"));
    CHECK(http_score_ids(&c, 6, 6, &r, &e) == -1);
    CHECK(http_score_ids(&c, 5, 5, &r, &e) == -1);
    http_choices_free(&c, 1);
}

static void test_text_uses_offsets(void) {
    http_choice c;
    cj_err e;
    CHECK(parse1(IDS_REPLY, 1, &c, &e) == 0);
    runner_ll_result r;
    /* a prompt of 8 bytes whose continuation starts at byte 4: tokens 3, 4 */
    CHECK(http_score_text(&c, 8, 4, &r, &e) == 0);
    CHECK(r.logprob == -0.625 && r.n_tokens == 2);
    /* rolling (from 0): every prompt token with a log-prob */
    CHECK(http_score_text(&c, 8, 0, &r, &e) == 0);
    CHECK(r.logprob == -4.375 && r.n_tokens == 4);
    http_choices_free(&c, 1);
    const char *no_off = "{\"choices\":[{\"logprobs\":{\"token_logprobs\":[null,-1],\"top_logprobs\":[null,{\"a\":-1}]}}]}";
    CHECK(parse1(no_off, 1, &c, &e) == 0);
    CHECK(http_score_text(&c, 3, 1, &r, &e) == -1 && strstr(e.msg, "text_offset"));
    http_choices_free(&c, 1);
}

static void test_choices_by_index(void) {
    const char *body = "{\"choices\":[{\"index\":1,\"text\":\"second\"},{\"index\":0,\"text\":\"first\"}]}";
    http_choice c[3]; /* room for the 3-prompt case below */
    http_usage u;
    cj_err e;
    CHECK(http_reply_parse(body, strlen(body), 2, 0, c, &u, &e) == 0);
    CHECK_STR(c[0].text, "first");
    CHECK_STR(c[1].text, "second");
    CHECK(u.prompt_tokens == -1);
    http_choices_free(c, 2);
    const char *dup = "{\"choices\":[{\"index\":0,\"text\":\"a\"},{\"index\":0,\"text\":\"b\"}]}";
    CHECK(http_reply_parse(dup, strlen(dup), 2, 0, c, &u, &e) == -1 && strstr(e.msg, "index"));
    CHECK(http_reply_parse(body, strlen(body), 3, 0, c, &u, &e) == -1 && strstr(e.msg, "2 choices for 3 prompts"));
}

static void test_malformed_replies(void) {
    const char *bad[] = {
        "",
        "not json",
        "[]",
        "{}",
        "{\"choices\":{}}",
        "{\"error\":{\"message\":\"model overloaded\"}}",
        "{\"choices\":[1]}",
        "{\"choices\":[{\"text\":3}]}",
        "{\"choices\":[{\"index\":\"0\"}]}",
        "{\"choices\":[{\"index\":5}]}",
        "{\"choices\":[{\"logprobs\":null}]}",
        "{\"choices\":[{\"logprobs\":{\"token_logprobs\":[null,-1]}}]}",
        "{\"choices\":[{\"logprobs\":{\"token_logprobs\":[null,-1],\"top_logprobs\":[null]}}]}",
        "{\"choices\":[{\"logprobs\":{\"token_logprobs\":[null,\"-1\"],\"top_logprobs\":[null,null]}}]}",
        "{\"choices\":[{\"logprobs\":{\"token_logprobs\":[null,-1],\"top_logprobs\":[null,{\"a\":\"x\"}]}}]}",
        "{\"choices\":[{\"logprobs\":{\"token_logprobs\":[null,-1],\"top_logprobs\":[null,[{\"p\":1}]]}}]}",
        "{\"choices\":[{\"logprobs\":{\"token_logprobs\":[null,-1],\"top_logprobs\":[null,7]}}]}",
        "{\"choices\":[{\"logprobs\":{\"token_logprobs\":[-1],\"top_logprobs\":[{}],\"text_offset\":[-3]}}]}",
        "{\"choices\":[{\"logprobs\":{\"token_logprobs\":[-1],\"top_logprobs\":[{}],\"text_offset\":[0,1]}}]}",
        "{\"choices\":[{\"logprobs\":{\"token_logprobs\":[1e999],\"top_logprobs\":[{}]}}]}",
        "{\"choices\":[], \"choices\":[]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        http_choice c;
        cj_err e = {{0}};
        int rc = parse1(bad[i], 1, &c, &e);
        CHECKF(rc == -1 && e.msg[0], "reply %zu accepted: %s", i, bad[i]);
    }
    http_choice c;
    cj_err e;
    CHECK(parse1("{\"error\":{\"message\":\"model overloaded\"}}", 1, &c, &e) == -1 && strstr(e.msg, "overloaded"));
    /* nulls or empty top entries inside the scored tokens */
    const char *holes = "{\"choices\":[{\"logprobs\":{\"token_logprobs\":[null,null,-1],\"top_logprobs\":[null,{},null]}}]}";
    CHECK(parse1(holes, 1, &c, &e) == 0);
    runner_ll_result r;
    CHECK(http_score_ids(&c, 3, 2, &r, &e) == -1 && strstr(e.msg, "token_logprobs[1]"));
    CHECK(http_score_ids(&c, 3, 1, &r, &e) == -1 && strstr(e.msg, "top_logprobs[2]"));
    http_choices_free(&c, 1);
}

static uint64_t rng_next(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Random byte flips, cuts and insertions of a good reply: each is parsed and,
 * when accepted, scored both ways; under ASan any bad read fails the test. */
static void test_mutated_replies_never_crash(void) {
    const char *alphabet = "{}[],:\"0123456789-.enul ";
    size_t n0 = strlen(IDS_REPLY);
    char *buf = malloc(n0 + 64);
    uint64_t s = 0x9e3779b97f4a7c15u;
    int accepted = 0, refused = 0;
    for (int it = 0; it < 20000; it++) {
        memcpy(buf, IDS_REPLY, n0);
        size_t n = n0;
        int edits = 1 + (int)(rng_next(&s) % 4);
        for (int k = 0; k < edits; k++) {
            size_t at = rng_next(&s) % n;
            switch (rng_next(&s) % 4) {
            case 0: buf[at] = alphabet[rng_next(&s) % strlen(alphabet)]; break;
            case 1: n = at; break;
            case 2: memmove(buf + at, buf + at + 1, n - at - 1); n--; break;
            default:
                if (n < n0 + 60) {
                    memmove(buf + at + 1, buf + at, n - at);
                    buf[at] = alphabet[rng_next(&s) % strlen(alphabet)];
                    n++;
                }
            }
            if (n == 0) break;
        }
        http_choice c[2];
        http_usage u;
        cj_err e;
        int np = 1 + (int)(rng_next(&s) % 2);
        if (http_reply_parse(buf, n, np, 1, c, &u, &e) == 0) {
            accepted++;
            runner_ll_result r;
            for (int i = 0; i < np; i++) {
                int np_tok = (int)(rng_next(&s) % 8), nc = (int)(rng_next(&s) % 8);
                if (http_score_ids(&c[i], np_tok, nc, &r, &e) == 0) CHECK(r.n_tokens == nc);
                if (http_score_text(&c[i], (long)(rng_next(&s) % 12), (long)(rng_next(&s) % 6), &r, &e) == 0)
                    CHECK(r.n_tokens >= 0 && r.n_tokens <= c[i].n);
            }
            http_choices_free(c, np);
        } else {
            CHECK(e.msg[0] != 0);
            refused++;
        }
    }
    printf("  mutated replies: %d accepted, %d refused\n", accepted, refused);
    CHECK(accepted > 0 && refused > 0);
    free(buf);
}

static void test_models(void) {
    const char *two = "{\"data\":[{\"id\":\"a\",\"root\":\"/m/a\",\"created\":1},{\"id\":\"b\",\"created\":2}]}";
    char *desc, *id;
    cj_err e;
    CHECK(http_models_find(two, strlen(two), "a", &desc, NULL, &e) == 0);
    CHECK_STR(desc, "{\"id\":\"a\",\"root\":\"/m/a\"}");
    free(desc);
    CHECK(http_models_find(two, strlen(two), "c", &desc, NULL, &e) == -1 && strstr(e.msg, "'a', 'b'"));
    CHECK(http_models_find(two, strlen(two), NULL, &desc, &id, &e) == -1 && strstr(e.msg, "--model-name"));
    const char *one = "{\"data\":[{\"id\":\"only\",\"max_model_len\":4096,\"created\":9}]}";
    CHECK(http_models_find(one, strlen(one), NULL, &desc, &id, &e) == 0);
    CHECK_STR(id, "only");
    CHECK_STR(desc, "{\"id\":\"only\",\"max_model_len\":4096}");
    free(desc);
    free(id);
    CHECK(http_models_find("{\"data\":3}", 10, "a", &desc, NULL, &e) == -1);
    CHECK(http_models_find("<html>", 6, "a", &desc, NULL, &e) == -1 && strstr(e.msg, "not JSON"));
}

int main(void) {
    RUN(test_ids_scores_the_last_tokens);
    RUN(test_text_uses_offsets);
    RUN(test_choices_by_index);
    RUN(test_malformed_replies);
    RUN(test_mutated_replies_never_crash);
    RUN(test_models);
    return check_summary_();
}
