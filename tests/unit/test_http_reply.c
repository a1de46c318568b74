/* Reading OpenAI-compatible replies (runners/http/http_reply.c): scores from
 * echoed log-probs, and every malformed or mutated reply refused with a
 * message, never a crash (run under ASan by make test); chat replies; the
 * server-sent events of streamed replies, whole, cut, mangled or mutated. */
#include <stdint.h>

#include "../../runners/http/http_reply.h"
#include "../../runners/http/http_sse.h"
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

/* llama-cpp-python's offsets count a leading dummy-prefix space: read one byte ahead. */
static void test_text_offsets_with_a_lead(void) {
    const char *lead = "{\"choices\":[{\"logprobs\":{\"tokens\":[\" \",\"Q\",\":\",\" A\",\"x\"],"
                       "\"token_logprobs\":[null,-1,-2,-0.5,-4],\"top_logprobs\":[null,{\"Q\":-1},{\":\":-2},"
                       "{\" A\":-0.5},{\"x\":-4}],\"text_offset\":[0,1,2,3,5]}}]}";
    http_choice c;
    cj_err e;
    CHECK(parse1(lead, 1, &c, &e) == 0);
    runner_ll_result r;
    /* the prompt "Q: A" (4 bytes), context "Q:" (2): the continuation is " A" alone */
    CHECK(http_score_text(&c, 4, 2, &r, &e) == 0 && r.n_tokens == 1 && r.logprob == -0.5);
    /* rolling: Q, :, A (the dummy space has no log-prob) */
    CHECK(http_score_text(&c, 4, 0, &r, &e) == 0 && r.n_tokens == 3 && r.logprob == -3.5);
    http_choices_free(&c, 1);
}

/* llama-cpp-python echoes no generated token when it samples EOS for
 * max_tokens 1: the lead comes from the last token's end against the echoed
 * text, not from a generated token's offset (which would cut the
 * continuation one token early: ":" in, " A" out of reach). */
static void test_text_lead_without_a_generated_token(void) {
    const char *eos = "{\"choices\":[{\"text\":\"Q: A\",\"finish_reason\":\"stop\",\"logprobs\":{"
                      "\"tokens\":[\" \",\"Q\",\":\",\" A\"],\"token_logprobs\":[null,-1,-2,-0.5],"
                      "\"top_logprobs\":[null,{\"Q\":-1},{\":\":-2},{\" A\":-0.5}],\"text_offset\":[0,1,2,3]}}]}";
    http_choice c;
    cj_err e;
    CHECK(parse1(eos, 1, &c, &e) == 0 && c.last_end == 5);
    runner_ll_result r;
    CHECK(http_score_text(&c, 4, 2, &r, &e) == 0 && r.n_tokens == 1 && r.logprob == -0.5);
    CHECK(http_score_text(&c, 4, 0, &r, &e) == 0 && r.n_tokens == 3 && r.logprob == -3.5);
    http_choices_free(&c, 1);
    /* no token texts: the generated-token rule, as before */
    const char *bare = "{\"choices\":[{\"text\":\"Q: Ax\",\"logprobs\":{\"token_logprobs\":[null,-1,-2,-0.5,-4],"
                       "\"top_logprobs\":[null,{\"Q\":-1},{\":\":-2},{\" A\":-0.5},{\"x\":-4}],"
                       "\"text_offset\":[0,1,2,3,5]}}]}";
    CHECK(parse1(bare, 1, &c, &e) == 0 && c.last_end == -1);
    CHECK(http_score_text(&c, 4, 2, &r, &e) == 0 && r.n_tokens == 1 && r.logprob == -0.5);
    http_choices_free(&c, 1);
    /* vLLM: offsets from 0, the generated token at the prompt's end: no lead */
    const char *vllm = "{\"choices\":[{\"text\":\"Q: Ax\",\"logprobs\":{\"tokens\":[\"Q\",\":\",\" A\",\"x\"],"
                       "\"token_logprobs\":[null,-2,-0.5,-4],\"top_logprobs\":[null,{\":\":-2},{\" A\":-0.5},{\"x\":-4}],"
                       "\"text_offset\":[0,1,2,4]}}]}";
    CHECK(parse1(vllm, 1, &c, &e) == 0 && c.last_end == 5);
    CHECK(http_score_text(&c, 4, 2, &r, &e) == 0 && r.n_tokens == 1 && r.logprob == -0.5);
    http_choices_free(&c, 1);
}

/* A token of the server's starting where the context ends, or none (one
 * spans it: the continuation cannot be lm-eval's). */
static void test_text_boundary_spanned(void) {
    const char *eos = "{\"choices\":[{\"text\":\"Q: A\",\"logprobs\":{"
                      "\"tokens\":[\" \",\"Q\",\":\",\" A\"],\"token_logprobs\":[null,-1,-2,-0.5],"
                      "\"top_logprobs\":[null,{\"Q\":-1},{\":\":-2},{\" A\":-0.5}],\"text_offset\":[0,1,2,3]}}]}";
    const char *glued = "{\"choices\":[{\"text\":\"Q: A\",\"logprobs\":{"
                        "\"tokens\":[\" \",\"Q\",\": \",\"A\"],\"token_logprobs\":[null,-1,-2,-0.5],"
                        "\"top_logprobs\":[null,{\"Q\":-1},{\": \":-2},{\"A\":-0.5}],\"text_offset\":[0,1,2,4]}}]}";
    http_choice c;
    cj_err e;
    CHECK(parse1(eos, 1, &c, &e) == 0);
    CHECK(http_text_boundary_spanned(&c, 4, 2) == 0); /* " A" starts at the context's end */
    CHECK(http_text_boundary_spanned(&c, 4, 1) == 0); /* so does ":" */
    CHECK(http_text_boundary_spanned(&c, 4, 0) == 0); /* a rolling text has no boundary */
    http_choices_free(&c, 1);
    CHECK(parse1(glued, 1, &c, &e) == 0);
    CHECK(http_text_boundary_spanned(&c, 4, 2) == 1); /* context "Q:", continuation " A": ": " spans it */
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

/* 1 to 4 random byte flips, cuts, deletions or insertions of src into buf
 * (room for strlen(src) + 64); returns the new length. */
static size_t mutate(char *buf, const char *src, uint64_t *s) {
    const char *alphabet = "{}[],:\"0123456789-.enul \n\rdta[DONE]";
    size_t n0 = strlen(src), n = n0;
    memcpy(buf, src, n0);
    int edits = 1 + (int)(rng_next(s) % 4);
    for (int k = 0; k < edits && n > 0; k++) {
        size_t at = rng_next(s) % n;
        switch (rng_next(s) % 4) {
        case 0: buf[at] = alphabet[rng_next(s) % strlen(alphabet)]; break;
        case 1: n = at; break;
        case 2: memmove(buf + at, buf + at + 1, n - at - 1); n--; break;
        default:
            if (n < n0 + 60) {
                memmove(buf + at + 1, buf + at, n - at);
                buf[at] = alphabet[rng_next(s) % strlen(alphabet)];
                n++;
            }
        }
    }
    return n;
}

/* Random byte flips, cuts and insertions of a good reply: each is parsed and,
 * when accepted, scored both ways; under ASan any bad read fails the test. */
static void test_mutated_replies_never_crash(void) {
    char *buf = malloc(strlen(IDS_REPLY) + 64);
    uint64_t s = 0x9e3779b97f4a7c15u;
    int accepted = 0, refused = 0;
    for (int it = 0; it < 20000; it++) {
        size_t n = mutate(buf, IDS_REPLY, &s);
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

static void test_chat_reply(void) {
    const char *ok = "{\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"Hi 안녕\"},"
                     "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":3}}";
    http_choice c;
    http_usage u;
    cj_err e;
    CHECK(http_reply_parse_chat(ok, strlen(ok), &c, &u, &e) == 0);
    CHECK_STR(c.text, "Hi 안녕");
    CHECK_STR(c.finish, "stop");
    CHECK(u.prompt_tokens == 7 && u.completion_tokens == 3);
    http_choices_free(&c, 1);
    const char *refusal = "{\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":null}}]}";
    CHECK(http_reply_parse_chat(refusal, strlen(refusal), &c, &u, &e) == 0 && c.text[0] == 0);
    http_choices_free(&c, 1);
    const char *bad[] = {"{\"choices\":[{\"message\":3}]}", "{\"choices\":[{\"message\":{\"content\":[1]}}]}",
                         "{\"choices\":[]}", "{\"choices\":[1]}", "{\"error\":\"busy\"}", "[]", ""};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        e.msg[0] = 0;
        CHECKF(http_reply_parse_chat(bad[i], strlen(bad[i]), &c, &u, &e) == -1 && e.msg[0], "chat reply %zu accepted", i);
    }
}

/* A streamed completion as vLLM sends it, CRLF line ends, a comment and an
 * event split over two data lines included. */
static const char *SSE_OK =
    ": keep-alive\r\n\r\n"
    "data: {\"choices\":[{\"index\":0,\"text\":\" Once\",\"finish_reason\":null}]}\r\n\r\n"
    "event: message\ndata: {\"choices\":[{\"index\":0,\n"
    "data: \"text\":\" upon\",\"finish_reason\":\"length\"}]}\n\n"
    "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":2}}\n\n"
    "data: [DONE]\n\n"
    "data: {\"ignored\": after done}\n\n";

static void test_sse_parse(void) {
    http_sse_reply r;
    cj_err e;
    CHECK(http_sse_parse(SSE_OK, strlen(SSE_OK), 0, &r, &e) == 0);
    CHECK_STR(r.text, " Once upon");
    CHECK_STR(r.finish, "length");
    CHECK(r.usage.prompt_tokens == 4 && r.usage.completion_tokens == 2 && r.chunks == 3);
    http_sse_reply_free(&r);
    const char *chat = "data:{\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\r"
                       "\rdata: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\n"
                       "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]";
    CHECK(http_sse_parse(chat, strlen(chat), 1, &r, &e) == 0);
    CHECK_STR(r.text, "Hi");
    CHECK_STR(r.finish, "stop");
    http_sse_reply_free(&r);
    static const struct {
        const char *body, *why;
    } bad[] = {
        {"", "without"},
        {"data: {\"choices\":[{\"text\":\"a\"}]}\n\n", "without"},
        {"data: {\"choices\":[{\"text\":\"a\"", "not a JSON object"},
        {"data: not json\n\ndata: [DONE]\n\n", "not a JSON object"},
        {"data: [1]\n\ndata: [DONE]\n\n", "not a JSON object"},
        {"data: {\"choices\":{}}\n\ndata: [DONE]\n\n", "not an array"},
        {"data: {\"choices\":[{\"index\":1,\"text\":\"a\"}]}\n\ndata: [DONE]\n\n", "index"},
        {"data: {\"choices\":[{\"text\":5}]}\n\ndata: [DONE]\n\n", "not a string"},
        {"data: {\"choices\":[7]}\n\ndata: [DONE]\n\n", "not an object"},
        {"data: {\"error\":{\"message\":\"out of memory\"}}\n\n", "out of memory"},
        {"<html>502 Bad Gateway</html>", "without"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        e.msg[0] = 0;
        int rc = http_sse_parse(bad[i].body, strlen(bad[i].body), 0, &r, &e);
        CHECKF(rc == -1 && strstr(e.msg, bad[i].why), "stream %zu: rc %d, '%s'", i, rc, e.msg);
        http_sse_reply_free(&r);
    }
}

/* The first text found as the body grows a byte at a time, never before
 * its line is complete, and never on a chunk without text. */
static void test_sse_first_text(void) {
    size_t scan = 0, n = strlen(SSE_OK), found = 0;
    for (size_t len = 0; len <= n && !found; len++)
        if (http_sse_first_text(SSE_OK, len, &scan)) found = len;
    const char *line_end = strstr(SSE_OK, "null}]}\r\n") + 8;
    CHECK(found == (size_t)(line_end - SSE_OK));
    const char *empty = "data: {\"choices\":[{\"delta\":{\"content\":\"\"}}]}\n\ndata: [DONE]\n\n";
    scan = 0;
    CHECK(http_sse_first_text(empty, strlen(empty), &scan) == 0 && scan == strlen(empty));
}

static void test_sse_mutations_never_crash(void) {
    char *buf = malloc(strlen(SSE_OK) + 64);
    uint64_t s = 0x2545f4914f6cdd1du;
    int accepted = 0, refused = 0;
    for (int it = 0; it < 20000; it++) {
        size_t n = mutate(buf, SSE_OK, &s), scan = 0;
        http_sse_reply r;
        cj_err e = {{0}};
        (void)http_sse_first_text(buf, n, &scan);
        CHECK(scan <= n);
        if (http_sse_parse(buf, n, (int)(it & 1), &r, &e) == 0) accepted++;
        else {
            CHECK(e.msg[0] != 0);
            refused++;
        }
        CHECK(r.text != NULL);
        http_sse_reply_free(&r);
    }
    printf("  mutated streams: %d accepted, %d refused\n", accepted, refused);
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
    RUN(test_text_offsets_with_a_lead);
    RUN(test_text_lead_without_a_generated_token);
    RUN(test_text_boundary_spanned);
    RUN(test_choices_by_index);
    RUN(test_malformed_replies);
    RUN(test_mutated_replies_never_crash);
    RUN(test_models);
    RUN(test_chat_reply);
    RUN(test_sse_parse);
    RUN(test_sse_first_text);
    RUN(test_sse_mutations_never_crash);
    return check_summary_();
}
