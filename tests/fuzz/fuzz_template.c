/* libFuzzer target: the template engine (tpl_compile, then tpl_eval and
 * tpl_render against a fixed doc that holds every JSON type, nested lists
 * and objects, Korean text and HellaSwag-style markup; then the same source
 * as a chat template, tpl_compile_chat and tpl_render_chat over the same
 * doc). The input is the template source, up to its first NUL.
 *
 * Invariants beyond "no crash, no leak": rendering succeeds exactly when
 * evaluating gives a value that renders as text, and then gives that text. */
#include "../../tasks/template.h"
#include "fuzz_util.h"

static json_t *doc;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    json_error_t je;
    doc = json_loads(
        "{\"question\": \"  What is 2 + 2?\\n\", \"choices\": {\"text\": [\"3\", \"4\", \"five\"], \"label\": "
        "[\"A\", \"B\", \"C\"]}, \"answer\": \"B\", \"label\": \"2\", \"gold\": 1, \"neg\": -3, \"big\": "
        "9223372036854775807, \"real\": 0.5, \"flag\": true, \"off\": false, \"none\": null, \"ko\": "
        "\"\\u3000\\uc9c8\\ubb38\\u00a0 \", \"query\": \"Roof shingle removal: [title] A man is on a roof. "
        "[header] He  removes [step] shingles.\", \"endings\": [\"a [x]\", \"  b\"], \"mc2_targets\": "
        "{\"yes\": 1, \"no\": 0}, \"nested\": {\"list\": [{\"k\": \"v\"}, {\"k\": \"w\"}], \"empty\": [], "
        "\"obj\": {}}, \"option1\": \"Sarah\", \"option2\": \"Maria\", \"sentence\": \"_ went home.\"}",
        0, &je);
    if (!doc) abort();
    return 0;
}

/* The source as a chat template: no crash, an error always has a message. */
static void chat_pass(const char *src) {
    tpl *t = NULL;
    cj_err e;
    int rc = tpl_compile_chat(src, &t, &e);
    fz_check_err(rc, &e);
    if (rc != 0) return;
    sb out;
    sb_init(&out);
    fz_check_err(tpl_render_chat(t, doc, "2024-07-26", &out, &e), &e);
    sb_free(&out);
    tpl_free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *src = cj_xstrndup((const char *)data, size);
    tpl *t = NULL;
    cj_err e;
    chat_pass(src);
    int rc = tpl_compile(src, &t, &e);
    fz_check_err(rc, &e);
    free(src);
    if (rc != 0) {
        if (t) __builtin_trap();
        return 0;
    }
    (void)tpl_is_expr(t);
    json_t *v = NULL;
    int erc = tpl_eval(t, doc, &v, &e);
    fz_check_err(erc, &e);
    sb text, want;
    sb_init(&text);
    sb_init(&want);
    int rrc = tpl_render(t, doc, &text, &e);
    fz_check_err(rrc, &e);
    int vrc = erc == 0 ? tpl_value_text(v, &want, &e) : -1;
    if ((rrc == 0) != (vrc == 0)) __builtin_trap();
    if (rrc == 0 && (text.len != want.len || memcmp(text.s, want.s, text.len) != 0)) __builtin_trap();
    sb_free(&text);
    sb_free(&want);
    json_decref(v);
    tpl_free(t);
    return 0;
}
