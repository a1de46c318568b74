/* task_gen — the fields of a generate_until task definition (task_impl.h:
 * task_gen_parse, task_gen_check): generation parameters, answer filters
 * (one unnamed `filter`, or a list of named `filters` as lm-eval's
 * filter_list, each scored on its own), exact_match options, abstention
 * patterns and TruthfulQA references. Errors name the file and the field;
 * the task owns what is parsed (task_gen_free). */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "task_impl.h"

#define MAX_FILTERS 16

/* A pattern is checked when the definition loads, so that a typo fails
 * `chaejeom tasks`, not the end of a long run. Same flags as the scorer
 * (metrics/textmetrics.h: UTF + UCP). */
static int check_regex(const task_defctx *c, const char *field, const char *pattern) {
    int code;
    PCRE2_SIZE off;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &code, &off, NULL);
    if (re) {
        pcre2_code_free(re);
        return 0;
    }
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(code, msg, sizeof msg);
    return task_def_fail(c, field, "pattern '%s' does not compile at offset %zu: %s", pattern, (size_t)off,
                      (const char *)msg);
}

static int get_real(const task_defctx *c, json_t *o, const char *key, const char *field, double dflt, double lo,
                    double hi, double *out) {
    json_t *v = json_object_get(o, key);
    *out = dflt;
    if (!v) return 0;
    if (!json_is_number(v)) return task_def_fail(c, field, "expected a number, got %s", task_def_type_name(v));
    double x = json_number_value(v);
    if (!(x >= lo && x <= hi)) return task_def_fail(c, field, "%g is out of range [%g, %g]", x, lo, hi);
    *out = x;
    return 0;
}

/* Only generate_until tasks may carry these fields. */
static int gen_only(const task_defctx *c, json_t *root, const task *t) {
    static const char *const f[] = {"generation", "filter", "filters", "exact_match_options", "abstention", "doc_to_references"};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        if (json_object_get(root, f[i]) && t->output != TASK_GENERATE_UNTIL)
            return task_def_fail(c, f[i], "only for generate_until tasks");
    return 0;
}

static int parse_generation(const task_defctx *c, json_t *root, task *t) {
    static const char *const keys[] = {"until", "max_tokens", "temperature", "top_p", "seed", NULL};
    json_t *g;
    t->max_tokens = 256;
    t->gen.temperature = 0;
    t->gen.top_p = 1;
    if (task_def_object(c, root, "generation", keys, &g)) return -1;
    if (!g) return 0;
    if (task_def_strs(c, g, "until", "generation.until", 0, &t->until, &t->n_until)) return -1;
    for (int i = 0; i < t->n_until; i++)
        if (!t->until[i][0]) return task_def_fail(c, "generation.until", "item %d is empty", i);
    long long m, seed;
    if (task_def_int(c, g, "max_tokens", "generation.max_tokens", 256, 1, 1 << 20, &m)) return -1;
    t->max_tokens = (int)m;
    if (get_real(c, g, "temperature", "generation.temperature", 0, 0, 100, &t->gen.temperature) ||
        get_real(c, g, "top_p", "generation.top_p", 1, 1e-9, 1, &t->gen.top_p) ||
        task_def_int(c, g, "seed", "generation.seed", 0, 0, LLONG_MAX, &seed))
        return -1;
    t->gen.has_seed = json_object_get(g, "seed") != NULL;
    t->gen.seed = (uint64_t)seed;
    return 0;
}

static int parse_one_filter(const task_defctx *c, json_t *f, const char *field, int named, task_filter *out) {
    static const char *const keys[] = {"name", "regex", "group_select", "fallback", NULL};
    char prefix[40], fregex[48], fname[48], fgs[56], ffb[56];
    snprintf(prefix, sizeof prefix, "%s.", field);
    snprintf(fregex, sizeof fregex, "%sregex", prefix);
    snprintf(fname, sizeof fname, "%sname", prefix);
    snprintf(fgs, sizeof fgs, "%sgroup_select", prefix);
    snprintf(ffb, sizeof ffb, "%sfallback", prefix);
    if (!json_is_object(f)) return task_def_fail(c, field, "expected an object, got %s", task_def_type_name(f));
    if (task_def_keys(c, f, prefix, keys + !named)) return -1;
    char *name = NULL, *regex = NULL, *fallback = NULL;
    long long gs = 0;
    int rc = (named && task_def_str(c, f, "name", fname, 1, NULL, &name)) ||
             task_def_str(c, f, "regex", fregex, 1, NULL, &regex) || check_regex(c, fregex, regex) ||
             task_def_int(c, f, "group_select", fgs, 0, -1000000, 1000000, &gs) ||
             task_def_str(c, f, "fallback", ffb, 0, "[invalid]", &fallback);
    if (!rc && name && !task_valid_name(name))
        rc = task_def_fail(c, fname, "'%s': use letters, digits, '_', '-' and '.'", name);
    *out = (task_filter){name, regex, (int)gs, fallback};
    return rc ? -1 : 0;
}

/* `filter` (one, unnamed: metric names as declared) or `filters` (named,
 * each metric reported once per filter). */
static int parse_filters(const task_defctx *c, json_t *root, task *t) {
    json_t *one = json_object_get(root, "filter"), *list = json_object_get(root, "filters");
    if (one && list) return task_def_fail(c, "filters", "give either 'filter' or 'filters', not both");
    if (one) {
        t->filters = cj_xcalloc(1, sizeof *t->filters);
        t->n_filters = 1;
        return parse_one_filter(c, one, "filter", 0, &t->filters[0]);
    }
    if (!list) return 0;
    if (!json_is_array(list) || !json_array_size(list) || json_array_size(list) > MAX_FILTERS)
        return task_def_fail(c, "filters", "expected a list of 1 to %d filters", MAX_FILTERS);
    t->filters = cj_xcalloc(json_array_size(list), sizeof *t->filters);
    for (size_t i = 0; i < json_array_size(list); i++) {
        char field[32];
        snprintf(field, sizeof field, "filters[%zu]", i);
        t->n_filters++;
        if (parse_one_filter(c, json_array_get(list, i), field, 1, &t->filters[i])) return -1;
        for (size_t k = 0; k < i; k++)
            if (!strcmp(t->filters[k].name, t->filters[i].name))
                return task_def_fail(c, field, "a second filter named '%s'", t->filters[i].name);
    }
    return 0;
}

static int parse_exact_match(const task_defctx *c, json_t *root, task *t) {
    static const char *const keys[] = {"ignore_case", "ignore_punctuation", "ignore_numbers", "regexes_to_ignore",
                                       NULL};
    json_t *o;
    if (task_def_object(c, root, "exact_match_options", keys, &o)) return -1;
    if (!o) return 0;
    if (task_def_bool(c, o, "ignore_case", "exact_match_options.ignore_case", 0, &t->gen.ignore_case) ||
        task_def_bool(c, o, "ignore_punctuation", "exact_match_options.ignore_punctuation", 0,
                 &t->gen.ignore_punctuation) ||
        task_def_bool(c, o, "ignore_numbers", "exact_match_options.ignore_numbers", 0, &t->gen.ignore_numbers) ||
        task_def_strs(c, o, "regexes_to_ignore", "exact_match_options.regexes_to_ignore", 0, &t->em_ignore,
                 &t->n_em_ignore))
        return -1;
    for (int i = 0; i < t->n_em_ignore; i++)
        if (check_regex(c, "exact_match_options.regexes_to_ignore", t->em_ignore[i])) return -1;
    return 0;
}

static int parse_abstention(const task_defctx *c, json_t *root, task *t) {
    static const char *const keys[] = {"patterns", "correct_metric", NULL};
    json_t *a;
    if (task_def_object(c, root, "abstention", keys, &a)) return -1;
    if (!a) return 0;
    if (task_def_strs(c, a, "patterns", "abstention.patterns", 1, &t->abstention, &t->n_abstention)) return -1;
    for (int i = 0; i < t->n_abstention; i++)
        if (check_regex(c, "abstention.patterns", t->abstention[i])) return -1;
    return task_def_str(c, a, "correct_metric", "abstention.correct_metric", 0, NULL, &t->correct_metric);
}

static int parse_references(const task_defctx *c, json_t *root, task *t) {
    static const char *const keys[] = {"correct", "incorrect", NULL};
    json_t *r;
    if (task_def_object(c, root, "doc_to_references", keys, &r)) return -1;
    if (!r) return 0;
    json_t *tc = json_object_get(r, "correct"), *ti = json_object_get(r, "incorrect");
    if (!json_is_string(tc) || !json_is_string(ti))
        return task_def_fail(c, "doc_to_references", "expected templates 'correct' and 'incorrect'");
    return task_def_compile(c, "doc_to_references.correct", json_string_value(tc), &t->refs_correct) ||
                   task_def_compile(c, "doc_to_references.incorrect", json_string_value(ti), &t->refs_incorrect)
               ? -1
               : 0;
}

/* lm-eval's truthfulqa_gen metrics (metrics/truthfulqa_gen.h). */
static const char *const TQA_METRICS[] = {"bleu_max",   "bleu_acc",    "bleu_diff",  "rouge1_max",
                                          "rouge1_acc", "rouge1_diff", "rouge2_max", "rouge2_acc",
                                          "rouge2_diff", "rougeL_max", "rougeL_acc", "rougeL_diff", NULL};

int task_gen_parse(const task_defctx *c, json_t *root, task *t) {
    return gen_only(c, root, t) || parse_generation(c, root, t) || parse_filters(c, root, t) ||
                   parse_exact_match(c, root, t) || parse_abstention(c, root, t) || parse_references(c, root, t)
               ? -1
               : 0;
}

int task_gen_metric_ok(const char *m) {
    static const char *const gen[] = {"exact_match", "f1", NULL};
    return task_def_in_list(gen, m) || task_def_in_list(TQA_METRICS, m);
}

/* 1 for a per-doc 0/1 metric (exact_match, *_acc), by its name before any
 * ",FILTER". */
static int is_binary(const char *m) {
    size_t l = strcspn(m, ",");
    return (l == 11 && !strncmp(m, "exact_match", l)) || (l > 4 && !strncmp(m + l - 4, "_acc", 4));
}

/* With named filters, each declared metric becomes one per filter, named
 * as lm-eval names them: "METRIC,FILTER". */
static void expand_metrics(task *t) {
    if (!t->n_filters || !t->filters[0].name) return;
    int n = t->n_metrics * t->n_filters;
    char **v = cj_xcalloc((size_t)n + 1, sizeof *v);
    for (int i = 0; i < t->n_metrics; i++)
        for (int f = 0; f < t->n_filters; f++) {
            size_t l = strlen(t->metrics[i]) + strlen(t->filters[f].name) + 2;
            v[i * t->n_filters + f] = cj_xmalloc(l);
            snprintf(v[i * t->n_filters + f], l, "%s,%s", t->metrics[i], t->filters[f].name);
        }
    task_strs_free(t->metrics, t->n_metrics);
    t->metrics = v;
    t->n_metrics = n;
}

/* A generate_until task's metrics need their inputs; the correct metric for
 * hallucination_rate is one of its per-doc 0/1 metrics (the first
 * exact_match, else the first *_acc, by default). */
int task_gen_check(const task_defctx *c, task *t) {
    for (int i = 0; i < t->n_metrics; i++) {
        const char *m = t->metrics[i];
        if (task_def_in_list(TQA_METRICS, m) && !t->refs_correct)
            return task_def_fail(c, "doc_to_references", "required by the %s metric", m);
        if ((!strcmp(m, "exact_match") || !strcmp(m, "f1")) && !t->doc_to_target)
            return task_def_fail(c, "doc_to_target", "required by the %s metric", m);
    }
    expand_metrics(t);
    if (t->correct_metric) {
        int ok = 0;
        for (int i = 0; i < t->n_metrics && !ok; i++) ok = !strcmp(t->metrics[i], t->correct_metric);
        if (!ok || !is_binary(t->correct_metric))
            return task_def_fail(c, "abstention.correct_metric",
                                 "'%s' is not one of the task's 0/1 metrics (exact_match or *_acc%s)",
                                 t->correct_metric, t->n_filters && t->filters[0].name ? ", then ',FILTER'" : "");
    } else if (t->n_abstention) {
        int pick = -1;
        for (int i = 0; i < t->n_metrics && pick < 0; i++)
            if (is_binary(t->metrics[i]) && !strncmp(t->metrics[i], "exact_match", 11)) pick = i;
        for (int i = 0; i < t->n_metrics && pick < 0; i++)
            if (is_binary(t->metrics[i])) pick = i;
        if (pick >= 0) t->correct_metric = cj_xstrdup(t->metrics[pick]);
    }
    t->gen.filters = t->filters;
    t->gen.n_filters = t->n_filters;
    t->gen.regexes_to_ignore = (const char *const *)t->em_ignore;
    t->gen.n_regexes_to_ignore = t->n_em_ignore;
    t->gen.abstention = (const char *const *)t->abstention;
    t->gen.n_abstention = t->n_abstention;
    t->gen.correct_metric = t->correct_metric;
    return 0;
}

void task_gen_free(task *t) {
    for (int i = 0; i < t->n_filters; i++) {
        free((char *)t->filters[i].name);
        free((char *)t->filters[i].regex);
        free((char *)t->filters[i].fallback);
    }
    free(t->filters);
    task_strs_free(t->until, t->n_until);
    task_strs_free(t->em_ignore, t->n_em_ignore);
    task_strs_free(t->abstention, t->n_abstention);
    free(t->correct_metric);
    tpl_free(t->refs_correct);
    tpl_free(t->refs_incorrect);
}
