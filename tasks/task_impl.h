/* task_impl — the insides of a task, shared by the files of tasks/ that
 * build and use it: task.c (one definition parsed and validated),
 * task_registry.c (every definition of a folder, and selection), task_data.c
 * (the docs a task reads) and prompt.c (few-shot sampling and request
 * building). Nothing outside tasks/ includes this. */
#ifndef CJ_TASK_IMPL_H
#define CJ_TASK_IMPL_H

#include <jansson.h>
#include <stdint.h>

#include "../datasets/dataset.h"
#include "task.h"
#include "template.h"

typedef enum { SAMPLER_FIRST_N = 0, SAMPLER_RANDOM = 1 } task_sampler;

typedef struct {
    char *name; /* "test", "dev", ... */
    char *path; /* relative to the datasets root */
} task_split;

struct task {
    char *name, *version;
    char *def_path;  /* the definition file, for messages */
    char sha256[65]; /* of the definition file's bytes */
    task_output output;

    /* Templates (NULL when absent). doc_to_choice is either one template
     * yielding a list (choice_list) or a list of templates, one per choice
     * (choice_items[n_choice_items]). */
    tpl *description, *doc_to_text, *doc_to_target, *doc_to_labels, *doc_to_continuation;
    tpl *choice_list;
    tpl **choice_items;
    int n_choice_items;
    int partial; /* partial scoring: context i = prefix + choice i, shared continuation */
    char *target_delimiter, *fewshot_delimiter;

    /* Dataset. */
    ds_format format;
    int csv_header;
    char **columns; /* CSV without header: column names [n_columns] */
    int n_columns;
    char csv_delimiter; /* 0: ',' */
    int csv_no_quoting;
    char **list_fields; /* fields holding a list literal, parsed into a list [n_list_fields] */
    int n_list_fields;
    task_split *splits; /* [n_splits] */
    int n_splits;
    int eval_split;    /* index into splits */
    int fewshot_split; /* index into splits, -1 when the task has no few-shot split */
    int shots;         /* default k */
    task_sampler sampler;
    uint64_t seed; /* mixed into the random sampler's seed */

    /* Inline few-shot docs (fewshot.samples; NULL when the shots come from
     * a split) and the shots' own target template (fewshot.doc_to_target;
     * NULL: doc_to_target). */
    json_t *fewshot_samples;
    tpl *fewshot_target;

    /* generate_until */
    char **until; /* [n_until] */
    int n_until;
    int max_tokens;
    task_gen_opts gen;     /* its strings point into the owned fields below */
    task_filter *filters;  /* [n_filters]; strings owned */
    int n_filters;
    char **em_ignore;      /* [n_em_ignore] regexes_to_ignore */
    int n_em_ignore;
    char **abstention;     /* [n_abstention] */
    int n_abstention;
    char *correct_metric;
    tpl *refs_correct, *refs_incorrect; /* doc_to_references, NULL when absent */

    char **metrics; /* [n_metrics] */
    int n_metrics;

    /* Data, after task_load_data. fewshot_docs is docs itself (one extra
     * reference) when the few-shot split is the evaluation split. */
    int loaded;
    json_t *docs, *fewshot_docs;
    char **doc_ids;        /* [n docs] "split:index" */
    char (*doc_hashes)[65]; /* [n docs] */
    char *files[2];        /* data files read: eval split, then few-shot split if another file */
    char file_sha[2][65];
    int n_files;
};

/* --- task.c --- */

/* Where a definition is being parsed, for messages. */
typedef struct {
    const char *path; /* the definition file */
    cj_err *e;
} task_defctx;

/* "PATH: field 'FIELD': message"; returns -1. */
int task_def_fail(const task_defctx *c, const char *field, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* "an object", "a string", ...: for messages. */
const char *task_def_type_name(const json_t *v);
/* Fails on a key of o that is not in allowed (NULL-terminated); prefix
 * names the object in the message ("fewshot."). */
int task_def_keys(const task_defctx *c, json_t *o, const char *prefix, const char *const *allowed);
/* The optional object root[key] into *out (NULL when absent), with no key
 * outside allowed. */
int task_def_object(const task_defctx *c, json_t *root, const char *key, const char *const *allowed, json_t **out);
/* Typed fields of o, with defaults when absent; strings are malloc'd. */
int task_def_str(const task_defctx *c, json_t *o, const char *key, const char *field, int required, const char *dflt,
                 char **out);
int task_def_int(const task_defctx *c, json_t *o, const char *key, const char *field, long long dflt, long long lo,
                 long long hi, long long *out);
int task_def_bool(const task_defctx *c, json_t *o, const char *key, const char *field, int dflt, int *out);
int task_def_strs(const task_defctx *c, json_t *o, const char *key, const char *field, int required, char ***out,
                  int *n);
int task_def_compile(const task_defctx *c, const char *field, const char *src, tpl **out);
/* 1 if m is one of the NULL-terminated l. */
int task_def_in_list(const char *const *l, const char *m);
/* Letters, digits, '_', '-', '.'. */
int task_valid_name(const char *s);

/* Parses the definition at path (its JSON root) into t, or into g for a
 * group; errors name the file and the field. On failure the caller frees
 * t with task_free; g holds nothing. */
int task_def_parse(const char *path, json_t *root, task *t, cj_err *e);
int task_def_parse_group(const char *path, json_t *root, task_group *g, cj_err *e);
void task_free(task *t);
void task_group_free(task_group *g);
/* Frees v[0, n) and v. */
void task_strs_free(char **v, int n);

/* --- task_gen.c: the generate_until fields --- */

/* generation, filter / filters, exact_match_options, abstention,
 * doc_to_references (refused on other output types). */
int task_gen_parse(const task_defctx *c, json_t *root, task *t);
/* After the metrics are read: their inputs are there, each metric is
 * repeated per named filter ("exact_match,strict-match"), the correct
 * metric is one of them, and t->gen points at the owned fields. */
int task_gen_check(const task_defctx *c, task *t);
/* 1 if m is a metric of generate_until tasks. */
int task_gen_metric_ok(const char *m);
/* Frees the generation fields. */
void task_gen_free(task *t);

/* --- prompt_chat.c: the parts of a prompt, joined plain or through a chat template --- */

typedef struct {
    const task_chat *chat; /* NULL: plain, as task prompts always were */
    sb system;             /* the description, after the system instruction */
    sb shots;              /* the solved shots as text */
    json_t *turns;         /* the same shots as user / assistant messages */
} prompt_parts;

void prompt_parts_init(prompt_parts *p, const task_chat *chat);
void prompt_parts_free(prompt_parts *p);
void prompt_parts_system(prompt_parts *p, const char *description, const char *fewshot_delimiter);
void prompt_parts_shot(prompt_parts *p, const char *q, const char *a, const char *td, const char *fd);
/* What goes between the context and an answer: td, or "" under a template. */
const char *prompt_target_delimiter(const prompt_parts *p, const char *td);
/* The context that asks question; malloc'd, NULL (e set) when the template fails. */
char *prompt_context(const prompt_parts *p, const char *question, cj_err *e);

#endif
