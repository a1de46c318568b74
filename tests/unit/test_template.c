/* The task template language: syntax, every function, values, errors. */
#include "../../common/err.h"
#include "../../common/sb.h"
#include "../../tasks/template.h"
#include "../check.h"

static json_t *DOC;

/* Renders src against DOC; returns a malloc'd string or NULL (message in *e). */
static char *render(const char *src, cj_err *e) {
    tpl *t;
    if (tpl_compile(src, &t, e)) return NULL;
    sb b;
    sb_init(&b);
    int rc = tpl_render(t, DOC, &b, e);
    tpl_free(t);
    if (rc) {
        sb_free(&b);
        return NULL;
    }
    return sb_take(&b);
}

#define CHECK_RENDER(src, want)                                                                                        \
    do {                                                                                                               \
        cj_err e_ = {{0}};                                                                                             \
        char *got_ = render(src, &e_);                                                                                 \
        CHECKF(got_ != NULL, "%s: %s", src, e_.msg);                                                                   \
        if (got_) CHECK_STR(got_, want);                                                                               \
        free(got_);                                                                                                    \
    } while (0)

/* The template fails (at compile or evaluation) with a message holding want. */
#define CHECK_FAILS(src, want)                                                                                         \
    do {                                                                                                               \
        cj_err e_ = {{0}};                                                                                             \
        char *got_ = render(src, &e_);                                                                                 \
        CHECKF(got_ == NULL, "%s rendered \"%s\"", src, got_ ? got_ : "");                                            \
        CHECKF(strstr(e_.msg, want) != NULL, "%s: message \"%s\" lacks \"%s\"", src, e_.msg, want);                    \
        free(got_);                                                                                                    \
    } while (0)

/* Evaluates a single-expression template and compares its JSON. */
static void check_value(const char *src, const char *want_json) {
    tpl *t;
    cj_err e = {{0}};
    json_t *v = NULL;
    CHECKF(tpl_compile(src, &t, &e) == 0, "%s: %s", src, e.msg);
    if (!t) return;
    CHECK(tpl_is_expr(t));
    CHECKF(tpl_eval(t, DOC, &v, &e) == 0, "%s: %s", src, e.msg);
    if (v) {
        char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        CHECKF(!strcmp(s, want_json), "%s = %s, expected %s", src, s, want_json);
        free(s);
    }
    json_decref(v);
    tpl_free(t);
}

static void test_fields_and_text(void) {
    CHECK_RENDER("", "");
    CHECK_RENDER("plain text, no braces } {", "plain text, no braces } {");
    CHECK_RENDER("Q: {{question}}\nA:", "Q:  What is 2+2? \nA:");
    CHECK_RENDER("{{ question.strip() }}|{{question|strip}}", "What is 2+2?|What is 2+2?");
    CHECK_RENDER("{{q.choices[0].text}}/{{q.choices[-1].label}}", "three/B");
    CHECK_RENDER("{{q['choices'][1]['text']}}", "four");
    CHECK_RENDER("{{ '{{' }}x{{ \"}}\" }}", "{{x}}");
    CHECK_RENDER("{{'a\\nb\\t\\'\\\"\\\\'}}", "a\nb\t'\"\\");
    CHECK_RENDER("{{n}} {{-3}} {{flag}} {{ratio}} {{whole}}", "42 -3 True 0.25 3.0");
    CHECK_RENDER("{{['A', 'B', 'C', 'D'][n - 40]}}", "C");
    CHECK_RENDER("{{answer|int - 1}}", "3");
    CHECK_RENDER("{{(n + 8) - (2 - 1)}}", "49");
    CHECK_RENDER("{{'x' + question|strip + 'y'}}", "xWhat is 2+2?y");
    CHECK_RENDER("이 {{ko}}：", "이 정답은：");
}

static void test_values(void) {
    check_value("{{q.choices|map('text')}}", "[\"three\",\"four\"]");
    check_value("{{q.choices|map('label')|index(answerKey)}}", "1");
    check_value("{{targets|keys}}", "[\"yes\",\"no\",\"maybe\"]");
    check_value("{{targets|values}}", "[1,0,0]");
    check_value("{{['A', 'B',]}}", "[\"A\",\"B\"]");
    check_value("{{[' a ', 'b  ']|strip}}", "[\"a\",\"b\"]");
    check_value("{{['x'] + ['y']}}", "[\"x\",\"y\"]");
    check_value("{{n}}", "42");
    check_value("{{'7'|int}}", "7");
    check_value("{{' -12\\n'|int}}", "-12");
    check_value("{{n|str}}", "\"42\"");
    check_value("{{ko|len}}", "3");
    check_value("{{q.choices|len}}", "2");
    check_value("{{'a b  c'|split}}", "[\"a\",\"b\",\"c\"]");
    check_value("{{'a,b,,c'|split(',')}}", "[\"a\",\"b\",\"\",\"c\"]");
    check_value("{{['a', 'b']|join(', ')}}", "\"a, b\"");
    /* a template with text around an expression is a string */
    tpl *t;
    cj_err e;
    CHECK(tpl_compile("[{{n}}]", &t, &e) == 0);
    CHECK(!tpl_is_expr(t));
    tpl_free(t);
}

static void test_string_functions(void) {
    CHECK_RENDER("[{{'\\t x y \\n'|strip}}]", "[x y]");
    CHECK_RENDER("[{{'  x  '|lstrip}}][{{'  x  '|rstrip}}]", "[x  ][  x]");
    CHECK_RENDER("[{{nbsp|strip}}]", "[x]"); /* U+3000, U+00A0, U+2003 are whitespace to Python */
    CHECK_RENDER("{{'xxhixy'|strip('xy')}}", "hi");
    CHECK_RENDER("{{'Hello World'|lower}} {{'Hello World'|upper}}", "hello world HELLO WORLD");
    CHECK_RENDER("{{'the LADY'|capitalize}}|{{''|capitalize}}", "The lady|");
    CHECK_RENDER("{{'a-b-c'|replace('-', '+')}}", "a+b+c");
    CHECK_RENDER("{{'aaaa'|replace('aa', 'b')}}", "bb");
    CHECK_RENDER("{{sentence|before('_')}}|{{sentence|after('_')|strip}}", "Sarah was better than Maria so |she won.");
}

static void test_hellaswag_preprocess(void) {
    CHECK_RENDER("{{' Making a cake: [header] Mix the flour. '|hellaswag_preprocess}}", "Making a cake: Mix the flour.");
    CHECK_RENDER("{{'How to x [title] Do y.'|hellaswag_preprocess}}", "How to x. Do y.");
    CHECK_RENDER("{{'a  b   c'|hellaswag_preprocess}}", "a b  c"); /* one pass, as str.replace */
    CHECK_RENDER("{{'keep [open bracket'|hellaswag_preprocess}}", "keep [open bracket");
    CHECK_RENDER("{{'a [x\\ny] b'|hellaswag_preprocess}}", "a [x\ny] b"); /* . does not match newline */
    CHECK_RENDER("{{'[a] [b]c [d]'|hellaswag_preprocess}}", " c "); /* strip comes first */
    CHECK_RENDER("{{'x [[y]] z'|hellaswag_preprocess}}", "x ] z");
}

static void test_compile_errors(void) {
    CHECK_FAILS("{{question|strp}}", "unknown template function 'strp'");
    CHECK_FAILS("{{question.strp()}}", "unknown template function 'strp'");
    CHECK_FAILS("{{question|replace('a')}}", "takes 2 arguments, got 1");
    CHECK_FAILS("{{question|lower(1)}}", "takes 0 arguments, got 1");
    CHECK_FAILS("{{question", "expected '}}'");
    CHECK_FAILS("{{'open}}", "unterminated string");
    CHECK_FAILS("{{'\\q'}}", "unknown escape");
    CHECK_FAILS("{{}}", "expected a field");
    CHECK_FAILS("{{a[1}}", "expected ']'");
    CHECK_FAILS("{{99999999999999999999}}", "out of range");
    /* deep nesting is refused, not a stack overflow */
    sb b;
    sb_init(&b);
    sb_puts(&b, "{{");
    for (int i = 0; i < 5000; i++) sb_putc(&b, '(');
    sb_puts(&b, "n");
    for (int i = 0; i < 5000; i++) sb_putc(&b, ')');
    sb_puts(&b, "}}");
    CHECK_FAILS(b.s, "nested too deeply");
    sb_free(&b);
}

static void test_eval_errors(void) {
    CHECK_FAILS("{{questoin}}", "questoin: no such field");
    CHECK_FAILS("{{q.choice}}", "q.choice: no such field");
    CHECK_FAILS("{{q.choices[2]}}", "index 2 out of range (2 items)");
    CHECK_FAILS("{{n.x}}", "is not an object");
    CHECK_FAILS("{{q.choices}}", "cannot write a list as text");
    CHECK_FAILS("{{'abc'|int}}", "\"abc\" is not an integer");
    CHECK_FAILS("{{'99999999999999999999'|int}}", "is not an integer");
    CHECK_FAILS("{{sentence|before('#')}}", "before: \"#\" not found");
    CHECK_FAILS("{{n|strip}}", "strip: needs a string, not an integer");
    CHECK_FAILS("{{'a' - 'b'}}", "cannot subtract");
    CHECK_FAILS("{{big + 1}}", "integer overflow");
    CHECK_FAILS("{{q.choices|map('label')|index('Z')}}", "index: \"Z\" is not in the list");
    CHECK_FAILS("{{n|keys}}", "keys: needs an object");
    CHECK_FAILS("{{nothing}}", "cannot write null as text");
    /* found by the fuzzer: a two-argument test named without its value */
    CHECK_FAILS("{{q.choices|selectattr('k', 'equalto')|list}}", "test 'equalto' needs a value");
    CHECK_FAILS("{{q.choices|select('ne')|list}}", "test 'ne' needs a value");
}

/* src with body repeated n times between head and tail. */
static char *repeat(const char *head, const char *body, int n, const char *tail) {
    sb b;
    sb_init(&b);
    sb_puts(&b, head);
    for (int i = 0; i < n; i++) sb_puts(&b, body);
    sb_puts(&b, tail);
    return sb_take(&b);
}

/* Found while fuzzing the template language (each crashed or hung the
 * fuzz_template build): long chains made trees deep enough to overflow the
 * stack when evaluated and freed, and a replace chain or a repeated field
 * asked for unbounded memory and time. */
static void test_hostile_templates(void) {
    static const char *const chains[] = {".strip()", "|strip", "[0]", ".x", "+1"};
    for (size_t i = 0; i < sizeof chains / sizeof *chains; i++) {
        char *src = repeat("{{question", chains[i], 200000, "}}");
        CHECK_FAILS(src, "nested too deeply");
        free(src);
    }
    char *ok = repeat("{{question", "|strip", 100, "}}");
    CHECK_RENDER(ok, "What is 2+2?");
    free(ok);
    char *blow = repeat("{{'ab'", ".replace('a', 'aaaa')", 60, "}}");
    CHECK_FAILS(blow, "replace: the result would be longer than");
    free(blow);
    blow = repeat("{{['a']", ".replace('a', 'aaaaaaaa')", 60, "}}");
    CHECK_FAILS(blow, "longer than");
    free(blow);
    blow = repeat("{{'x'", " + 'x'", 40, "}}");
    CHECK_RENDER(blow, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
    free(blow);
    /* every part of a long output counts against the budget */
    char *wide = repeat("{{'aaaaaaaa'.replace('a', 'aaaaaaaa').replace('a', 'aaaaaaaa').replace('a', 'aaaaaaaa')"
                        ".replace('a', 'aaaaaaaa').replace('a', 'aaaaaaaa').replace('a', 'aaaaaaaa')}}",
                        "{{'a'}}", 0, "");
    cj_err e = {{0}};
    char *got = render(wide, &e);
    CHECKF(got && strlen(got) == (size_t)1 << 21, "%s", e.msg); /* 2 MiB: well inside the budget */
    free(got);
    free(wide);
    char *many = repeat("", "{{'aaaaaaaa'.replace('a', 'aaaaaaaa').replace('a', 'aaaaaaaa').replace('a', "
                            "'aaaaaaaa').replace('a', 'aaaaaaaa').replace('a', 'aaaaaaaa').replace('a', 'aaaaaaaa')}}",
                        100, "");
    CHECK_FAILS(many, "MiB of work");
    free(many);
}

int main(void) {
    json_error_t je;
    DOC = json_loads("{\"question\": \" What is 2+2? \", \"answer\": \"4\", \"n\": 42, \"flag\": true,"
                     " \"ratio\": 0.25, \"whole\": 3.0, \"big\": 9223372036854775807, \"nothing\": null,"
                     " \"ko\": \"정답은\", \"nbsp\": \"\\u3000\\u00a0x\\u2003\","
                     " \"sentence\": \"Sarah was better than Maria so _ she won.\", \"answerKey\": \"B\","
                     " \"q\": {\"choices\": [{\"text\": \"three\", \"label\": \"A\"}, {\"text\": \"four\", \"label\": \"B\"}]},"
                     " \"targets\": {\"yes\": 1, \"no\": 0, \"maybe\": 0}}",
                     0, &je);
    if (!DOC) {
        printf("FAIL test doc: %s\n", je.text);
        return 1;
    }
    RUN(test_fields_and_text);
    RUN(test_values);
    RUN(test_string_functions);
    RUN(test_hellaswag_preprocess);
    RUN(test_compile_errors);
    RUN(test_eval_errors);
    RUN(test_hostile_templates);
    json_decref(DOC);
    return check_summary_();
}
