/* Chat templates against transformers' apply_chat_template: every rendering
 * of <golden>/chat/templates.json (real templates x conversations, with and
 * without the generation prompt) byte for byte, and every expected error
 * (raise_exception and jinja2's own) with its exact message; the Jinja
 * features one by one against jinja2 (tests/golden/chat-features.json);
 * the limits jinja2 does not have. The golden missing is a visible SKIP. */
#include "../../common/err.h"
#include "../../common/fileio.h"
#include "../../common/sb.h"
#include "../../tasks/template.h"
#include "../check.h"

#define FEATURES "tests/golden/chat-features.json"

/* Renders src as a chat template over vars; NULL on error. */
static char *chat(const char *src, const json_t *vars, cj_err *e) {
    tpl *t;
    if (tpl_compile_chat(src, &t, e)) return NULL;
    sb b;
    sb_init(&b);
    int rc = tpl_render_chat(t, vars, "2024-07-26", &b, e);
    tpl_free(t);
    if (rc) {
        sb_free(&b);
        return NULL;
    }
    return sb_take(&b);
}

/* Renders src over vars; expects the text want, or (want_err) that error. */
static int check_chat(const char *src, const json_t *vars, const char *want, const char *want_err, const char *what) {
    cj_err e = {{0}};
    char *got = chat(src, vars, &e);
    const char *shown = got ? got : e.msg, *expected = want ? want : want_err;
    int ok = (got != NULL) == (want != NULL) && expected && !strcmp(shown, expected);
    if (!ok) printf("  %s: %s\n    got %s \"%s\", expected \"%s\"\n", what, src, got ? "text" : "error", shown, expected);
    free(got);
    return ok;
}

/* One Jinja feature per case, as jinja2 renders it
 * (tests/golden/gen_chat_features.py). */
static void test_features(void) {
    json_error_t je;
    json_t *cases = json_load_file(FEATURES, 0, &je);
    CHECKF(json_array_size(cases) >= 40, "%s: %s", FEATURES, je.text);
    for (size_t i = 0; i < json_array_size(cases); i++) {
        json_t *c = json_array_get(cases, i);
        char what[32];
        snprintf(what, sizeof what, "case %zu", i);
        if (!check_chat(json_string_value(json_object_get(c, "template")), json_object_get(c, "vars"),
                        json_string_value(json_object_get(c, "output")), json_string_value(json_object_get(c, "error")), what))
            check_cur_failed_++;
    }
    json_decref(cases);
}

/* What jinja2 has no limit for and we do, and what it has not. */
static void test_limits(void) {
    json_t *none = json_object();
    CHECK(check_chat("{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}", none, NULL, "macro calls nested more than 64 deep", "recursion"));
    CHECK(check_chat("{% for i in range(100000000) %}{% endfor %}", none, NULL, "range: more than 1048576 items", "range"));
    CHECK(check_chat("{% for i in range(1000000) %}{% for j in range(1000000) %}{% endfor %}{% endfor %}", none, NULL,
                     "the template does more than 128 MiB of work on this doc", "loops"));
    CHECK(check_chat("{{ strftime_now('%Y') }}", none, "2024", NULL, "strftime"));
    CHECK(check_chat("{{ raise_exception('') }}", none, NULL, "the template raised an error with an empty message", "raise"));
    CHECK(check_chat("{{ raise_exception() }}", none, NULL, "raise_exception() takes one message, got 0 arguments", "raise"));
    /* transformers' own tag, which jinja2 alone does not know */
    CHECK(check_chat("a{% generation %}b{{ 1 }}{% endgeneration %}c", none, "ab1c", NULL, "generation"));
    json_decref(none);
    cj_err e = {{0}};
    tpl *t;
    CHECK(tpl_compile_chat("{% if x %}", &t, &e) == -1 && strstr(e.msg, "endif"));
    CHECK(tpl_compile_chat("{% frob %}", &t, &e) == -1 && strstr(e.msg, "unknown tag 'frob'"));
    CHECK(tpl_compile_chat("{{ x is frob }}", &t, &e) == -1 && strstr(e.msg, "unknown template test"));
    CHECK(tpl_compile_chat("{{ 'open }}", &t, &e) == -1 && strstr(e.msg, "unterminated string"));
    CHECK(tpl_compile_chat("{# open", &t, &e) == -1 && strstr(e.msg, "unclosed comment"));
}

/* One golden case; returns 1 if it matched. */
static int golden_case(const tpl *t, const json_t *tp, const json_t *cs, const char *name, int idx) {
    json_t *vars = json_pack("{sOsOsOsOsnsn}", "messages", json_object_get(cs, "messages"), "add_generation_prompt",
                             json_object_get(cs, "add_generation_prompt"), "bos_token", json_object_get(tp, "bos_token"),
                             "eos_token", json_object_get(tp, "eos_token"), "tools", "documents");
    sb b;
    sb_init(&b);
    cj_err e = {{0}};
    int rc = tpl_render_chat(t, vars, "2024-07-26", &b, &e);
    const char *want = json_string_value(json_object_get(cs, "output"));
    const char *want_err = json_string_value(json_object_get(cs, "error"));
    int ok = want ? rc == 0 && b.len == strlen(want) && !memcmp(b.s ? b.s : "", want, b.len)
                  : rc != 0 && want_err && !strcmp(e.msg, want_err);
    if (!ok)
        printf("  %s case %d: got %s \"%.300s\"\n  expected \"%.300s\"\n", name, idx, rc ? "error" : "text",
               rc ? e.msg : b.s ? b.s : "", want ? want : want_err);
    sb_free(&b);
    json_decref(vars);
    return ok;
}

static void test_golden(void) {
    char *path = cj_golden_path("chat/templates.json");
    json_error_t je;
    json_t *g = cj_is_file(path) ? json_load_file(path, 0, &je) : NULL;
    if (!g) {
        printf("SKIP test_golden: %s is missing\n", path);
        free(path);
        return;
    }
    json_t *tps = json_object_get(g, "templates");
    int n = 0, good = 0, n_err = 0;
    for (size_t i = 0; i < json_array_size(tps); i++) {
        json_t *tp = json_array_get(tps, i), *cases = json_object_get(tp, "cases");
        const char *name = json_string_value(json_object_get(tp, "name"));
        tpl *t;
        cj_err e = {{0}};
        if (tpl_compile_chat(json_string_value(json_object_get(tp, "template")), &t, &e)) {
            printf("  %s: %s\n", name, e.msg);
            n += (int)json_array_size(cases);
            continue;
        }
        for (size_t k = 0; k < json_array_size(cases); k++) {
            n_err += json_object_get(json_array_get(cases, k), "error") != NULL;
            good += golden_case(t, tp, json_array_get(cases, k), name, (int)k);
            n++;
        }
        tpl_free(t);
    }
    printf("  chat golden: %d of %d renderings match (%d expected errors) over %zu templates\n", good, n, n_err,
           json_array_size(tps));
    CHECK(n >= 280);
    CHECK(good == n);
    json_decref(g);
    free(path);
}

int main(void) {
    RUN(test_features);
    RUN(test_limits);
    RUN(test_golden);
    return check_summary_();
}
