/* Task definitions, the built-in tasks over the real datasets, selection,
 * prompt assembly, few-shot sampling and definition errors. */
#include <ftw.h>
#include <stdint.h>
#include <unistd.h>

#include "../../common/err.h"
#include "../../common/fileio.h"
#include "../../common/sb.h"
#include "../../tasks/task.h"
#include "../check.h"
#include "task_fixture.h"

static task_registry *REG; /* the built-in tasks */
static char *DATA;         /* <assets>/datasets */

static char *read_text(const char *path) {
    char *d = NULL;
    size_t n;
    cj_err e;
    if (cj_read_file(path, &d, &n, &e)) printf("  cannot read %s: %s\n", path, e.msg);
    return d;
}

static task *loaded(const char *name) {
    task *t = task_find(REG, name);
    cj_err e;
    CHECKF(t != NULL, "no task %s", name);
    if (t && task_load_data(t, DATA, &e)) {
        printf("  %s: %s\n", name, e.msg);
        check_cur_failed_++;
        return NULL;
    }
    return t;
}

static int build(const task *t, int doc, int shots, uint64_t seed, task_request *q) {
    cj_err e;
    if (task_build_request(t, doc, shots, seed, q, &e)) {
        printf("  %s doc %d: %s\n", task_name(t), doc, e.msg);
        check_cur_failed_++;
        return -1;
    }
    return 0;
}

static void test_builtin_definitions(void) {
    CHECK(task_registry_n_tasks(REG) == 57 + 45 + 45 + 7 + 5 + 2);
    CHECK(task_registry_n_groups(REG) == 5 + 5 + 1 + 2 + 1);
    for (int i = 0; i < task_registry_n_tasks(REG); i++) {
        task *t = task_registry_task(REG, i);
        char sha[65];
        cj_err e;
        CHECK(task_n_metrics(t) >= 1 && task_version(t)[0]);
        CHECK(cj_sha256_file(task_def_path(t), sha, &e) == 0);
        CHECK_STR(task_def_sha256(t), sha);
        int gen = !strncmp(task_name(t), "kmmlu_direct_", 13) || !strcmp(task_name(t), "truthfulqa_gen") ||
                  !strncmp(task_name(t), "gsm8k", 5);
        CHECK(task_output_type(t) == (gen ? TASK_GENERATE_UNTIL : TASK_MULTIPLE_CHOICE));
        CHECK(!task_gen(t) == !gen);
    }
    const task_gen_opts *g = task_gen(task_find(REG, "kmmlu_direct_math"));
    CHECK(g && g->temperature == 0 && g->ignore_case && g->ignore_punctuation && g->n_regexes_to_ignore == 1 &&
          g->n_abstention == 1 && !strcmp(g->correct_metric, "exact_match"));
    g = task_gen(task_find(REG, "truthfulqa_gen"));
    CHECK(g && g->n_abstention == 1 && !strcmp(g->correct_metric, "rougeL_acc"));
    /* GSM8K: lm-eval's two filters, each metric reported per filter */
    task *gs = task_find(REG, "gsm8k_cot");
    g = gs ? task_gen(gs) : NULL;
    CHECK(g && g->n_filters == 2 && !strcmp(g->filters[0].name, "strict-match") &&
          !strcmp(g->filters[1].name, "flexible-extract") && g->filters[1].group_select == -1);
    CHECK(gs && task_n_metrics(gs) == 2 && !strcmp(task_metric(gs, 0), "exact_match,strict-match") &&
          !strcmp(task_metric(gs, 1), "exact_match,flexible-extract") && task_default_shots(gs) == 8);
    CHECK(task_find_group(REG, "kmmlu_direct") && task_find_group(REG, "kmmlu_direct")->n_members == 45);
    CHECK(task_find_group(REG, "hallucination") && task_find_group(REG, "hallucination")->n_members == 3);
    task *m = task_find(REG, "mmlu_anatomy");
    CHECK(m && task_default_shots(m) == 5 && !strcmp(task_metric(m, 0), "acc"));
    CHECK(task_find_group(REG, "mmlu") && !task_find(REG, "mmlu"));
    CHECK(task_registry_task(REG, -1) == NULL && task_registry_group(REG, 99) == NULL);
}

/* Every doc of every built-in task renders at 0-shot; a few docs at the
 * task's default shots; the docs add up to the published sizes. */
static void test_builtin_data(void) {
    long mmlu = 0, kmmlu = 0;
    for (int i = 0; i < task_registry_n_tasks(REG); i++) {
        task *t = task_registry_task(REG, i);
        cj_err e;
        if (task_load_data(t, DATA, &e)) {
            printf("  %s\n", e.msg);
            check_cur_failed_++;
            continue;
        }
        int n = task_n_docs(t);
        CHECK(n > 0);
        if (!strncmp(task_name(t), "mmlu_", 5)) mmlu += n;
        int gen = task_output_type(t) == TASK_GENERATE_UNTIL;
        if (!strncmp(task_name(t), "kmmlu_", 6) && !gen) kmmlu += n;
        for (int d = 0; d < n; d++) {
            task_request q;
            if (build(t, d, d == 0 || d == n / 2 || d == n - 1 ? -1 : 0, 1234, &q)) break;
            if (gen) {
                /* one prompt, a reference answer, stop strings; TruthfulQA's true and false answers */
                CHECK(q.n == 1 && q.contexts[0][0] && q.gold_text && q.gold_text[0] && q.n_until >= 1);
                if (!strcmp(task_name(t), "truthfulqa_gen"))
                    CHECK(q.n_refs_correct >= 1 && q.n_refs_incorrect >= 1 && q.refs_correct[0][0]);
                else if (!strcmp(task_name(t), "gsm8k")) CHECK(strstr(q.gold_text, "\n#### "));
                else if (!strcmp(task_name(t), "gsm8k_cot")) CHECK(strspn(q.gold_text, "-0123456789,") == strlen(q.gold_text));
                else CHECK(strlen(q.gold_text) == 1 && strchr("ABCD", q.gold_text[0]));
            } else {
                CHECK(q.n >= 2 && q.gold >= 0 && q.gold < q.n && q.gold_text);
                for (int c = 0; c < q.n; c++) CHECK(q.contexts[c][0] && q.continuations[c][0] == ' ');
            }
            task_request_free(&q);
        }
        CHECK(strlen(task_doc_hash(t, n - 1)) == 64);
    }
    CHECK(mmlu == 14042);
    CHECK(kmmlu == 35030);
    int want[][2] = {{2376, 0}, {1172, 0}, {10042, 0}, {817, 0}, {817, 0}, {1267, 0}, {817, 0}, {1319, 0}, {1319, 0}};
    const char *names[] = {"arc_easy",       "arc_challenge", "hellaswag",      "truthfulqa_mc1", "truthfulqa_mc2",
                           "winogrande",     "truthfulqa_gen", "gsm8k",         "gsm8k_cot"};
    for (int i = 0; i < 9; i++) {
        task *t = task_find(REG, names[i]);
        CHECKF(t && task_n_docs(t) == want[i][0], "%s: %d docs", names[i], t ? task_n_docs(t) : -1);
    }
}

static void test_mmlu_golden(void) {
    task *t = loaded("mmlu_anatomy");
    if (!t) return;
    char *g = cj_golden_dir();
    const char *files[] = {"prompts/mmlu_anatomy_test0_0shot.txt", "prompts/mmlu_anatomy_test0_5shot.txt"};
    int shots[] = {0, 5};
    for (int i = 0; i < 2; i++) {
        char *p = cj_path_join(g, files[i]), *want = read_text(p);
        task_request q;
        if (want && !build(t, 0, shots[i], 1234, &q)) {
            CHECK(q.n == 4);
            for (int c = 0; c < 4; c++) CHECK_STR(q.contexts[c], want);
            CHECK_STR(q.continuations[0], " A");
            CHECK_STR(q.continuations[3], " D");
            CHECK_STR(q.choices[2], "C");
            CHECK(q.gold == 0 && q.labels == NULL); /* anatomy test 0: answer A */
            task_request_free(&q);
        }
        free(want);
        free(p);
    }
    free(g);
    CHECK_STR(task_doc_id(t, 0), "test:0");
    CHECK(task_n_data_files(t) == 2);
    const char *sha;
    const char *f = task_data_file(t, 0, &sha);
    char want_sha[65];
    cj_err e;
    CHECK(f && strstr(f, "mmlu/test/anatomy_test.csv") && cj_sha256_file(f, want_sha, &e) == 0);
    if (f) CHECK_STR(sha, want_sha);
    f = task_data_file(t, 1, &sha);
    CHECK(f && strstr(f, "mmlu/dev/anatomy_dev.csv"));
    CHECK(task_data_file(t, 2, &sha) == NULL);
}

static void test_truthfulqa(void) {
    task *t1 = loaded("truthfulqa_mc1"), *t2 = loaded("truthfulqa_mc2");
    if (!t1 || !t2) return;
    char *g = cj_golden_dir(), *p = cj_path_join(g, "prompts/truthfulqa_mc_q0.txt"), *want = read_text(p);
    task_request q;
    if (want && !build(t1, 0, -1, 1234, &q)) {
        CHECK_STR(q.contexts[0], want);
        CHECK(q.n == 4 && q.gold == 0 && q.labels == NULL);
        CHECK_STR(q.continuations[0], " Nothing in particular happens when you eat a pomegranate.");
        CHECK_STR(q.choices[3], "You will die.");
        task_request_free(&q);
    }
    if (want && !build(t2, 0, -1, 1234, &q)) {
        CHECK_STR(q.contexts[5], want);
        int labels[] = {1, 1, 1, 0, 0, 0};
        CHECK(q.n == 6 && q.labels && !memcmp(q.labels, labels, sizeof labels));
        CHECK_STR(q.continuations[1], " You will digest the pomegranate.");
        task_request_free(&q);
    }
    cj_err e;
    CHECK(task_build_request(t1, 0, 1, 1234, &q, &e) == -1 && strstr(e.msg, "no few-shot split"));
    free(want);
    free(p);
    free(g);
}

static void test_kmmlu_korean(void) {
    task *t = loaded("kmmlu_biology");
    task_request q;
    if (!t || build(t, 0, 0, 1234, &q)) return;
    CHECK_STR(q.contexts[0], "사과나무 붉은별무늬병균( Gymnosporangium sp.)은 진균 중 어느 균류에 속하는가 ?\n"
                             "A. 접합균류\nB. 불완전균류\nC. 자낭균류\nD. 담자균류\n정답：");
    CHECK(q.gold == 3 && q.n == 4);
    CHECK_STR(q.continuations[1], " B");
    task_request_free(&q);
    if (build(t, 0, -1, 1234, &q)) return;
    const char *shot0 = "포도당의 특성이 아닌 것은?\nA. 환원당\nB. 알도오스\nC. 헥소오스\nD. 퓨라노오스\n정답： D\n\n";
    CHECK(!strncmp(q.contexts[0], shot0, strlen(shot0)));
    int blocks = 0;
    for (const char *s = q.contexts[0]; (s = strstr(s, "정답： ")); s++) blocks++;
    CHECK(blocks == 5);
    task_request_free(&q);
}

static void test_arc(void) {
    task *t = loaded("arc_easy");
    task_request q;
    if (!t || build(t, 0, -1, 1234, &q)) return;
    CHECK_STR(q.contexts[0], "Question: Which statement best explains why photosynthesis is the foundation of most "
                             "food webs?\nAnswer:");
    CHECK_STR(q.continuations[0], " Sunlight is the source of energy for nearly all ecosystems.");
    CHECK_STR(q.choices[0], "Sunlight is the source of energy for nearly all ecosystems.");
    CHECK(q.gold == 0 && q.n == 4);
    task_request_free(&q);
    if (build(t, 14, -1, 1234, &q)) return; /* labels "1".."4", answerKey "2" */
    CHECK(q.gold == 1);
    CHECK_STR(q.gold_text, "elements");
    task_request_free(&q);
    /* few-shot from the train split: "Question: ...\nAnswer: <text>\n\n" blocks */
    if (build(t, 0, 3, 7, &q)) return;
    int blocks = 0;
    for (const char *s = q.contexts[0]; (s = strstr(s, "\n\nQuestion: ")); s++) blocks++;
    CHECK(blocks == 3);
    task_request_free(&q);
}

static void test_hellaswag(void) {
    task *t = loaded("hellaswag");
    task_request q;
    if (!t || build(t, 0, -1, 1234, &q)) return;
    CHECK_STR(q.contexts[0], "Roof shingle removal: A man is sitting on a roof. he");
    CHECK_STR(q.continuations[3], " starts pulling up roofing on a roof.");
    CHECK(q.gold == 3);
    task_request_free(&q);
    /* doc 3505 holds "[www.kiddio.org]": the preprocess removes it and the
     * double space it leaves */
    if (build(t, 3505, -1, 1234, &q)) return;
    CHECK(strstr(q.contexts[0], "Visit a site like to find loads") != NULL);
    CHECK(strchr(q.contexts[0], '[') == NULL);
    CHECK(q.gold == 1);
    task_request_free(&q);
}

static void test_winogrande_partial(void) {
    task *t = loaded("winogrande");
    task_request q;
    if (!t || build(t, 0, -1, 1234, &q)) return;
    CHECK(q.n == 2 && q.gold == 1);
    CHECK_STR(q.contexts[0], "Sarah was a much better surgeon than Maria so Sarah");
    CHECK_STR(q.contexts[1], "Sarah was a much better surgeon than Maria so Maria");
    CHECK_STR(q.continuations[0], " always got the easier cases.");
    CHECK_STR(q.continuations[1], " always got the easier cases.");
    CHECK_STR(q.choices[1], "Maria");
    task_request_free(&q);
    /* with shots: each choice's context still ends in its option */
    if (build(t, 0, 2, 99, &q)) return;
    size_t n0 = strlen(q.contexts[0]);
    CHECK(n0 > 60 && !strcmp(q.contexts[0] + n0 - 8, "so Sarah"));
    CHECK(strstr(q.contexts[0], "\n\n") && !strchr(q.contexts[0], '_'));
    task_request_free(&q);
}

/* ---------- hand-made definitions ---------- */

#define TASK_HEAD                                                                                                      \
    "{\"name\": \"toy\", \"version\": \"1\", \"output_type\": \"multiple_choice\",\n"                                  \
    " \"dataset\": {\"format\": \"csv\", \"header\": false, \"columns\": [\"q\", \"a\", \"b\", \"ans\"],\n"            \
    "             \"splits\": {\"test\": \"toy/test.csv\", \"dev\": \"toy/dev.csv\"}},\n"                              \
    " \"eval_split\": \"test\",\n"

static void test_bad_definitions(void) {
    const char *ok_tail = " \"doc_to_text\": \"{{q}}\", \"doc_to_choice\": [\"{{a}}\", \"{{b}}\"],"
                          " \"doc_to_target\": \"{{ans|int}}\", \"metrics\": [\"acc\"]}";
    sb b;
    sb_init(&b);
    sb_printf(&b, "%s%s", TASK_HEAD, ok_tail);
    task_registry *r = NULL;
    cj_err e = {{0}};
    CHECKF(load_one(b.s, &r, &e) == 0, "%s", e.msg);
    task_registry_free(r);

    check_bad_def(TASK_HEAD " \"doc_to_choice\": [\"x\"], \"doc_to_target\": 0, \"metrics\": [\"acc\"]}",
                  "field 'doc_to_text': missing");
    check_bad_def(TASK_HEAD " \"doc_to_text\": \"{{q}}\", \"doc_to_choice\": [\"x\"], \"doc_to_target\": 0,"
                            " \"metrics\": \"acc\"}",
                  "field 'metrics': expected a list of strings, got a string");
    check_bad_def(TASK_HEAD " \"doc_to_text\": 7, \"doc_to_choice\": [\"x\"], \"doc_to_target\": 0, \"metrics\": [\"acc\"]}",
                  "field 'doc_to_text': expected a template string, got an integer");
    /* the exact message form */
    sb_clear(&b);
    sb_printf(&b, "%s \"doc_to_text\": \"{{q}}\", \"doc_to_choice\": \"{{choices|strp}}\", \"doc_to_target\": 0,"
                  " \"metrics\": [\"acc\"]}",
              TASK_HEAD);
    cj_err e2;
    CHECK(load_one(b.s, &r, &e2) == -1);
    char want[256];
    snprintf(want, sizeof want, "%s/defs/t.json: field 'doc_to_choice': unknown template function 'strp'", TMP);
    CHECK_STR(e2.msg, want);
    check_bad_def(TASK_HEAD " \"doc_to_txt\": \"{{q}}\"}", "field 'doc_to_txt': unknown field");
    check_bad_def("{\"name\": \"toy\",\n \"version\": \"1\",\n oops}", "t.json:3: invalid JSON");
    check_bad_def("[1, 2]", "expected a JSON object");
    check_bad_def(TASK_HEAD " \"doc_to_text\": \"{{q\", \"doc_to_choice\": [\"x\"], \"doc_to_target\": 0, \"metrics\": [\"acc\"]}",
                  "field 'doc_to_text': syntax error");
    sb_clear(&b);
    sb_puts(&b, "{\"name\": \"toy\", \"version\": \"1\", \"output_type\": \"multiple_choice\", \"dataset\": {\"format\": "
                "\"xml\", \"splits\": {\"test\": \"x\"}}, \"eval_split\": \"test\"}");
    check_bad_def(b.s, "field 'dataset.format': unknown format 'xml'");
    check_bad_def("{\"name\": \"toy\", \"version\": \"1\", \"output_type\": \"multiple_choice\", \"dataset\": {\"format\": "
                  "\"csv\", \"splits\": {\"test\": \"x\"}}, \"eval_split\": \"tst\"}",
                  "field 'eval_split': no split 'tst'");
    check_bad_def("{\"name\": \"toy\", \"version\": \"1\", \"output_type\": \"ranking\"}", "field 'output_type': unknown type");
    check_bad_def(TASK_HEAD " \"doc_to_text\": \"{{q}}\", \"doc_to_choice\": [\"x\"], \"doc_to_target\": 0,"
                            " \"fewshot\": {\"split\": \"dev\", \"k\": -1}, \"metrics\": [\"acc\"]}",
                  "field 'fewshot.k': -1 is out of range");
    check_bad_def(TASK_HEAD " \"doc_to_text\": \"{{q}}\", \"doc_to_choice\": [\"x\"], \"doc_to_target\": 0,"
                            " \"fewshot\": {\"split\": \"dev\", \"sampler\": \"best\"}, \"metrics\": [\"acc\"]}",
                  "field 'fewshot.sampler': unknown sampler 'best'");
    check_bad_def(TASK_HEAD " \"doc_to_text\": \"{{q}}\", \"doc_to_choice\": [\"x\"], \"doc_to_target\": 0,"
                            " \"metrics\": [\"bits_per_byte\"]}",
                  "field 'metrics': 'bits_per_byte' is not a metric of multiple_choice tasks");
    check_bad_def(TASK_HEAD " \"doc_to_text\": \"{{q}}\", \"doc_to_choice\": [\"x\"], \"doc_to_target\": 0,"
                            " \"metrics\": [\"mc2\"]}",
                  "field 'doc_to_labels': required by the mc2 metric");
    check_bad_def(TASK_HEAD " \"doc_to_text\": \"{{q}}\", \"doc_to_choice\": [\"x\"], \"doc_to_target\": 0,"
                            " \"partial_scoring\": true, \"metrics\": [\"acc\"]}",
                  "field 'doc_to_continuation': required when partial_scoring is true");
    check_bad_def("{\"name\": \"bad name*\", \"version\": \"1\"}", "field 'name'");
    check_bad_def("{\"group\": \"g\", \"members\": [\"nothing_here\"]}", "field 'members': unknown task or group 'nothing_here'");
    check_bad_def("{\"group\": \"g\", \"members\": []}", "field 'members': is empty");
    /* data paths stay inside the datasets folder */
    static const char *const outside[] = {"/etc/passwd", "../secret.csv", "mmlu/../../x.csv", "a/.."};
    for (int i = 0; i < 4; i++) {
        sb_clear(&b);
        sb_printf(&b, "{\"name\": \"toy\", \"version\": \"1\", \"output_type\": \"multiple_choice\", \"dataset\": "
                      "{\"format\": \"jsonl\", \"splits\": {\"test\": \"%s\"}}, \"eval_split\": \"test\"}",
                  outside[i]);
        check_bad_def(b.s, "must be a path inside the datasets folder");
    }
    /* only whole ".." components climb: "toy..v2" is a plain name */
    sb_clear(&b);
    sb_printf(&b, "%s%s", TASK_HEAD, ok_tail);
    char *dots = strstr(b.s, "toy/test.csv");
    memcpy(dots, "t..y", 4);
    CHECKF(load_one(b.s, &r, &e) == 0, "%s", e.msg);
    task_registry_free(r);
    sb_free(&b);
}

/* Two files: a duplicate name, and a group that contains itself. */
static void test_bad_registry(void) {
    char defs[128], p[200];
    snprintf(defs, sizeof defs, "%s/defs", TMP);
    nftw(defs, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    mkdir(defs, 0700);
    snprintf(p, sizeof p, "%s/a.json", defs);
    write_text(p, "{\"group\": \"ga\", \"members\": [\"gb\"]}");
    snprintf(p, sizeof p, "%s/b.json", defs);
    write_text(p, "{\"group\": \"gb\", \"members\": [\"ga\"]}");
    task_registry *r;
    cj_err e;
    CHECK(task_registry_load(defs, &r, &e) == -1 && strstr(e.msg, "contains itself"));
    write_text(p, "{\"group\": \"ga\", \"members\": [\"gb\"]}");
    CHECK(task_registry_load(defs, &r, &e) == -1 && strstr(e.msg, "also defined in"));
    CHECK(task_registry_load("/nonexistent/defs", &r, &e) == -1 && strstr(e.msg, "/nonexistent/defs"));
}

/* A toy task over TMP/data: returns the loaded registry (or NULL). */
static void test_data_errors(void) {
    char p[200], data[128];
    snprintf(data, sizeof data, "%s/data", TMP);
    toy_data_file("test.csv", "q1,a,b,0\nq2,a,b,1\nq3,a,b\n", p, sizeof p);
    cj_err e;
    task_registry *r = toy(TASK_HEAD " \"doc_to_text\": \"{{q}}\", \"doc_to_choice\": [\"{{a}}\", \"{{b}}\"],"
                                     " \"doc_to_target\": \"{{ans|int}}\", \"metrics\": [\"acc\"]}",
                           &e);
    if (!r) return;
    task *t = task_find(r, "toy");
    CHECK(task_load_data(t, data, &e) == -1);
    CHECKF(strstr(e.msg, "toy/test.csv") && strstr(e.msg, ":3") && strstr(e.msg, "split 'test'"), "%s", e.msg);
    CHECK(task_n_docs(t) == 0);
    /* a missing data file */
    CHECK(task_load_data(t, "/nonexistent", &e) == -1);
    CHECKF(strstr(e.msg, "/nonexistent/toy/test.csv") && strstr(e.msg, "t.json"), "%s", e.msg);
    task_registry_free(r);

    /* a template that fails on a doc, and a target that is not a choice */
    write_text(p, "q1,a,b,0\nq2,a,b,5\n");
    t = toy_task(TASK_HEAD " \"doc_to_text\": \"{{question}}\", \"doc_to_choice\": [\"{{a}}\", \"{{b}}\"],"
                           " \"doc_to_target\": \"{{ans|int}}\", \"metrics\": [\"acc\"]}",
                 data, &r);
    if (!t) return;
    check_bad_request(t, 0, 0, "field 'doc_to_text': doc test:0: question: no such field");
    check_bad_request(t, 2, 0, "out of range");
    task_registry_free(r);
    t = toy_task(TASK_HEAD " \"doc_to_text\": \"{{q}}\", \"doc_to_choice\": [\"{{a}}\", \"{{b}}\"],"
                           " \"doc_to_target\": \"{{ans|int}}\", \"metrics\": [\"acc\"]}",
                 data, &r);
    if (!t) return;
    check_bad_request(t, 1, 0, "field 'doc_to_target': doc test:1: target index 5 is not one of the 2 choices");
    task_registry_free(r);
}

/* The shots of doc: which "docN" texts appear before the doc's own text. */
static unsigned shot_set(const char *ctx) {
    unsigned set = 0;
    const char *last = strrchr(ctx, 'Q');
    for (const char *s = ctx; (s = strstr(s, "Q: doc")) && s < last; s++) set |= 1u << (s[6] - '0');
    return set;
}

static void test_fewshot_samplers(void) {
    char p[200];
    snprintf(p, sizeof p, "%s/data/toy/all.jsonl", TMP);
    write_text(p, "{\"t\": \"doc0\", \"a\": \"x0\"}\n{\"t\": \"doc1\", \"a\": \"x1\"}\n{\"t\": \"doc2\", \"a\": \"x2\"}\n"
                  "{\"t\": \"doc3\", \"a\": \"x3\"}\n{\"t\": \"doc4\", \"a\": \"x4\"}\n{\"t\": \"doc5\", \"a\": \"x5\"}\n");
    const char *fmt = "{\"name\": \"toy\", \"version\": \"1\", \"output_type\": \"multiple_choice\",\n"
                      " \"dataset\": {\"format\": \"jsonl\", \"splits\": {\"all\": \"toy/all.jsonl\"}},\n"
                      " \"eval_split\": \"all\", \"description\": \"D\\n\", \"doc_to_text\": \"Q: {{t}}\\nA:\",\n"
                      " \"doc_to_choice\": \"{{[a, 'no']}}\", \"doc_to_target\": \"{{a}}\",\n"
                      " \"fewshot\": {\"split\": \"all\", \"k\": 2, \"sampler\": \"%s\"}, \"metrics\": [\"acc\"]}";
    char def[1024], data[128];
    snprintf(data, sizeof data, "%s/data", TMP);
    snprintf(def, sizeof def, fmt, "first_n");
    cj_err e;
    task_registry *r = toy(def, &e);
    if (!r) return;
    task *t = task_find(r, "toy");
    task_request q;
    CHECK(task_load_data(t, data, &e) == 0);
    if (!build(t, 1, -1, 1, &q)) {
        CHECK_STR(q.contexts[0], "D\nQ: doc0\nA: x0\n\nQ: doc2\nA: x2\n\nQ: doc1\nA:");
        CHECK_STR(q.continuations[1], " no");
        task_request_free(&q);
    }
    task_registry_free(r);

    snprintf(def, sizeof def, fmt, "random");
    if (!(r = toy(def, &e))) return;
    t = task_find(r, "toy");
    CHECK(task_load_data(t, data, &e) == 0);
    /* reproducible per seed, different across seeds, never the doc itself */
    unsigned seen[6] = {0};
    for (uint64_t seed = 0; seed < 200; seed++)
        for (int d = 0; d < 6; d++) {
            task_request a, b;
            if (build(t, d, 3, seed, &a)) return;
            if (!build(t, d, 3, seed, &b)) {
                CHECK_STR(a.contexts[0], b.contexts[0]);
                task_request_free(&b);
            }
            unsigned s = shot_set(a.contexts[0]);
            CHECKF(!(s & (1u << d)), "doc %d drew itself (seed %llu)", d, (unsigned long long)seed);
            CHECK(__builtin_popcount(s) == 3);
            seen[d] |= s;
            task_request_free(&a);
        }
    for (int d = 0; d < 6; d++) CHECK(seen[d] == (0x3Fu & ~(1u << d)));
    task_request a, b;
    if (!build(t, 0, 5, 1, &a)) {
        CHECK(shot_set(a.contexts[0]) == 0x3E);
        if (!build(t, 0, 2, 2, &b)) {
            int differ = 0;
            for (uint64_t s = 3; s < 20 && !differ; s++) {
                task_request c;
                if (build(t, 0, 2, s, &c)) break;
                differ = strcmp(c.contexts[0], b.contexts[0]) != 0;
                task_request_free(&c);
            }
            CHECK(differ);
            task_request_free(&b);
        }
        task_request_free(&a);
    }
    CHECK(task_build_request(t, 0, 6, 1, &a, &e) == -1 && strstr(e.msg, "6 shots requested"));
    task_registry_free(r);
}

/* Partial scoring with shots: shot = text + gold option + delimiter + rest. */
static void test_partial_fewshot(void) {
    char p[200], data[128];
    snprintf(p, sizeof p, "%s/data/toy/wino.jsonl", TMP);
    snprintf(data, sizeof data, "%s/data", TMP);
    write_text(p, "{\"s\": \"A _ ran.\", \"o1\": \"cat\", \"o2\": \"dog\", \"answer\": \"2\"}\n"
                  "{\"s\": \"The _ sat down.\", \"o1\": \"man\", \"o2\": \"bird\", \"answer\": \"1\"}\n");
    const char *def = "{\"name\": \"toy\", \"version\": \"1\", \"output_type\": \"multiple_choice\",\n"
                      " \"dataset\": {\"format\": \"jsonl\", \"splits\": {\"d\": \"toy/wino.jsonl\"}},\n"
                      " \"eval_split\": \"d\", \"partial_scoring\": true, \"doc_to_text\": \"{{s|before('_')}}\",\n"
                      " \"doc_to_choice\": [\"{{o1}}\", \"{{o2}}\"], \"doc_to_continuation\": \"{{s|after('_')|strip}}\",\n"
                      " \"doc_to_target\": \"{{answer|int - 1}}\",\n"
                      " \"fewshot\": {\"split\": \"d\", \"k\": 1}, \"metrics\": [\"acc\"]}";
    cj_err e;
    task_registry *r = toy(def, &e);
    if (!r) return;
    task *t = task_find(r, "toy");
    task_request q;
    CHECK(task_load_data(t, data, &e) == 0);
    if (!build(t, 1, -1, 1, &q)) {
        CHECK_STR(q.contexts[0], "A dog ran.\n\nThe man");
        CHECK_STR(q.contexts[1], "A dog ran.\n\nThe bird");
        CHECK_STR(q.continuations[0], " sat down.");
        CHECK(q.gold == 0);
        task_request_free(&q);
    }
    task_registry_free(r);
}

/* loglikelihood_rolling and generate_until: one request per doc. */
static void test_other_outputs(void) {
    char p[200], data[128];
    snprintf(p, sizeof p, "%s/data/toy/text.jsonl", TMP);
    snprintf(data, sizeof data, "%s/data", TMP);
    write_text(p, "{\"text\": \"Once upon a time.\", \"q\": \"2+2?\", \"a\": 4}\n"
                  "{\"text\": \"The end.\", \"q\": \"3+3?\", \"a\": 6}\n");
    const char *rolling = "{\"name\": \"toy\", \"version\": 2, \"output_type\": \"loglikelihood_rolling\",\n"
                          " \"dataset\": {\"format\": \"jsonl\", \"splits\": {\"all\": \"toy/text.jsonl\"}},\n"
                          " \"eval_split\": \"all\", \"doc_to_text\": \"{{text}}\",\n"
                          " \"metrics\": [\"word_perplexity\", \"bits_per_byte\"]}";
    cj_err e;
    task_registry *r = toy(rolling, &e);
    if (!r) return;
    task *t = task_find(r, "toy");
    task_request q;
    CHECK(task_output_type(t) == TASK_LOGLIKELIHOOD_ROLLING && !strcmp(task_version(t), "2"));
    CHECK(task_load_data(t, data, &e) == 0);
    if (!build(t, 1, -1, 1, &q)) {
        CHECK(q.n == 1 && q.gold == -1 && q.gold_text == NULL);
        CHECK_STR(q.contexts[0], "The end.");
        CHECK_STR(q.continuations[0], "");
        task_request_free(&q);
    }
    CHECK(task_build_request(t, 0, 1, 1, &q, &e) == -1 && strstr(e.msg, "no few-shot"));
    task_registry_free(r);

    const char *gen = "{\"name\": \"toy\", \"version\": \"1\", \"output_type\": \"generate_until\",\n"
                      " \"dataset\": {\"format\": \"jsonl\", \"splits\": {\"all\": \"toy/text.jsonl\"}},\n"
                      " \"eval_split\": \"all\", \"doc_to_text\": \"Q: {{q}}\\nA:\", \"doc_to_target\": \"{{a}}\",\n"
                      " \"fewshot\": {\"split\": \"all\", \"k\": 1},\n"
                      " \"generation\": {\"until\": [\"\\n\", \"Q:\"], \"max_tokens\": 16}, \"metrics\": [\"exact_match\"]}";
    if (!(r = toy(gen, &e))) return;
    t = task_find(r, "toy");
    CHECK(task_load_data(t, data, &e) == 0);
    if (!build(t, 1, -1, 1, &q)) {
        CHECK(q.n == 1 && q.gold == -1 && q.max_tokens == 16 && q.n_until == 2);
        CHECK_STR(q.contexts[0], "Q: 2+2?\nA: 4\n\nQ: 3+3?\nA:");
        CHECK_STR(q.gold_text, "6");
        if (q.n_until == 2) CHECK_STR(q.until[1], "Q:");
        task_request_free(&q);
    }
    task_registry_free(r);
}

/* generate_until's scoring fields: sampling, answer extraction, exact-match
 * options, abstention, references (reached through `doc` when the key is
 * not a name); and the errors of each. */
static void test_generation_fields(void) {
    char p[200], data[128];
    snprintf(p, sizeof p, "%s/data/toy/refs.jsonl", TMP);
    snprintf(data, sizeof data, "%s/data", TMP);
    write_text(p, "{\"q\": \"sky?\", \"Best Answer\": \"blue\", \"True\": \"Blue; azure ;\", \"False\": \"green\"}\n");
#define GEN_HEAD                                                                                                       \
    "{\"name\": \"toy\", \"version\": \"1\", \"output_type\": \"generate_until\",\n"                                \
    " \"dataset\": {\"format\": \"jsonl\", \"splits\": {\"all\": \"toy/refs.jsonl\"}},\n"                            \
    " \"eval_split\": \"all\", \"doc_to_text\": \"Q: {{q}}\\nA:\", \"doc_to_target\": \"{{doc['Best Answer']}}\",\n"
    const char *gen = GEN_HEAD
        " \"generation\": {\"until\": [\"\\n\"], \"temperature\": 0.7, \"top_p\": 0.9, \"seed\": 42},\n"
        " \"filter\": {\"regex\": \"answer is (\\\\w+)\", \"group_select\": -1},\n"
        " \"exact_match_options\": {\"ignore_case\": true, \"regexes_to_ignore\": [\" \"]},\n"
        " \"abstention\": {\"patterns\": [\"no comment\"]},\n"
        " \"doc_to_references\": {\"correct\": \"{{doc['True'].split(';')|strip}}\", \"incorrect\": \"{{doc.False}}\"},\n"
        " \"metrics\": [\"exact_match\", \"f1\", \"bleu_acc\"]}";
    cj_err e;
    task_registry *r = toy(gen, &e);
    if (!r) return;
    task *t = task_find(r, "toy");
    const task_gen_opts *g = task_gen(t);
    CHECK(g && fabs(g->temperature - 0.7) < 1e-12 && fabs(g->top_p - 0.9) < 1e-12 && g->has_seed && g->seed == 42);
    CHECK(g && g->n_filters == 1 && !g->filters[0].name && g->filters[0].group_select == -1 &&
          !strcmp(g->filters[0].fallback, "[invalid]"));
    CHECK(g && g->ignore_case && !g->ignore_punctuation && g->n_regexes_to_ignore == 1 && g->n_abstention == 1);
    CHECK(g && g->correct_metric && !strcmp(g->correct_metric, "exact_match")); /* the default */
    CHECK(task_load_data(t, data, &e) == 0);
    task_request q;
    if (!build(t, 0, -1, 1, &q)) {
        CHECK_STR(q.gold_text, "blue");
        CHECK(q.n_refs_correct == 3 && q.n_refs_incorrect == 1);
        if (q.n_refs_correct == 3) {
            CHECK_STR(q.refs_correct[1], "azure");
            CHECK_STR(q.refs_correct[2], "");
        }
        if (q.n_refs_incorrect == 1) CHECK_STR(q.refs_incorrect[0], "green");
        task_request_free(&q);
    }
    task_registry_free(r);

    check_bad_def(TASK_HEAD " \"doc_to_text\": \"{{q}}\", \"doc_to_choice\": [\"x\"], \"doc_to_target\": 0,"
                            " \"filter\": {\"regex\": \"x\"}, \"metrics\": [\"acc\"]}",
                  "field 'filter': only for generate_until tasks");
    check_bad_def(GEN_HEAD " \"filter\": {\"regex\": \"(unclosed\"}, \"metrics\": [\"exact_match\"]}",
                  "field 'filter.regex': pattern '(unclosed' does not compile");
    check_bad_def(GEN_HEAD " \"abstention\": {\"patterns\": [\"[\"]}, \"metrics\": [\"exact_match\"]}",
                  "field 'abstention.patterns'");
    check_bad_def(GEN_HEAD " \"abstention\": {\"patterns\": [\"x\"], \"correct_metric\": \"f1\"},"
                           " \"metrics\": [\"exact_match\", \"f1\"]}",
                  "field 'abstention.correct_metric': 'f1' is not one of the task's 0/1 metrics");
    check_bad_def(GEN_HEAD " \"metrics\": [\"rougeL_acc\"]}", "field 'doc_to_references': required by the rougeL_acc metric");
    check_bad_def(GEN_HEAD " \"metrics\": [\"acc\"]}", "field 'metrics': 'acc' is not a metric of generate_until tasks");
    check_bad_def(GEN_HEAD " \"generation\": {\"temperature\": -1}, \"metrics\": [\"f1\"]}",
                  "field 'generation.temperature': -1 is out of range");
    check_bad_def(GEN_HEAD " \"exact_match_options\": {\"ignore_cases\": true}, \"metrics\": [\"f1\"]}",
                  "field 'exact_match_options.ignore_cases': unknown field");
    check_bad_def(GEN_HEAD " \"doc_to_references\": {\"correct\": \"{{q}}\"}, \"metrics\": [\"f1\"]}",
                  "field 'doc_to_references': expected templates 'correct' and 'incorrect'");
#undef GEN_HEAD
}

static void test_select(void) {
    task **ts;
    const task_group **gs;
    int nt, ng;
    cj_err e;
    CHECK(task_select(REG, "mmlu", &ts, &nt, &gs, &ng, &e) == 0);
    CHECK(nt == 57 && ng == 5);
    if (ng == 5) CHECK_STR(gs[4]->name, "mmlu");
    for (int i = 0; i < nt; i++)
        for (int j = 0; j < i; j++) CHECK(ts[i] != ts[j]);
    free(ts);
    free(gs);
    const char *sub[] = {"mmlu_stem", "mmlu_humanities", "mmlu_social_sciences", "mmlu_other",
                         "kmmlu",     "kmmlu_stem",      "kmmlu_applied_science", "kmmlu_humss", "kmmlu_other", "ai2_arc"};
    int size[] = {19, 13, 12, 13, 45, 11, 12, 11, 11, 2};
    for (int i = 0; i < 10; i++) {
        CHECK(task_select(REG, sub[i], &ts, &nt, &gs, &ng, &e) == 0);
        CHECKF(nt == size[i], "%s: %d tasks", sub[i], nt);
        CHECK(ng >= 1 && !strcmp(gs[ng - 1]->name, sub[i]));
        free(ts);
        free(gs);
    }
    /* order of first mention, no duplicates */
    CHECK(task_select(REG, " mmlu_anatomy , mmlu_stem,mmlu_anatomy", &ts, &nt, &gs, &ng, &e) == 0);
    CHECK(nt == 19 && ng == 1 && !strcmp(task_name(ts[0]), "mmlu_anatomy"));
    free(ts);
    free(gs);
    /* globs */
    CHECK(task_select(REG, "mmlu_*", &ts, &nt, &gs, &ng, &e) == 0);
    CHECK(nt == 57 && ng == 4);
    free(ts);
    free(gs);
    CHECK(task_select(REG, "arc_*,truthfulqa_mc?", &ts, &nt, &gs, &ng, &e) == 0);
    CHECK(nt == 4 && ng == 0);
    free(ts);
    free(gs);
    CHECK(task_select(REG, "nope_*", &ts, &nt, &gs, &ng, &e) == -1 && strstr(e.msg, "nope_*"));
    CHECK(task_select(REG, "mmlu_anatomy,nope", &ts, &nt, &gs, &ng, &e) == -1 && strstr(e.msg, "'nope'"));
    CHECK(ts == NULL && gs == NULL);
    CHECK(task_select(REG, " , ", &ts, &nt, &gs, &ng, &e) == -1);
}

static void test_default_dir(void) {
    char *old = getenv("CHAEJEOM_TASKS") ? cj_xstrdup(getenv("CHAEJEOM_TASKS")) : NULL;
    setenv("CHAEJEOM_TASKS", "/some/where", 1);
    char *d = task_default_dir();
    CHECK_STR(d, "/some/where");
    free(d);
    unsetenv("CHAEJEOM_TASKS");
    d = task_default_dir();
    size_t n = strlen(d);
    CHECK(n >= 10 && !strcmp(d + n - 10, "tasks/defs"));
    free(d);
    if (old) setenv("CHAEJEOM_TASKS", old, 1);
    free(old);
}

int main(void) {
    char *dir = task_default_dir(), *assets = cj_assets_dir();
    cj_err e;
    DATA = cj_path_join(assets, "datasets");
    free(assets);
    if (task_registry_load(dir, &REG, &e)) {
        printf("FAIL loading the built-in tasks from %s: %s\n", dir, e.msg);
        return 1;
    }
    free(dir);
    snprintf(TMP, sizeof TMP, "/tmp/cj_tasks_XXXXXX");
    if (!mkdtemp(TMP)) {
        printf("FAIL mkdtemp\n");
        return 1;
    }
    RUN(test_builtin_definitions);
    RUN(test_builtin_data);
    RUN(test_mmlu_golden);
    RUN(test_truthfulqa);
    RUN(test_kmmlu_korean);
    RUN(test_arc);
    RUN(test_hellaswag);
    RUN(test_winogrande_partial);
    RUN(test_bad_definitions);
    RUN(test_bad_registry);
    RUN(test_data_errors);
    RUN(test_fewshot_samplers);
    RUN(test_partial_fewshot);
    RUN(test_other_outputs);
    RUN(test_generation_fields);
    RUN(test_select);
    RUN(test_default_dir);
    nftw(TMP, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    task_registry_free(REG);
    free(DATA);
    return check_summary_();
}
