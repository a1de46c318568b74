/* task — one task or group definition (a JSON file) parsed and validated
 * into a task (task_impl.h), and the accessors of a definition. Every field
 * is checked when the registry loads (task_registry.c), so that a typo fails
 * `chaejeom tasks` with the file and the field, not the end of a long run.
 * The definition format is documented in tasks/README.md. */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/sb.h"
#include "task_impl.h"

#define MAX_SHOTS 1000

/* ---------- definition parsing ---------- */

int task_def_fail(const task_defctx *c, const char *field, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int task_def_fail(const task_defctx *c, const char *field, const char *fmt, ...) {
    char msg[CJ_ERR_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return cj_fail(c->e, "%s: field '%s': %s", c->path, field, msg);
}

const char *task_def_type_name(const json_t *v) {
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "a list";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    default: return "null";
    }
}

int task_def_keys(const task_defctx *c, json_t *o, const char *prefix, const char *const *allowed) {
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v) {
        int ok = 0;
        for (int i = 0; allowed[i] && !ok; i++) ok = !strcmp(allowed[i], k);
        if (!ok) {
            char f[256];
            snprintf(f, sizeof f, "%s%s", prefix, k);
            return task_def_fail(c, f, "unknown field");
        }
    }
    return 0;
}

int task_def_object(const task_defctx *c, json_t *root, const char *key, const char *const *allowed, json_t **out) {
    char prefix[64];
    *out = json_object_get(root, key);
    if (!*out) return 0;
    if (!json_is_object(*out)) return task_def_fail(c, key, "expected an object, got %s", task_def_type_name(*out));
    snprintf(prefix, sizeof prefix, "%s.", key);
    return task_def_keys(c, *out, prefix, allowed);
}

/* String field; *out is malloc'd (dflt copied, or NULL when absent and dflt
 * is NULL). */
int task_def_str(const task_defctx *c, json_t *o, const char *key, const char *field, int required, const char *dflt,
                   char **out) {
    json_t *v = json_object_get(o, key);
    *out = NULL;
    if (!v) {
        if (required) return task_def_fail(c, field, "missing");
        if (dflt) *out = cj_xstrdup(dflt);
        return 0;
    }
    if (!json_is_string(v)) return task_def_fail(c, field, "expected a string, got %s", task_def_type_name(v));
    *out = cj_xstrndup(json_string_value(v), json_string_length(v));
    if (strlen(*out) != json_string_length(v)) {
        free(*out);
        *out = NULL;
        return task_def_fail(c, field, "contains a NUL character");
    }
    return 0;
}

int task_def_int(const task_defctx *c, json_t *o, const char *key, const char *field, long long dflt, long long lo,
                   long long hi, long long *out) {
    json_t *v = json_object_get(o, key);
    *out = dflt;
    if (!v) return 0;
    if (!json_is_integer(v)) return task_def_fail(c, field, "expected an integer, got %s", task_def_type_name(v));
    long long x = json_integer_value(v);
    if (x < lo || x > hi) return task_def_fail(c, field, "%lld is out of range [%lld, %lld]", x, lo, hi);
    *out = x;
    return 0;
}

int task_def_bool(const task_defctx *c, json_t *o, const char *key, const char *field, int dflt, int *out) {
    json_t *v = json_object_get(o, key);
    *out = dflt;
    if (!v) return 0;
    if (!json_is_boolean(v)) return task_def_fail(c, field, "expected true or false, got %s", task_def_type_name(v));
    *out = json_is_true(v);
    return 0;
}

void task_strs_free(char **v, int n) {
    for (int i = 0; i < n; i++) free(v[i]);
    free(v);
}

/* List of strings; absent -> *n = 0, *out = NULL (an error if required). */
int task_def_strs(const task_defctx *c, json_t *o, const char *key, const char *field, int required, char ***out,
                    int *n) {
    json_t *v = json_object_get(o, key);
    *out = NULL;
    *n = 0;
    if (!v) return required ? task_def_fail(c, field, "missing") : 0;
    if (!json_is_array(v)) return task_def_fail(c, field, "expected a list of strings, got %s", task_def_type_name(v));
    if (required && json_array_size(v) == 0) return task_def_fail(c, field, "is empty");
    if (json_array_size(v) > INT_MAX / 2) return task_def_fail(c, field, "too many items");
    char **s = cj_xcalloc(json_array_size(v) + 1, sizeof *s);
    for (size_t i = 0; i < json_array_size(v); i++) {
        json_t *it = json_array_get(v, i);
        if (!json_is_string(it) || strlen(json_string_value(it)) != json_string_length(it)) {
            task_strs_free(s, (int)i);
            return task_def_fail(c, field, "item %zu: expected a string, got %s", i, task_def_type_name(it));
        }
        s[i] = cj_xstrdup(json_string_value(it));
    }
    *out = s;
    *n = (int)json_array_size(v);
    return 0;
}

int task_def_compile(const task_defctx *c, const char *field, const char *src, tpl **out) {
    if (tpl_compile(src, out, c->e)) return cj_wrap(c->e, "%s: field '%s'", c->path, field);
    return 0;
}

static int get_tpl(const task_defctx *c, json_t *o, const char *key, int required, tpl **out) {
    json_t *v = json_object_get(o, key);
    *out = NULL;
    if (!v) return required ? task_def_fail(c, key, "missing") : 0;
    if (!json_is_string(v)) return task_def_fail(c, key, "expected a template string, got %s", task_def_type_name(v));
    return task_def_compile(c, key, json_string_value(v), out);
}

/* 1 if the relative path p has a ".." component, which would reach outside
 * the datasets folder. */
static int climbs_out(const char *p) {
    for (const char *s = p; (s = strstr(s, "..")); s += 2)
        if ((s == p || s[-1] == '/') && (s[2] == 0 || s[2] == '/')) return 1;
    return 0;
}

/* Letters, digits, '_', '-', '.': names never hold glob characters or the
 * comma that separates a selection. */
int task_valid_name(const char *s) {
    if (!*s) return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_' ||
              *s == '-' || *s == '.'))
            return 0;
    return 1;
}

void task_free(task *t) {
    if (!t) return;
    free(t->name);
    free(t->version);
    free(t->def_path);
    tpl_free(t->description);
    tpl_free(t->doc_to_text);
    tpl_free(t->doc_to_target);
    tpl_free(t->doc_to_labels);
    tpl_free(t->doc_to_continuation);
    tpl_free(t->choice_list);
    for (int i = 0; i < t->n_choice_items; i++) tpl_free(t->choice_items[i]);
    free(t->choice_items);
    free(t->target_delimiter);
    free(t->fewshot_delimiter);
    task_strs_free(t->columns, t->n_columns);
    task_strs_free(t->list_fields, t->n_list_fields);
    for (int i = 0; i < t->n_splits; i++) {
        free(t->splits[i].name);
        free(t->splits[i].path);
    }
    free(t->splits);
    task_gen_free(t);
    json_decref(t->fewshot_samples);
    tpl_free(t->fewshot_target);
    task_strs_free(t->metrics, t->n_metrics);
    if (t->doc_ids) task_strs_free(t->doc_ids, task_n_docs(t));
    json_decref(t->docs);
    json_decref(t->fewshot_docs);
    free(t->doc_hashes);
    for (int i = 0; i < t->n_files; i++) free(t->files[i]);
    free(t);
}

static int split_index(const task *t, const char *name) {
    for (int i = 0; i < t->n_splits; i++)
        if (!strcmp(t->splits[i].name, name)) return i;
    return -1;
}

static int parse_splits(const task_defctx *c, json_t *d, task *t) {
    json_t *s = json_object_get(d, "splits");
    if (!s) return task_def_fail(c, "dataset.splits", "missing");
    if (!json_is_object(s) || json_object_size(s) == 0)
        return task_def_fail(c, "dataset.splits", "expected an object of split name -> file path");
    t->splits = cj_xcalloc(json_object_size(s), sizeof *t->splits);
    const char *k;
    json_t *v;
    json_object_foreach(s, k, v) {
        char field[300];
        snprintf(field, sizeof field, "dataset.splits.%s", k);
        if (!task_valid_name(k)) return task_def_fail(c, field, "split names are letters, digits, '_', '-' and '.'");
        if (!json_is_string(v) || !json_string_length(v))
            return task_def_fail(c, field, "expected a file path relative to the datasets folder");
        const char *p = json_string_value(v);
        if (p[0] == '/' || strlen(p) != json_string_length(v) || climbs_out(p))
            return task_def_fail(c, field, "'%s' must be a path inside the datasets folder", p);
        t->splits[t->n_splits].name = cj_xstrdup(k);
        t->splits[t->n_splits].path = cj_xstrdup(p);
        t->n_splits++;
    }
    return 0;
}

/* The delimiter and quoting of a CSV file: one byte other than a quote or a
 * line break; quoting off for files whose text holds bare quotes. */
static int parse_csv_dialect(const task_defctx *c, json_t *d, task *t) {
    json_t *dl = json_object_get(d, "delimiter");
    int quoting;
    if ((dl || json_object_get(d, "quoting")) && t->format != DS_CSV)
        return task_def_fail(c, dl ? "dataset.delimiter" : "dataset.quoting", "only CSV files have one");
    if (dl) {
        const char *s = json_is_string(dl) ? json_string_value(dl) : "";
        if (json_string_length(dl) != 1 || strchr("\"\r\n", s[0]) || (unsigned char)s[0] >= 0x80)
            return task_def_fail(c, "dataset.delimiter", "expected one ASCII character other than a quote or a line break");
        t->csv_delimiter = s[0];
    }
    if (task_def_bool(c, d, "quoting", "dataset.quoting", 1, &quoting)) return -1;
    t->csv_no_quoting = !quoting;
    return 0;
}

static int parse_dataset(const task_defctx *c, json_t *root, task *t) {
    static const char *const keys[] = {"format", "header", "columns", "splits", "delimiter", "quoting", "list_fields",
                                       NULL};
    json_t *d = json_object_get(root, "dataset");
    if (!d) return task_def_fail(c, "dataset", "missing");
    if (!json_is_object(d)) return task_def_fail(c, "dataset", "expected an object, got %s", task_def_type_name(d));
    if (task_def_keys(c, d, "dataset.", keys)) return -1;
    char *fmt;
    if (task_def_str(c, d, "format", "dataset.format", 1, NULL, &fmt)) return -1;
    int bad = ds_format_parse(fmt, &t->format) != 0;
    if (bad) task_def_fail(c, "dataset.format", "unknown format '%s' (csv, jsonl, json, hellaswag)", fmt);
    free(fmt);
    if (bad) return -1;
    if (task_def_strs(c, d, "columns", "dataset.columns", 0, &t->columns, &t->n_columns)) return -1;
    if (task_def_bool(c, d, "header", "dataset.header", t->columns == NULL, &t->csv_header)) return -1;
    if (t->format != DS_CSV && (t->columns || json_object_get(d, "header")))
        return task_def_fail(c, t->columns ? "dataset.columns" : "dataset.header", "only CSV files have columns");
    if (t->format == DS_CSV && !t->csv_header && !t->columns)
        return task_def_fail(c, "dataset.columns", "required when the CSV has no header row");
    if (t->format == DS_CSV && t->csv_header && t->columns)
        return task_def_fail(c, "dataset.columns", "the header row names the columns; leave one of them out");
    if (parse_csv_dialect(c, d, t) || task_def_strs(c, d, "list_fields", "dataset.list_fields", 0, &t->list_fields,
                                               &t->n_list_fields))
        return -1;
    return parse_splits(c, d, t);
}

static int parse_choices(const task_defctx *c, json_t *root, task *t) {
    json_t *v = json_object_get(root, "doc_to_choice");
    if (!v) return t->output == TASK_MULTIPLE_CHOICE ? task_def_fail(c, "doc_to_choice", "missing") : 0;
    if (json_is_string(v)) return task_def_compile(c, "doc_to_choice", json_string_value(v), &t->choice_list);
    if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > 10000)
        return task_def_fail(c, "doc_to_choice", "expected a template or a non-empty list of templates, got %s",
                          task_def_type_name(v));
    t->choice_items = cj_xcalloc(json_array_size(v), sizeof *t->choice_items);
    for (size_t i = 0; i < json_array_size(v); i++) {
        json_t *it = json_array_get(v, i);
        if (!json_is_string(it))
            return task_def_fail(c, "doc_to_choice", "item %zu: expected a string, got %s", i, task_def_type_name(it));
        if (task_def_compile(c, "doc_to_choice", json_string_value(it), &t->choice_items[i])) return -1;
        t->n_choice_items++;
    }
    return 0;
}

static int parse_target(const task_defctx *c, json_t *root, task *t) {
    json_t *v = json_object_get(root, "doc_to_target");
    if (!v) return t->output == TASK_LOGLIKELIHOOD_ROLLING ? 0 : task_def_fail(c, "doc_to_target", "missing");
    if (json_is_integer(v)) {
        /* An index literal: the same as the template "{{N}}". */
        char src[64];
        snprintf(src, sizeof src, "{{%lld}}", (long long)json_integer_value(v));
        if (json_integer_value(v) < 0) return task_def_fail(c, "doc_to_target", "a negative index");
        return task_def_compile(c, "doc_to_target", src, &t->doc_to_target);
    }
    if (!json_is_string(v))
        return task_def_fail(c, "doc_to_target", "expected a template or an index, got %s", task_def_type_name(v));
    return task_def_compile(c, "doc_to_target", json_string_value(v), &t->doc_to_target);
}

/* A required split name, as its index into dataset.splits. */
static int get_split(const task_defctx *c, json_t *o, const char *key, const char *field, const task *t, int *out) {
    char *split;
    if (task_def_str(c, o, key, field, 1, NULL, &split)) return -1;
    *out = split_index(t, split);
    if (*out < 0) task_def_fail(c, field, "no split '%s' in dataset.splits", split);
    free(split);
    return *out < 0 ? -1 : 0;
}

/* Where the shots come from: a split of the dataset, or docs written in
 * the definition (lm-eval's fewshot_config.samples). */
static int parse_shot_source(const task_defctx *c, json_t *f, task *t) {
    json_t *samples = json_object_get(f, "samples");
    if (json_object_get(f, "split") && samples)
        return task_def_fail(c, "fewshot.samples", "give either 'split' or 'samples', not both");
    if (!samples) return get_split(c, f, "split", "fewshot.split", t, &t->fewshot_split);
    if (!json_is_array(samples) || !json_array_size(samples) || json_array_size(samples) > MAX_SHOTS)
        return task_def_fail(c, "fewshot.samples", "expected a list of 1 to %d docs", MAX_SHOTS);
    for (size_t i = 0; i < json_array_size(samples); i++)
        if (!json_is_object(json_array_get(samples, i)))
            return task_def_fail(c, "fewshot.samples", "item %zu: expected a doc (an object), got %s", i,
                                 task_def_type_name(json_array_get(samples, i)));
    t->fewshot_samples = json_incref(samples);
    return 0;
}

static int parse_fewshot(const task_defctx *c, json_t *root, task *t) {
    static const char *const keys[] = {"split", "samples", "k", "sampler", "seed", "doc_to_target", NULL};
    json_t *f;
    t->fewshot_split = -1;
    if (task_def_object(c, root, "fewshot", keys, &f)) return -1;
    if (!f) return 0;
    if (parse_shot_source(c, f, t)) return -1;
    long long k, seed;
    if (task_def_int(c, f, "k", "fewshot.k", 0, 0, MAX_SHOTS, &k)) return -1;
    if (task_def_int(c, f, "seed", "fewshot.seed", 0, 0, LLONG_MAX, &seed)) return -1;
    if (t->fewshot_samples && (size_t)k > json_array_size(t->fewshot_samples))
        return task_def_fail(c, "fewshot.k", "%lld shots, but fewshot.samples holds %zu", k,
                             json_array_size(t->fewshot_samples));
    t->shots = (int)k;
    t->seed = (uint64_t)seed;
    json_t *ft = json_object_get(f, "doc_to_target");
    if (ft && !json_is_string(ft))
        return task_def_fail(c, "fewshot.doc_to_target", "expected a template string, got %s", task_def_type_name(ft));
    if (ft && task_def_compile(c, "fewshot.doc_to_target", json_string_value(ft), &t->fewshot_target)) return -1;
    char *sampler;
    if (task_def_str(c, f, "sampler", "fewshot.sampler", 0, "first_n", &sampler)) return -1;
    int ok = 1;
    if (!strcmp(sampler, "first_n")) t->sampler = SAMPLER_FIRST_N;
    else if (!strcmp(sampler, "random")) t->sampler = SAMPLER_RANDOM;
    else ok = 0;
    if (!ok) task_def_fail(c, "fewshot.sampler", "unknown sampler '%s' (first_n, random)", sampler);
    free(sampler);
    return ok ? 0 : -1;
}

static const char *output_name(task_output o) {
    return o == TASK_MULTIPLE_CHOICE ? "multiple_choice"
           : o == TASK_LOGLIKELIHOOD_ROLLING ? "loglikelihood_rolling"
                                             : "generate_until";
}

/* name, version and output_type: what the task is called and what it asks. */
static int parse_identity(const task_defctx *c, json_t *root, task *t) {
    if (task_def_str(c, root, "name", "name", 1, NULL, &t->name)) return -1;
    if (!task_valid_name(t->name)) return task_def_fail(c, "name", "'%s': use letters, digits, '_', '-' and '.'", t->name);
    json_t *ver = json_object_get(root, "version");
    if (json_is_integer(ver) || json_is_real(ver)) {
        sb b;
        sb_init(&b);
        tpl_value_text(ver, &b, c->e);
        t->version = sb_take(&b);
    } else if (task_def_str(c, root, "version", "version", 1, NULL, &t->version)) return -1;

    char *out;
    if (task_def_str(c, root, "output_type", "output_type", 1, NULL, &out)) return -1;
    int found = 0;
    for (int o = 0; o < 3 && !found; o++)
        if (!strcmp(out, output_name((task_output)o))) t->output = (task_output)o, found = 1;
    if (!found) task_def_fail(c, "output_type", "unknown type '%s' (multiple_choice, loglikelihood_rolling, generate_until)", out);
    free(out);
    return found ? 0 : -1;
}


/* The templates that turn a doc into a prompt and its answers, and the
 * multiple-choice-only fields that go with them. */
static int parse_templates(const task_defctx *c, json_t *root, task *t) {
    if (get_tpl(c, root, "description", 0, &t->description) || get_tpl(c, root, "doc_to_text", 1, &t->doc_to_text) ||
        parse_choices(c, root, t) || parse_target(c, root, t) || get_tpl(c, root, "doc_to_labels", 0, &t->doc_to_labels) ||
        get_tpl(c, root, "doc_to_continuation", 0, &t->doc_to_continuation))
        return -1;
    if (task_def_bool(c, root, "partial_scoring", "partial_scoring", 0, &t->partial)) return -1;
    if (t->output != TASK_MULTIPLE_CHOICE) {
        const char *mc_only[] = {"doc_to_labels", "partial_scoring"};
        for (int i = 0; i < 2; i++)
            if (json_object_get(root, mc_only[i])) return task_def_fail(c, mc_only[i], "only for multiple_choice tasks");
    }
    if (t->partial && !t->doc_to_continuation)
        return task_def_fail(c, "doc_to_continuation", "required when partial_scoring is true");
    if (!t->partial && t->doc_to_continuation)
        return task_def_fail(c, "doc_to_continuation", "only used when partial_scoring is true");
    return 0;
}

int task_def_in_list(const char *const *l, const char *m) {
    for (; *l; l++)
        if (!strcmp(*l, m)) return 1;
    return 0;
}

static int metric_ok(task_output o, const char *m) {
    static const char *const mc[] = {"acc", "acc_norm", "acc_bytes", "exact_match", "mc2", "f1", NULL};
    static const char *const rolling[] = {"token_perplexity", "word_perplexity", "byte_perplexity", "bits_per_byte",
                                          NULL};
    if (o == TASK_GENERATE_UNTIL) return task_gen_metric_ok(m);
    return task_def_in_list(o == TASK_MULTIPLE_CHOICE ? mc : rolling, m);
}

static int parse_metrics(const task_defctx *c, json_t *root, task *t) {
    if (task_def_strs(c, root, "metrics", "metrics", 1, &t->metrics, &t->n_metrics)) return -1;
    for (int i = 0; i < t->n_metrics; i++) {
        if (!metric_ok(t->output, t->metrics[i]))
            return task_def_fail(c, "metrics", "'%s' is not a metric of %s tasks", t->metrics[i], output_name(t->output));
        if (!strcmp(t->metrics[i], "mc2") && !t->doc_to_labels)
            return task_def_fail(c, "doc_to_labels", "required by the mc2 metric");
    }
    return 0;
}

/* Fields that others depend on come first: the output type decides which
 * fields are allowed, the splits which names eval_split and fewshot.split
 * may take. */
int task_def_parse(const char *path, json_t *root, task *t, cj_err *e) {
    static const char *const keys[] = {"name", "version", "description", "dataset", "eval_split", "output_type",
                                       "doc_to_text", "doc_to_choice", "doc_to_target", "doc_to_labels",
                                       "doc_to_continuation", "partial_scoring", "target_delimiter",
                                       "fewshot_delimiter", "fewshot", "generation", "metrics", "comment",
                                       "filter", "filters", "exact_match_options", "abstention",
                                       "doc_to_references", NULL};
    const task_defctx ctx = {path, e}, *c = &ctx;
    if (task_def_keys(c, root, "", keys) || parse_identity(c, root, t) || parse_dataset(c, root, t) ||
        get_split(c, root, "eval_split", "eval_split", t, &t->eval_split) || parse_templates(c, root, t))
        return -1;
    if (task_def_str(c, root, "target_delimiter", "target_delimiter", 0, " ", &t->target_delimiter) ||
        task_def_str(c, root, "fewshot_delimiter", "fewshot_delimiter", 0, "\n\n", &t->fewshot_delimiter) ||
        parse_fewshot(c, root, t) || task_gen_parse(c, root, t))
        return -1;
    if (t->output == TASK_LOGLIKELIHOOD_ROLLING && t->shots > 0)
        return task_def_fail(c, "fewshot.k", "loglikelihood_rolling tasks take no few-shot examples");
    if (parse_metrics(c, root, t) || (t->output == TASK_GENERATE_UNTIL && task_gen_check(c, t))) return -1;
    json_t *cm = json_object_get(root, "comment");
    if (cm && !json_is_string(cm)) return task_def_fail(c, "comment", "expected a string");
    return 0;
}

int task_def_parse_group(const char *path, json_t *root, task_group *g, cj_err *e) {
    static const char *const keys[] = {"group", "members", "description", "version", "comment", NULL};
    const task_defctx ctx = {path, e}, *c = &ctx;
    char *name, **members;
    int n;
    if (task_def_keys(c, root, "", keys)) return -1;
    if (task_def_str(c, root, "group", "group", 1, NULL, &name)) return -1;
    if (!task_valid_name(name)) {
        task_def_fail(c, "group", "'%s': use letters, digits, '_', '-' and '.'", name);
        free(name);
        return -1;
    }
    if (task_def_strs(c, root, "members", "members", 1, &members, &n)) {
        free(name);
        return -1;
    }
    g->name = name;
    g->members = (const char *const *)members;
    g->n_members = n;
    return 0;
}

void task_group_free(task_group *g) {
    free((char *)g->name);
    task_strs_free((char **)g->members, g->n_members);
}

/* ---------- definition accessors ---------- */

const char *task_name(const task *t) { return t->name; }
task_output task_output_type(const task *t) { return t->output; }
const char *task_version(const task *t) { return t->version; }
const char *task_def_path(const task *t) { return t->def_path; }
const char *task_def_sha256(const task *t) { return t->sha256; }
int task_default_shots(const task *t) { return t->shots; }
int task_n_metrics(const task *t) { return t->n_metrics; }
const char *task_metric(const task *t, int i) { return i >= 0 && i < t->n_metrics ? t->metrics[i] : NULL; }
const task_gen_opts *task_gen(const task *t) { return t->output == TASK_GENERATE_UNTIL ? &t->gen : NULL; }
