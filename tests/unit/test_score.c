#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "../../metrics/score.h"
#include "../check.h"

static score_choice ch(double ll, const char *text, int greedy) {
    score_choice c = {ll, 1, score_utf8_chars(text), (int)strlen(text), greedy};
    return c;
}

static void test_acc_ties_go_to_lowest(void) {
    score_choice c[] = {ch(-1, "a", 0), ch(-1, "b", 0), ch(-2, "c", 0)};
    score_mc s;
    score_mc_doc(c, 3, 0, NULL, &s);
    CHECK(s.pred == 0 && s.acc == 1);
    score_mc_doc(c, 3, 1, NULL, &s);
    CHECK(s.pred == 0 && s.acc == 0);
    /* a tie between the last two: the middle one wins */
    score_choice d[] = {ch(-5, "a", 0), ch(-1, "b", 0), ch(-1, "c", 0)};
    score_mc_doc(d, 3, 2, NULL, &s);
    CHECK(s.pred == 1 && s.acc == 0);
    CHECK(isnan(s.mc2));
}

static void test_acc_norm_counts_code_points(void) {
    CHECK(score_utf8_chars("가나") == 2);
    CHECK(score_utf8_chars("abc") == 3);
    CHECK(score_utf8_chars("é🙂") == 2);
    CHECK(score_utf8_chars("") == 0);
    /* ll -3 over "가나" (2 code points, 6 bytes): -1.5 / char, -0.5 / byte.
     * ll -3.3 over "abc": -1.1 / char and / byte. */
    score_choice c[] = {ch(-3, "가나", 0), ch(-3.3, "abc", 1)};
    score_mc s;
    score_mc_doc(c, 2, 1, NULL, &s);
    CHECK(s.pred == 0 && s.acc == 0);
    CHECK(s.pred_norm == 1 && s.acc_norm == 1);
    CHECK(s.pred_bytes == 0 && s.acc_bytes == 0);
    CHECK(s.exact_match == 1);
    score_mc_doc(c, 2, 0, NULL, &s);
    CHECK(s.exact_match == 0);
}

static void test_empty_choice_text(void) {
    score_choice c[] = {ch(-2, "", 0), ch(-3, "ab", 0)};
    score_mc s;
    score_mc_doc(c, 2, 1, NULL, &s); /* -2 / 1 vs -1.5 */
    CHECK(s.pred_norm == 1);
}

static void test_mc2(void) {
    /* p = {0.5, 0.25, 0.25}, true = {0, 2}: 0.75 */
    score_choice c[] = {ch(log(0.5), "a", 0), ch(log(0.25), "b", 0), ch(log(0.25), "c", 0)};
    int labels[] = {1, 0, 1};
    score_mc s;
    score_mc_doc(c, 3, 0, labels, &s);
    CHECK_NEAR(s.mc2, 0.75, 1e-12);
    double v;
    CHECK(score_mc_metric(&s, "mc2", &v) == 0);
    CHECK_NEAR(v, 0.75, 1e-12);
    /* huge negative log-likelihoods do not underflow to 0/0 */
    score_choice d[] = {ch(-2000, "a", 0), ch(-2000 - log(3.0), "b", 0)};
    int l2[] = {0, 1};
    score_mc_doc(d, 2, -1, l2, &s);
    CHECK_NEAR(s.mc2, 0.25, 1e-12);
    CHECK(isnan(s.acc));
}

static void test_metric_names(void) {
    CHECK(score_is_mc_metric("acc") && score_is_mc_metric("acc_norm") && score_is_mc_metric("acc_bytes"));
    CHECK(score_is_mc_metric("exact_match") && score_is_mc_metric("mc2"));
    CHECK(!score_is_mc_metric("word_perplexity") && !score_is_mc_metric("bleu"));
    CHECK(score_is_rolling_metric("word_perplexity") && score_is_rolling_metric("byte_perplexity"));
    CHECK(score_is_rolling_metric("bits_per_byte") && score_is_rolling_metric("token_perplexity"));
    CHECK(!score_is_rolling_metric("acc"));
}

static void test_rolling(void) {
    score_rolling d[] = {{-10, 8, 5, 20}, {-20, 12, 5, 30}};
    double v;
    CHECK(score_rolling_metric(d, NULL, 2, "word_perplexity", &v) == 0);
    CHECK_NEAR(v, exp(3.0), 1e-12);
    CHECK(score_rolling_metric(d, NULL, 2, "byte_perplexity", &v) == 0);
    CHECK_NEAR(v, exp(0.6), 1e-12);
    CHECK(score_rolling_metric(d, NULL, 2, "bits_per_byte", &v) == 0);
    CHECK_NEAR(v, 0.6 / log(2.0), 1e-12);
    CHECK(score_rolling_metric(d, NULL, 2, "token_perplexity", &v) == 0);
    CHECK_NEAR(v, exp(30.0 / 20), 1e-12);
    int idx[] = {1, 1};
    CHECK(score_rolling_metric(d, idx, 2, "word_perplexity", &v) == 0);
    CHECK_NEAR(v, exp(4.0), 1e-12);
    CHECK(score_rolling_metric(d, NULL, 2, "nope", &v) == -1);
}

static void test_count_words(void) {
    CHECK(score_count_words("hello world") == 2);
    CHECK(score_count_words(" a b") == 3); /* leading run yields an empty piece */
    CHECK(score_count_words("a  b\n") == 3);
    CHECK(score_count_words("") == 1);
    CHECK(score_count_words("a\xc2\xa0" "b") == 2);     /* NBSP is whitespace to Python */
    CHECK(score_count_words("a\xe3\x80\x80" "b") == 2); /* ideographic space */
    CHECK(score_count_words("가 나\t다") == 3);
    CHECK(score_count_words("a\x1f" "b") == 2);
    CHECK(score_count_words("\xc2") == 1); /* truncated UTF-8 does not read past the end */
}

/* Generation scoring: kmmlu_direct's exact match (case, punctuation and
 * spaces ignored), regex extraction with its fallback, F1, abstention on
 * the raw text, and the correct flag from the chosen metric. */
static void test_generation(void) {
    static const char *const ignore[] = {" "}, *const abst[] = {"모르겠습니다", "no comment"};
    task_gen_opts o = {.ignore_case = 1, .ignore_punctuation = 1, .regexes_to_ignore = ignore,
                       .n_regexes_to_ignore = 1, .abstention = abst, .n_abstention = 2,
                       .correct_metric = "exact_match"};
    score_gen_refs ref = {.gold = "B"};
    score_gen g;
    cj_err e;
    CHECK(score_gen_doc(" b", &ref, &o, &g, &e) == 0);
    CHECK(g.answers[0].exact_match == 1 && g.correct == 1 && g.abstained == 0 && !strcmp(g.answers[0].answer, " b"));
    CHECK_NEAR(g.answers[0].f1, 1, 0); /* SQuAD normalisation lowercases and strips */
    score_gen_clear(&g);
    CHECK(score_gen_doc(" (B", &ref, &o, &g, &e) == 0 && g.answers[0].exact_match == 1);
    score_gen_clear(&g);
    CHECK(score_gen_doc(" C", &ref, &o, &g, &e) == 0 && g.answers[0].exact_match == 0 && g.correct == 0 && g.answers[0].f1 == 0);
    score_gen_clear(&g);
    CHECK(score_gen_doc(" 잘 모르겠습니다", &ref, &o, &g, &e) == 0 && g.abstained == 1 && g.correct == 0);
    score_gen_clear(&g);
    /* extraction: the last "answer is X"; nothing matches -> the fallback, but
     * abstention still reads the whole generation */
    task_filter f = {NULL, "answer is \\(?([A-D])", -1, "[invalid]"};
    o.filters = &f;
    o.n_filters = 1;
    CHECK(score_gen_doc("the answer is A, no, the answer is (B).", &ref, &o, &g, &e) == 0);
    CHECK(!strcmp(g.answers[0].answer, "B") && g.answers[0].exact_match == 1);
    score_gen_clear(&g);
    CHECK(score_gen_doc("I have no comment.", &ref, &o, &g, &e) == 0);
    CHECK(!strcmp(g.answers[0].answer, "[invalid]") && g.answers[0].exact_match == 0 && g.abstained == 1);
    score_gen_clear(&g);
    /* without a gold text there is nothing to match: NAN, no verdict */
    score_gen_refs none = {0};
    CHECK(score_gen_doc("the answer is A", &none, &o, &g, &e) == 0 && isnan(g.answers[0].exact_match) && g.correct == -1);
    score_gen_clear(&g);
    f.regex = "(unclosed";
    CHECK(score_gen_doc("x", &ref, &o, &g, &e) == -1 && strstr(e.msg, "filter"));
}

/* TruthfulQA scores, and the correct flag from rougeL_acc. */
static void test_generation_truthfulqa(void) {
    static const char *const t[] = {"Nothing happens.", "The seeds pass through you."},
                             *const f[] = {"You grow watermelons in your stomach."};
    task_gen_opts o = {.correct_metric = "rougeL_acc"};
    score_gen_refs ref = {NULL, t, 2, f, 1};
    score_gen g;
    cj_err e;
    CHECK(score_gen_doc("Nothing happens.", &ref, &o, &g, &e) == 0 && g.answers[0].has_tqa);
    double v;
    CHECK(score_gen_metric(&g, "rougeL_max", &v) == 0 && fabs(v - 100) < 1e-9);
    CHECK(score_gen_metric(&g, "rougeL_acc", &v) == 0 && v == 1 && g.correct == 1);
    CHECK(score_gen_metric(&g, "bleu_max", &v) == 0 && v == 0); /* 3 tokens: BLEU is 0 */
    CHECK(score_gen_metric(&g, "bleu_acc", &v) == 0 && v == 0); /* a tie is not a win */
    CHECK(score_gen_metric(&g, "acc", &v) == -1);
    CHECK(g.abstained == -1 && isnan(g.answers[0].exact_match));
    score_gen_clear(&g);
    CHECK(score_gen_doc("You grow watermelons in your stomach.", &ref, &o, &g, &e) == 0 && g.correct == 0);
    CHECK(score_gen_metric(&g, "bleu_diff", &v) == 0 && v < 0);
    score_gen_clear(&g);
    CHECK(score_is_gen_metric("rouge2_diff") && score_is_gen_metric("f1") && !score_is_gen_metric("mc2"));
}

/* score_f1_macro against sklearn's f1_score(average="macro") on 200 seeded
 * random label sets (tests/fixtures/f1/make_macro_f1.py wrote them). */
#define F1_FIXTURE "tests/fixtures/f1/macro_f1.txt"
static void test_f1_macro_matches_sklearn(void) {
    FILE *f = fopen(F1_FIXTURE, "r");
    CHECKF(f != NULL, "cannot open %s", F1_FIXTURE);
    if (!f) return;
    double want, worst = 0;
    int n, cases = 0;
    while (fscanf(f, "%lf %d", &want, &n) == 2 && n > 0 && n <= 100000) {
        int *gold = malloc(sizeof *gold * (size_t)n), *pred = malloc(sizeof *pred * (size_t)n), ok = 1;
        for (int i = 0; i < n && ok; i++) ok = fscanf(f, "%d", &gold[i]) == 1;
        for (int i = 0; i < n && ok; i++) ok = fscanf(f, "%d", &pred[i]) == 1;
        CHECKF(ok, "case %d: short line", cases);
        double got = score_f1_macro(gold, pred, NULL, n);
        if (fabs(got - want) > worst) worst = fabs(got - want);
        CHECKF(fabs(got - want) <= 1e-15, "case %d (n=%d): %.17g, sklearn %.17g", cases, n, got, want);
        free(gold);
        free(pred);
        cases++;
    }
    fclose(f);
    CHECKF(cases == 200, "%d cases read", cases);
    printf("  macro F1: %d cases, max |diff| vs sklearn %.3g\n", cases, worst);
}

static void test_f1_macro_resample_and_names(void) {
    int gold[] = {0, 1, 1, 2}, pred[] = {0, 1, 2, 2}, idx[] = {1, 1, 0};
    /* idx picks docs 1, 1, 0: labels 0 and 1 both perfect */
    CHECK_NEAR(score_f1_macro(gold, pred, idx, 3), 1.0, 0);
    CHECK(isnan(score_f1_macro(gold, pred, NULL, 0)));
    CHECK(score_is_mc_metric("f1") && score_is_mc_corpus_metric("f1") && !score_is_mc_corpus_metric("acc"));
    score_mc s = {0};
    double v;
    CHECK(score_mc_metric(&s, "f1", &v) != 0); /* no per-doc value */
}

int main(void) {
    RUN(test_acc_ties_go_to_lowest);
    RUN(test_acc_norm_counts_code_points);
    RUN(test_empty_choice_text);
    RUN(test_mc2);
    RUN(test_metric_names);
    RUN(test_rolling);
    RUN(test_count_words);
    RUN(test_generation);
    RUN(test_generation_truthfulqa);
    RUN(test_f1_macro_matches_sklearn);
    RUN(test_f1_macro_resample_and_names);
    return check_summary_();
}
