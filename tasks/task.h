/* task — task definitions (JSON files), their data, and the requests they make.
 *
 * A registry holds every task and group definition found in a folder of
 * *.json files. A task turns each doc of its evaluation split into one
 * request, exactly as lm-evaluation-harness does (EVAL-DEFINITIONS.md):
 * context = description + k few-shot examples + doc_to_text(doc), and one
 * (context, continuation) pair per choice.
 *
 * Ownership: the registry owns every task and group; pointers into it are
 * valid until task_registry_free. A task_request owns its strings and is
 * released with task_request_free. */
#ifndef CJ_TASK_H
#define CJ_TASK_H

#include <stdint.h>

#include "../common/err.h"

typedef enum { TASK_MULTIPLE_CHOICE = 0, TASK_LOGLIKELIHOOD_ROLLING = 1, TASK_GENERATE_UNTIL = 2 } task_output;

typedef struct task task;
typedef struct task_registry task_registry;

typedef struct {
    const char *name;
    int n_members;
    const char *const *members; /* direct members: task or group names */
} task_group;

/* Loads every *.json under dir. Errors name the file and the field. */
int task_registry_load(const char *dir, task_registry **out, cj_err *e);
void task_registry_free(task_registry *r);

/* The built-in task folder: $CHAEJEOM_TASKS, else <exe dir>/tasks/defs,
 * else ./tasks/defs. malloc'd; caller frees. */
char *task_default_dir(void);

int task_registry_n_tasks(const task_registry *r);
task *task_registry_task(const task_registry *r, int i);
int task_registry_n_groups(const task_registry *r);
const task_group *task_registry_group(const task_registry *r, int i);
task *task_find(const task_registry *r, const char *name);
const task_group *task_find_group(const task_registry *r, const char *name);

/* Expands a comma-separated list of task names, group names and globs
 * (fnmatch) into the leaf tasks to run (deduplicated, in a stable order) and
 * the groups involved (members before the groups that contain them).
 * *tasks and *groups are malloc'd arrays of pointers into r; caller frees
 * the arrays only. Unknown names are an error. */
int task_select(const task_registry *r, const char *list, task ***tasks, int *n_tasks, const task_group ***groups,
                int *n_groups, cj_err *e);

/* Definition. */
int task_n_splits(const task *t);
const char *task_split_path(const task *t, int i); /* relative to the datasets root */
const char *task_name(const task *t);
task_output task_output_type(const task *t);
const char *task_version(const task *t);
const char *task_def_path(const task *t);
const char *task_def_sha256(const task *t); /* of the definition file's bytes */
int task_default_shots(const task *t);
int task_n_metrics(const task *t);
/* "acc", "acc_norm", "acc_bytes", "exact_match", "mc2", ...; a generate_until
 * task with named filters reports each declared metric once per filter, as
 * lm-eval names them: "exact_match,strict-match", "exact_match,flexible-extract". */
const char *task_metric(const task *t, int i);

/* One answer filter (lm-eval's regex filter, then take_first): findall of
 * regex over the generation, match group_select (negative: from the end),
 * its first non-empty group if the pattern has groups, stripped; fallback
 * when nothing matches. */
typedef struct {
    const char *name;     /* NULL: the task's one unnamed filter (metric names as declared) */
    const char *regex;
    int group_select;
    const char *fallback;
} task_filter;

/* How a generate_until task samples and scores its answers (the
 * definition's generation, filter(s), exact_match_options and abstention
 * fields; tasks/README.md). Strings belong to the task. */
typedef struct {
    double temperature;    /* 0: greedy (the default) */
    double top_p;          /* 1: off */
    int has_seed;          /* 1: seed below; 0: the run's seed */
    uint64_t seed;         /* sampling seed (only matters when temperature > 0) */
    const task_filter *filters; /* [n_filters] answer extractions, each scored on its own; none: the
                                   whole generation is the one answer */
    int n_filters;
    int ignore_case, ignore_punctuation, ignore_numbers; /* exact_match normalisations */
    const char *const *regexes_to_ignore;
    int n_regexes_to_ignore;
    const char *const *abstention; /* patterns (PCRE2, caseless) that mark an abstention */
    int n_abstention;
    const char *correct_metric; /* the per-doc 0/1 metric that decides "correct" for
                                   hallucination_rate (with named filters, "exact_match,NAME");
                                   NULL: not reported */
} task_gen_opts;

/* NULL unless the task is generate_until. */
const task_gen_opts *task_gen(const task *t);

/* Data: reads the evaluation split and the few-shot split under data_dir
 * (the datasets root, e.g. <assets>/datasets). Idempotent. */
int task_load_data(task *t, const char *data_dir, cj_err *e);
int task_n_docs(const task *t);
const char *task_doc_id(const task *t, int i);   /* stable id, e.g. "test:17" */
const char *task_doc_hash(const task *t, int i); /* ds_doc_hash of the doc */
int task_n_data_files(const task *t);
const char *task_data_file(const task *t, int i, const char **sha256);

/* One doc's request. For multiple choice: n pairs (contexts[i],
 * continuations[i]); contexts are all equal except for partial-scoring tasks
 * (Winogrande); choices[i] is the choice text without the delimiter
 * (acc_norm / acc_bytes count it); gold is the correct index; for mc2,
 * labels[i] is 1 for true choices; gold_text is the gold choice's text. With
 * partial scoring, choices[i] is the option that completes context i. Every
 * array holds n items (choices[0] is "" for the single-request types), until
 * holds n_until. For loglikelihood_rolling, contexts[0] is
 * the whole text (n = 1, continuations[0] = ""). For generate_until,
 * contexts[0] is the prompt and gold_text the reference answer. */
typedef struct {
    int n;
    char **contexts;
    char **continuations;
    char **choices;
    int *labels;       /* NULL unless the task has multiple true answers (mc2) */
    int gold;          /* -1 when not applicable */
    char *gold_text;   /* NULL when not applicable */
    /* generate_until */
    char **until;
    int n_until;
    int max_tokens;
    /* generate_until with doc_to_references: reference answers that the
     * answer is compared with (TruthfulQA's true and false answers); NULL
     * and 0 otherwise */
    char **refs_correct;
    int n_refs_correct;
    char **refs_incorrect;
    int n_refs_incorrect;
} task_request;

/* shots < 0 means the task's default. seed drives the random few-shot sampler:
 * a doc's shots depend only on (seed, the definition's fewshot.seed, doc), so
 * any doc's request can be rebuilt alone and in any order. The doc itself is
 * never one of its shots. Once the data is loaded, this is safe to call from
 * several threads at once (it only reads the task). */
int task_build_request(const task *t, int doc, int shots, uint64_t seed, task_request *out, cj_err *e);

/* How a doc is put to an instruction-tuned model, as lm-eval's
 * --system_instruction, --apply_chat_template and --fewshot_as_multiturn
 * do (tasks/prompt_chat.c): the system instruction goes before the
 * description; a chat template renders [system] + the shots (one user
 * turn, or a user and an assistant turn each) + the question, with the
 * generation prompt, and answers then follow with no target delimiter.
 * The strings and the template belong to the caller. */
typedef struct {
    const struct tpl *chat_template; /* compiled with tpl_compile_chat; NULL: plain text */
    const char *system_instruction;  /* NULL: none */
    int fewshot_as_multiturn;
    const char *bos_token, *eos_token; /* the texts the template sees */
    const char *date;                  /* strftime_now's date, YYYY-MM-DD */
    int as_messages; /* 1: the context is the JSON list of messages, for a server that applies its
                      * own template (lm-eval's JsonChatStr for local-chat-completions) */
} task_chat;

/* The template over messages (a JSON array), the generation prompt opened:
 * what a chat context is, and what `chaejeom serve` renders for
 * /v1/chat/completions. malloc'd; NULL with e set when the template fails. */
struct json_t;
char *task_chat_render(const task_chat *c, const struct json_t *messages, cj_err *e);

/* task_build_request with chat (NULL: plain, the same as task_build_request). */
int task_build_request_chat(const task *t, int doc, int shots, uint64_t seed, const task_chat *chat,
                            task_request *out, cj_err *e);
void task_request_free(task_request *q);

#endif
