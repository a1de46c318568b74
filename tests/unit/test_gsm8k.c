/* GSM8K's pieces: inline few-shot samples with their own target template,
 * named answer filters reported per filter, and the built-in gsm8k and
 * gsm8k_cot scoring crafted generations exactly as lm-eval's own filters
 * and exact_match do (tests/fixtures/lmeval/gsm8k_filters.json, made by
 * make_filters.py with lm-eval). */
#include <jansson.h>
#include <stdlib.h>
#include <unistd.h>

#include "../../common/fileio.h"
#include "../../metrics/score.h"
#include "task_fixture.h"

#define FILTERS_FIXTURE "tests/fixtures/lmeval/gsm8k_filters.json"

#define GEN_HEAD                                                                                                       \
    "{\"name\": \"toy\", \"version\": \"1\", \"output_type\": \"generate_until\",\n"                                \
    " \"dataset\": {\"format\": \"jsonl\", \"splits\": {\"test\": \"toy/test.jsonl\"}},\n"                          \
    " \"eval_split\": \"test\", \"doc_to_text\": \"Q: {{question}}\\nA:\",\n"                                         \
    " \"doc_to_target\": \"{{answer.split('####')[-1].strip()}}\",\n"

#define SAMPLES "[{\"question\": \"1+1?\", \"target\": \"2. The answer is 2.\"}, {\"question\": \"2+2?\", \"target\": \"4.\"}]"

static char DATA[128];

/* Shots come from the definition and answer with fewshot.doc_to_target;
 * the doc's own target keeps doc_to_target. */
static void test_inline_samples(void) {
    char p[200];
    toy_data_file("test.jsonl", "{\"question\": \"3+4?\", \"answer\": \"3+4=7\\n#### 7\"}\n", p, sizeof p);
    cj_err e;
    task_registry *r;
    task *t = toy_task(GEN_HEAD " \"fewshot\": {\"samples\": " SAMPLES ", \"k\": 2, \"doc_to_target\": \"{{target}}\"},"
                                " \"metrics\": [\"exact_match\"]}",
                       DATA, &r);
    if (!t) return;
    CHECK(task_default_shots(t) == 2);
    task_request q;
    if (task_build_request(t, 0, -1, 1, &q, &e) == 0) {
        CHECK_STR(q.contexts[0], "Q: 1+1?\nA: 2. The answer is 2.\n\nQ: 2+2?\nA: 4.\n\nQ: 3+4?\nA:");
        CHECK_STR(q.gold_text, "7");
        task_request_free(&q);
    } else CHECKF(0, "%s", e.msg);
    /* one shot: the first sample (first_n) */
    if (task_build_request(t, 0, 1, 1, &q, &e) == 0) {
        CHECK_STR(q.contexts[0], "Q: 1+1?\nA: 2. The answer is 2.\n\nQ: 3+4?\nA:");
        task_request_free(&q);
    }
    /* more shots than samples */
    check_bad_request(t, 0, 3, "'fewshot.samples' has 2 docs");
    task_registry_free(r);
}

/* Definitions that misuse the few-shot fields; a shot whose template fails
 * names the inline samples. */
static void test_sample_errors(void) {
    check_bad_def(GEN_HEAD " \"fewshot\": {\"samples\": " SAMPLES ", \"k\": 3}, \"metrics\": [\"exact_match\"]}",
                  "field 'fewshot.k': 3 shots, but fewshot.samples holds 2");
    check_bad_def(GEN_HEAD " \"fewshot\": {\"split\": \"test\", \"samples\": " SAMPLES "}, \"metrics\": [\"f1\"]}",
                  "field 'fewshot.samples': give either 'split' or 'samples', not both");
    check_bad_def(GEN_HEAD " \"fewshot\": {\"samples\": [\"x\"]}, \"metrics\": [\"f1\"]}",
                  "field 'fewshot.samples': item 0: expected a doc (an object), got a string");
    check_bad_def(GEN_HEAD " \"fewshot\": {\"samples\": []}, \"metrics\": [\"f1\"]}",
                  "field 'fewshot.samples': expected a list of 1 to");
    check_bad_def(GEN_HEAD " \"fewshot\": {\"samples\": " SAMPLES ", \"doc_to_target\": 3}, \"metrics\": [\"f1\"]}",
                  "field 'fewshot.doc_to_target': expected a template string");
    check_bad_def(GEN_HEAD " \"fewshot\": {\"samples\": " SAMPLES ", \"doc_to_target\": \"{{x\"}, \"metrics\": [\"f1\"]}",
                  "field 'fewshot.doc_to_target'");
    task_registry *r;
    task *t = toy_task(GEN_HEAD " \"fewshot\": {\"samples\": [{\"q\": 1}], \"k\": 1, \"doc_to_target\": \"{{target}}\"},"
                                " \"metrics\": [\"exact_match\"]}",
                       DATA, &r);
    if (!t) return;
    check_bad_request(t, 0, -1, "field 'fewshot.doc_to_target': doc fewshot.samples:0");
    task_registry_free(r);
}

/* Named filters: each metric once per filter, in lm-eval's names; the
 * default correct metric is the first exact_match. */
static void test_named_filters(void) {
    cj_err e;
    task_registry *r = toy(GEN_HEAD " \"filters\": [{\"name\": \"a\", \"regex\": \"(\\\\d+)\"},"
                                    " {\"name\": \"b\", \"regex\": \"x\", \"group_select\": -1, \"fallback\": \"none\"}],"
                                    " \"abstention\": {\"patterns\": [\"dunno\"]}, \"metrics\": [\"f1\", \"exact_match\"]}",
                           &e);
    if (!r) return;
    task *t = task_find(r, "toy");
    const task_gen_opts *g = task_gen(t);
    CHECK(task_n_metrics(t) == 4);
    const char *want[] = {"f1,a", "f1,b", "exact_match,a", "exact_match,b"};
    for (int i = 0; i < 4 && i < task_n_metrics(t); i++) CHECK_STR(task_metric(t, i), want[i]);
    CHECK(g && g->n_filters == 2 && !strcmp(g->filters[1].fallback, "none") && g->filters[1].group_select == -1);
    CHECK(g && g->correct_metric && !strcmp(g->correct_metric, "exact_match,a"));
    /* each filter's answer scored on its own */
    score_gen_refs refs = {.gold = "12"};
    score_gen s;
    double v;
    if (g && score_gen_doc("it is 12", &refs, g, &s, &e) == 0) {
        CHECK(s.n_answers == 2 && !strcmp(s.answers[0].answer, "12") && !strcmp(s.answers[1].answer, "none"));
        CHECK(score_gen_metric(&s, "exact_match,a", &v) == 0 && v == 1);
        CHECK(score_gen_metric(&s, "exact_match,b", &v) == 0 && v == 0);
        CHECK(score_gen_metric(&s, "exact_match,c", &v) == -1 && s.correct == 1);
        score_gen_clear(&s);
    }
    CHECK(score_is_gen_metric("exact_match,strict-match") && !score_is_gen_metric("acc,strict-match"));
    task_registry_free(r);

    check_bad_def(GEN_HEAD " \"filters\": [{\"name\": \"a\", \"regex\": \"x\"}, {\"name\": \"a\", \"regex\": \"y\"}],"
                           " \"metrics\": [\"exact_match\"]}",
                  "field 'filters[1]': a second filter named 'a'");
    check_bad_def(GEN_HEAD " \"filter\": {\"regex\": \"x\"}, \"filters\": [{\"name\": \"a\", \"regex\": \"y\"}],"
                           " \"metrics\": [\"exact_match\"]}",
                  "field 'filters': give either 'filter' or 'filters', not both");
    check_bad_def(GEN_HEAD " \"filters\": [{\"regex\": \"x\"}], \"metrics\": [\"exact_match\"]}",
                  "field 'filters[0].name': missing");
    check_bad_def(GEN_HEAD " \"filters\": [{\"name\": \"a,b\", \"regex\": \"x\"}], \"metrics\": [\"exact_match\"]}",
                  "field 'filters[0].name': 'a,b'");
    check_bad_def(GEN_HEAD " \"filters\": [{\"name\": \"a\", \"regex\": \"(\"}], \"metrics\": [\"exact_match\"]}",
                  "field 'filters[0].regex': pattern '(' does not compile");
    check_bad_def(GEN_HEAD " \"filter\": {\"name\": \"a\", \"regex\": \"x\"}, \"metrics\": [\"exact_match\"]}",
                  "field 'filter.name': unknown field");
    check_bad_def(GEN_HEAD " \"filters\": [{\"name\": \"a\", \"regex\": \"x\"}], \"abstention\": {\"patterns\": [\"x\"],"
                           " \"correct_metric\": \"exact_match\"}, \"metrics\": [\"exact_match\"]}",
                  "'exact_match' is not one of the task's 0/1 metrics (exact_match or *_acc, then ',FILTER')");
}

/* Our gsm8k and gsm8k_cot (the built-in definitions) against lm-eval's
 * filters and exact_match on the same generations. */
static void test_lmeval_filters(void) {
    char *dir = task_default_dir();
    task_registry *reg;
    cj_err e;
    json_error_t je;
    json_t *fx = json_load_file(FILTERS_FIXTURE, 0, &je);
    CHECKF(fx != NULL, "%s: %s", FILTERS_FIXTURE, je.text);
    int rc = task_registry_load(dir, &reg, &e);
    free(dir);
    CHECKF(rc == 0, "%s", e.msg);
    if (!fx || rc) {
        json_decref(fx);
        return;
    }
    const char *names[] = {"gsm8k", "gsm8k_cot"};
    int n_checked = 0;
    for (int k = 0; k < 2; k++) {
        const task *t = task_find(reg, names[k]);
        const task_gen_opts *g = t ? task_gen(t) : NULL;
        json_t *rows = json_object_get(fx, names[k]);
        CHECKF(g && g->n_filters == 2 && json_array_size(rows) > 20, "%s", names[k]);
        if (!g) continue;
        size_t i;
        json_t *row;
        json_array_foreach(rows, i, row) {
            score_gen_refs refs = {.gold = json_string_value(json_object_get(row, "gold"))};
            score_gen s;
            const char *text = json_string_value(json_object_get(row, "text"));
            if (score_gen_doc(text, &refs, g, &s, &e)) {
                CHECKF(0, "%s row %zu: %s", names[k], i, e.msg);
                continue;
            }
            for (int f = 0; f < g->n_filters; f++) {
                json_t *want = json_object_get(row, g->filters[f].name);
                const char *ans = json_string_value(json_object_get(want, "answer"));
                double em = json_number_value(json_object_get(want, "exact_match"));
                CHECKF(ans && !strcmp(s.answers[f].answer, ans) && s.answers[f].exact_match == em,
                       "%s %s on \"%s\": ours \"%s\" (%g), lm-eval \"%s\" (%g)", names[k], g->filters[f].name, text,
                       s.answers[f].answer, s.answers[f].exact_match, ans ? ans : "?", em);
                n_checked++;
            }
            score_gen_clear(&s);
        }
    }
    CHECK(n_checked >= 100);
    json_decref(fx);
    task_registry_free(reg);
}

int main(void) {
    snprintf(TMP, sizeof TMP, "/tmp/cj_gsm8k_XXXXXX");
    if (!mkdtemp(TMP)) {
        printf("FAIL mkdtemp\n");
        return 1;
    }
    snprintf(DATA, sizeof DATA, "%s/data", TMP);
    RUN(test_inline_samples);
    RUN(test_sample_errors);
    RUN(test_named_filters);
    RUN(test_lmeval_filters);
    nftw(TMP, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    return check_summary_();
}
