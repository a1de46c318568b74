/* Request bodies of `chaejeom serve` (serve/serve_req.c): the prompt forms
 * and fields lm-eval and OpenAI clients send, and every malformed or mutated
 * body refused with a message naming the field, never a crash (run under
 * ASan by make test); the same for chat completion bodies. */
#include <stdint.h>

#include "../../serve/serve_req.h"
#include "../check.h"

#define VOCAB 512

static int parse(const char *body, serve_req *r, cj_err *e) {
    return serve_parse_completion(body, strlen(body), VOCAB, r, e);
}

static void test_prompt_forms(void) {
    serve_req r;
    cj_err e;
    CHECK(parse("{\"prompt\":\"Once upon\"}", &r, &e) == 0);
    CHECK(r.n_prompts == 1 && !strcmp(r.prompts[0].text, "Once upon") && !r.prompts[0].ids);
    CHECK(r.max_tokens == 16 && r.logprobs == -1 && r.prompt_logprobs == -1 && r.echo == 0 && r.temperature == 1);
    serve_req_free(&r);
    CHECK(parse("{\"prompt\":[1,403,407]}", &r, &e) == 0);
    CHECK(r.n_prompts == 1 && r.prompts[0].n_ids == 3 && r.prompts[0].ids[2] == 407);
    serve_req_free(&r);
    CHECK(parse("{\"prompt\":[[1,2],[3],\"x\"]}", &r, &e) == 0);
    CHECK(r.n_prompts == 3 && r.prompts[0].n_ids == 2 && r.prompts[1].ids[0] == 3 && !strcmp(r.prompts[2].text, "x"));
    serve_req_free(&r);
    CHECK(parse("{\"prompt\":[\"a\",\"b\"]}", &r, &e) == 0 && r.n_prompts == 2);
    serve_req_free(&r);
}

/* What lm-eval's local-completions sends to score, and to generate. */
static void test_lm_eval_bodies(void) {
    serve_req r;
    cj_err e;
    CHECK(parse("{\"model\":\"m\",\"prompt\":[[1,5,6]],\"temperature\":0,\"max_tokens\":1,\"logprobs\":1,"
                "\"seed\":1234,\"echo\":true}",
                &r, &e) == 0);
    CHECK(r.echo == 1 && r.logprobs == 1 && r.max_tokens == 1 && r.temperature == 0 && r.seed == 1234);
    serve_req_free(&r);
    CHECK(parse("{\"prompt\":[\"Q: 2+2?\"],\"max_tokens\":256,\"temperature\":0,\"stop\":[\"Question:\",\"\\n\\n\"],"
                "\"seed\":1234,\"top_p\":0.5,\"prompt_logprobs\":0}",
                &r, &e) == 0);
    CHECK(r.n_stop == 2 && !strcmp(r.stop[1], "\n\n") && r.top_p == 0.5f && r.prompt_logprobs == 0);
    serve_req_free(&r);
    CHECK(parse("{\"prompt\":\"a\",\"stop\":\"x\",\"logprobs\":null,\"n\":1}", &r, &e) == 0);
    CHECK(r.n_stop == 1 && r.logprobs == -1);
    serve_req_free(&r);
}

static void test_malformed_bodies_refused(void) {
    static const struct {
        const char *body, *field;
    } cases[] = {
        {"", "invalid JSON"},
        {"{\"prompt\":", "invalid JSON"},
        {"[1]", "not a JSON object"},
        {"{}", "prompt: missing"},
        {"{\"prompt\":5}", "prompt"},
        {"{\"prompt\":[]}", "prompt"},
        {"{\"prompt\":[[]]}", "prompt[0]: empty"},
        {"{\"prompt\":[[1,\"a\"]]}", "prompt[0][1]"},
        {"{\"prompt\":[[1,512]]}", "outside the vocabulary"},
        {"{\"prompt\":[[-1]]}", "outside the vocabulary"},
        {"{\"prompt\":[[1],{}]}", "prompt[1]"},
        {"{\"prompt\":[1,2.5]}", "prompt[0][1]"},
        {"{\"prompt\":\"a\\u0000b\"}", "invalid JSON"},
        {"{\"prompt\":\"a\",\"max_tokens\":-1}", "max_tokens"},
        {"{\"prompt\":\"a\",\"max_tokens\":1.5}", "max_tokens"},
        {"{\"prompt\":\"a\",\"max_tokens\":99999999999999999999}", "too big integer"},
        {"{\"prompt\":\"a\",\"logprobs\":21}", "logprobs"},
        {"{\"prompt\":\"a\",\"prompt_logprobs\":\"1\"}", "prompt_logprobs"},
        {"{\"prompt\":\"a\",\"temperature\":-1}", "temperature"},
        {"{\"prompt\":\"a\",\"temperature\":\"hot\"}", "temperature"},
        {"{\"prompt\":\"a\",\"top_p\":0}", "top_p"},
        {"{\"prompt\":\"a\",\"top_p\":1.5}", "top_p"},
        {"{\"prompt\":\"a\",\"stop\":[\"\"]}", "stop"},
        {"{\"prompt\":\"a\",\"stop\":[1]}", "stop"},
        {"{\"prompt\":\"a\",\"stop\":[\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\",\"10\",\"11\",\"12\",\"13\","
         "\"14\",\"15\",\"16\",\"17\"]}",
         "stop"},
        {"{\"prompt\":\"a\",\"echo\":1}", "echo"},
        {"{\"prompt\":\"a\",\"n\":2}", "n:"},
        {"{\"prompt\":\"a\",\"seed\":\"x\"}", "seed"},
        {"{\"prompt\":\"a\",\"stream\":\"yes\"}", "stream"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        serve_req r;
        cj_err e = {{0}};
        int rc = parse(cases[i].body, &r, &e);
        CHECKF(rc == -1 && strstr(e.msg, cases[i].field), "%s -> %d '%s'", cases[i].body, rc, e.msg);
        CHECK(r.prompts == NULL && r.stop == NULL); /* nothing left to free */
        if (rc == 0) serve_req_free(&r);
    }
}

/* Parses a mutated body: 1 accepted (and checked), 0 refused with a message. */
typedef int (*parse_fn)(const char *body, size_t len, cj_err *e);

/* Bytes of a good body flipped and cut: each parsed or refused with a message. */
static void mutate_bodies(const char *good, parse_fn parse_one, uint64_t x) {
    size_t n = strlen(good);
    char buf[512];
    int refused = 0, parsed = 0;
    for (int it = 0; it < 20000; it++) {
        memcpy(buf, good, n);
        size_t len = n;
        for (int k = 0; k < 1 + it % 4; k++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            buf[x % n] = (char)(x >> 24);
        }
        if (it % 5 == 0) len = (size_t)(x >> 40) % n;
        cj_err e = {{0}};
        if (parse_one(buf, len, &e)) parsed++;
        else {
            refused++;
            CHECK(e.msg[0] != 0);
        }
    }
    CHECK(parsed > 0 && refused > 0);
}

static int parse_completion_checked(const char *body, size_t len, cj_err *e) {
    serve_req r;
    if (serve_parse_completion(body, len, VOCAB, &r, e)) return 0;
    for (int p = 0; p < r.n_prompts; p++)
        for (int t = 0; t < r.prompts[p].n_ids; t++) CHECK(r.prompts[p].ids[t] >= 0 && r.prompts[p].ids[t] < VOCAB);
    serve_req_free(&r);
    return 1;
}

static void test_mutations_never_crash(void) {
    mutate_bodies("{\"prompt\":[[1,403,407],\"Once\"],\"echo\":true,\"logprobs\":1,\"max_tokens\":1,"
                  "\"temperature\":0,\"stop\":[\"\\n\"],\"seed\":7,\"prompt_logprobs\":1}",
                  parse_completion_checked, 88172645463325252ull);
}

static int tokenize(const char *body, char **text, int *add, cj_err *e) {
    char *messages;
    int rc = serve_parse_tokenize(body, strlen(body), text, &messages, add, e);
    CHECK(!messages); /* the text form */
    free(messages);
    return rc;
}

static void test_tokenize_body(void) {
    char *text;
    int add;
    cj_err e;
    CHECK(tokenize("{\"prompt\":\"hi\",\"add_special_tokens\":false}", &text, &add, &e) == 0);
    CHECK(text && !strcmp(text, "hi") && add == 0);
    free(text);
    CHECK(tokenize("{\"prompt\":[1]}", &text, &add, &e) == -1 && strstr(e.msg, "prompt") && !text);
    CHECK(tokenize("{\"prompt\":\"a\",\"add_special_tokens\":3}", &text, &add, &e) == -1 && !text);
}

/* vLLM's chat form: the messages as /v1/chat/completions reads them, no BOS, the generation prompt. */
static void test_tokenize_messages(void) {
    char *text, *msgs;
    int add;
    cj_err e;
    const char *good = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\","
                       "\"text\":\"a\"},{\"type\":\"text\",\"text\":\"b\"}]}],\"add_generation_prompt\":true,"
                       "\"add_special_tokens\":false}";
    CHECK(serve_parse_tokenize(good, strlen(good), &text, &msgs, &add, &e) == 0);
    CHECK(!text && msgs && !strcmp(msgs, "[{\"role\":\"user\",\"content\":\"a\\nb\"}]") && add == 0);
    free(msgs);
    const char *bare = "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}";
    CHECK(serve_parse_tokenize(bare, strlen(bare), &text, &msgs, &add, &e) == 0 && msgs && !text && add == 0);
    free(msgs);
    static const struct {
        const char *body, *field;
    } bad[] = {
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"add_generation_prompt\":false}", "add_generation_prompt"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"add_special_tokens\":true}", "add_special_tokens"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"add_special_tokens\":1}", "add_special_tokens"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"prompt\":\"x\"}", "one or the other"},
        {"{\"messages\":[]}", "messages"},
        {"{\"messages\":[{\"content\":\"x\"}]}", "messages[0]"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":7}]}", "messages[0].content"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        e.msg[0] = 0;
        int rc = serve_parse_tokenize(bad[i].body, strlen(bad[i].body), &text, &msgs, &add, &e);
        CHECKF(rc == -1 && strstr(e.msg, bad[i].field) && !text && !msgs, "%s -> %d '%s'", bad[i].body, rc, e.msg);
    }
}

static int parse_tokenize_checked(const char *body, size_t len, cj_err *e) {
    char *text, *msgs;
    int add;
    if (serve_parse_tokenize(body, len, &text, &msgs, &add, e)) {
        CHECK(!text && !msgs);
        return 0;
    }
    CHECK(!text != !msgs && (!msgs || (msgs[0] == '[' && add == 0)));
    free(text);
    free(msgs);
    return 1;
}

static void test_tokenize_mutations_never_crash(void) {
    mutate_bodies("{\"messages\":[{\"role\":\"system\",\"content\":\"s\"},{\"role\":\"user\",\"content\":"
                  "[{\"type\":\"text\",\"text\":\"q\"}]}],\"add_generation_prompt\":true,\"add_special_tokens\":false}",
                  parse_tokenize_checked, 0x2545f4914f6cdd1dull);
}

static void test_detokenize_body(void) {
    int *ids, n;
    cj_err e;
    const char *good = "{\"tokens\":[1,403,511]}";
    CHECK(serve_parse_detokenize(good, strlen(good), VOCAB, &ids, &n, &e) == 0 && n == 3 && ids[2] == 511);
    free(ids);
    const char *empty = "{\"tokens\":[]}";
    CHECK(serve_parse_detokenize(empty, strlen(empty), VOCAB, &ids, &n, &e) == 0 && n == 0 && !ids);
    static const char *bad[] = {"{}", "{\"tokens\":3}", "{\"tokens\":[1,512]}", "{\"tokens\":[-1]}",
                                "{\"tokens\":[1,\"a\"]}", "[]", "{\"tokens\":[1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        e.msg[0] = 0;
        int rc = serve_parse_detokenize(bad[i], strlen(bad[i]), VOCAB, &ids, &n, &e);
        CHECKF(rc == -1 && e.msg[0] && !ids && n == 0, "%s -> %d '%s'", bad[i], rc, e.msg);
    }
}

static int chat(const char *body, serve_req *r, cj_err *e) { return serve_parse_chat(body, strlen(body), r, e); }

/* What lm-eval's local-chat-completions and OpenAI clients send. */
static void test_chat_bodies(void) {
    serve_req r;
    cj_err e;
    CHECK(chat("{\"model\":\"m\",\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\",\"type\":\"text\"},"
               "{\"role\":\"user\",\"content\":\"Q: 2+2?\"}],\"max_tokens\":64,\"temperature\":0,"
               "\"stop\":[\"Question:\",\"</s>\"],\"seed\":1234}",
               &r, &e) == 0);
    CHECK(r.max_tokens == 64 && r.temperature == 0 && r.n_stop == 2 && r.seed == 1234 && !r.stream);
    CHECK(strstr(r.messages, "\"content\":\"Q: 2+2?\"") && strstr(r.messages, "\"role\":\"system\""));
    serve_req_free(&r);
    /* content parts joined with newlines, null content as "", defaults, stream options */
    CHECK(chat("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\"},"
               "{\"type\":\"text\",\"text\":\"b\"}]},{\"role\":\"assistant\",\"content\":null}],"
               "\"stream\":true,\"stream_options\":{\"include_usage\":true},\"max_completion_tokens\":5}",
               &r, &e) == 0);
    CHECK(strstr(r.messages, "\"content\":\"a\\nb\"") && strstr(r.messages, "\"content\":\"\""));
    CHECK(r.stream == 1 && r.include_usage == 1 && r.max_tokens == 5 && r.temperature == 1);
    serve_req_free(&r);
    CHECK(chat("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", &r, &e) == 0 && r.max_tokens == -1);
    serve_req_free(&r);
    CHECK(chat("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"logprobs\":true,\"top_logprobs\":3}", &r, &e) == 0 &&
          r.logprobs == 3);
    serve_req_free(&r);
    CHECK(chat("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"logprobs\":false}", &r, &e) == 0 && r.logprobs == -1);
    serve_req_free(&r);
    static const struct {
        const char *body, *field;
    } bad[] = {
        {"{}", "messages"},
        {"{\"messages\":[]}", "messages"},
        {"{\"messages\":\"hi\"}", "messages"},
        {"{\"messages\":[3]}", "messages[0]"},
        {"{\"messages\":[{\"content\":\"x\"}]}", "role"},
        {"{\"messages\":[{\"role\":1,\"content\":\"x\"}]}", "role"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":5}]}", "content"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\"}]}]}", "content[0]"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"logprobs\":1}", "logprobs"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"top_logprobs\":2}", "top_logprobs"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"logprobs\":true,\"top_logprobs\":21}", "top_logprobs"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"n\":3}", "n"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stream\":1}", "stream"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stream_options\":2}", "stream_options"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":-2}", "max_tokens"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stop\":[\"\"]}", "stop"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"top_p\":0}", "top_p"},
        {"[1]", "not a JSON object"},
        {"{\"messages\":", "invalid JSON"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        e.msg[0] = 0;
        int rc = chat(bad[i].body, &r, &e);
        CHECKF(rc == -1 && strstr(e.msg, bad[i].field) && !r.messages, "%s -> %d '%s'", bad[i].body, rc, e.msg);
    }
}

static int parse_chat_checked(const char *body, size_t len, cj_err *e) {
    serve_req r;
    if (serve_parse_chat(body, len, &r, e)) return 0;
    CHECK(r.messages && r.messages[0] == '[');
    serve_req_free(&r);
    return 1;
}

static void test_chat_mutations_never_crash(void) {
    mutate_bodies("{\"messages\":[{\"role\":\"system\",\"content\":\"s\"},{\"role\":\"user\",\"content\":"
                  "[{\"type\":\"text\",\"text\":\"q\"}]}],\"max_tokens\":9,\"stop\":[\"\\n\"],\"stream\":true}",
                  parse_chat_checked, 0x853c49e6748fea9bull);
}

int main(void) {
    RUN(test_prompt_forms);
    RUN(test_lm_eval_bodies);
    RUN(test_malformed_bodies_refused);
    RUN(test_mutations_never_crash);
    RUN(test_tokenize_body);
    RUN(test_tokenize_messages);
    RUN(test_tokenize_mutations_never_crash);
    RUN(test_detokenize_body);
    RUN(test_chat_bodies);
    RUN(test_chat_mutations_never_crash);
    return check_summary_();
}
