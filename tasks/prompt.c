/* prompt — few-shot sampling and the requests of one doc (task.h:
 * task_build_request), assembled exactly as EVAL-DEFINITIONS.md states:
 *
 *   context = description + for each shot:
 *                 doc_to_text(shot) + target_delimiter + target(shot) + fewshot_delimiter
 *             + doc_to_text(doc)
 *   request i = (context, target_delimiter + choice i)
 *
 * With partial scoring (Winogrande) each choice completes the context and
 * the continuation is shared:
 *   shot      = doc_to_text(shot) + choice[gold](shot) + target_delimiter + doc_to_continuation(shot)
 *   request i = (prefix + doc_to_text(doc) + choice i, target_delimiter + doc_to_continuation(doc)) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/sb.h"
#include "task_impl.h"

#define MAX_REQUEST_SHOTS 1000

/* One doc of one split, for evaluation and for messages. */
typedef struct {
    const task *t;
    int split, idx;
    const json_t *doc;
    int shot; /* a few-shot example, not the doc being asked */
} docref;

/* A split's name, or for the definition's inline shots (split -1) their field. */
static const char *split_name(const task *t, int split) {
    return split >= 0 ? t->splits[split].name : "fewshot.samples";
}

/* Prefixes the message with the definition, the field and the doc. */
static int doc_fail(const docref *d, const char *field, cj_err *e) {
    return cj_wrap(e, "%s: field '%s': doc %s:%d", d->t->def_path, field, split_name(d->t, d->split), d->idx);
}

static int render(const docref *d, const tpl *tp, const char *field, sb *out, cj_err *e) {
    return tpl_render(tp, d->doc, out, e) ? doc_fail(d, field, e) : 0;
}

/* The doc's choices as a new list of strings; *out = NULL when the task has
 * no doc_to_choice. */
static int choices_of(const docref *d, json_t **out, cj_err *e) {
    const task *t = d->t;
    *out = NULL;
    if (t->choice_items) {
        json_t *l = json_array();
        for (int i = 0; i < t->n_choice_items; i++) {
            sb b;
            sb_init(&b);
            if (render(d, t->choice_items[i], "doc_to_choice", &b, e)) {
                sb_free(&b);
                json_decref(l);
                return -1;
            }
            json_array_append_new(l, json_stringn(b.s, b.len));
            sb_free(&b);
        }
        *out = l;
        return 0;
    }
    if (!t->choice_list) return 0;
    json_t *v;
    if (tpl_eval(t->choice_list, d->doc, &v, e)) return doc_fail(d, "doc_to_choice", e);
    if (!json_is_array(v) || !json_array_size(v)) {
        json_decref(v);
        cj_fail(e, "expected a non-empty list of choices");
        return doc_fail(d, "doc_to_choice", e);
    }
    /* Scalars become their text, as Python's str() would make them. */
    json_t *l = json_array();
    for (size_t i = 0; i < json_array_size(v); i++) {
        json_t *it = json_array_get(v, i);
        sb b;
        sb_init(&b);
        if (tpl_value_text(it, &b, e)) {
            sb_free(&b);
            json_decref(l);
            json_decref(v);
            cj_wrap(e, "choice %zu", i);
            return doc_fail(d, "doc_to_choice", e);
        }
        json_array_append_new(l, json_stringn(b.s, b.len));
        sb_free(&b);
    }
    json_decref(v);
    *out = l;
    return 0;
}

/* The gold index (-1 without choices) and the target's text (malloc'd; NULL
 * when the task has no doc_to_target). An index selects a choice; a string
 * must equal one of the choices, if there are choices. */
static int target_of(const docref *d, const json_t *choices, int *gold, char **text, cj_err *e) {
    *gold = -1;
    *text = NULL;
    /* a shot's target may have its own template (fewshot.doc_to_target) */
    int own = d->shot && d->t->fewshot_target;
    const tpl *tp = own ? d->t->fewshot_target : d->t->doc_to_target;
    const char *field = own ? "fewshot.doc_to_target" : "doc_to_target";
    if (!tp) return 0;
    json_t *v;
    if (tpl_eval(tp, d->doc, &v, e)) return doc_fail(d, field, e);
    int rc = 0;
    size_t n = choices ? json_array_size(choices) : 0;
    if (json_is_integer(v) && choices) {
        json_int_t g = json_integer_value(v);
        if (g < 0 || (size_t)g >= n) rc = cj_fail(e, "target index %lld is not one of the %zu choices", (long long)g, n);
        else {
            *gold = (int)g;
            *text = cj_xstrdup(json_string_value(json_array_get(choices, (size_t)g)));
        }
    } else if (json_is_string(v) && choices) {
        for (size_t i = 0; i < n && *gold < 0; i++)
            if (json_equal(json_array_get(choices, i), v)) *gold = (int)i;
        if (*gold < 0) rc = cj_fail(e, "target \"%.80s\" is not one of the choices", json_string_value(v));
        else *text = cj_xstrdup(json_string_value(v));
    } else if (!choices && (json_is_string(v) || json_is_integer(v))) {
        sb b;
        sb_init(&b);
        tpl_value_text(v, &b, e);
        *text = sb_take(&b);
    } else rc = cj_fail(e, "expected a choice index or text, got a %s", json_is_array(v) ? "list" : "value of another type");
    json_decref(v);
    return rc ? doc_fail(d, field, e) : 0;
}

static int labels_of(const docref *d, int n, int **out, cj_err *e) {
    json_t *v;
    *out = NULL;
    if (tpl_eval(d->t->doc_to_labels, d->doc, &v, e)) return doc_fail(d, "doc_to_labels", e);
    int rc = 0;
    if (!json_is_array(v) || json_array_size(v) != (size_t)n) {
        rc = cj_fail(e, "expected a list of %d labels, one per choice", n);
    } else {
        *out = cj_xcalloc((size_t)n, sizeof **out);
        for (int i = 0; i < n && !rc; i++) {
            json_t *x = json_array_get(v, (size_t)i);
            if (json_is_integer(x)) (*out)[i] = json_integer_value(x) != 0;
            else if (json_is_boolean(x)) (*out)[i] = json_is_true(x);
            else rc = cj_fail(e, "label %d is not an integer or a boolean", i);
        }
    }
    json_decref(v);
    if (rc) {
        free(*out);
        *out = NULL;
        return doc_fail(d, "doc_to_labels", e);
    }
    return 0;
}

/* The question and the answer of one solved example (a few-shot shot):
 * doc_to_text and the gold choice, or with partial scoring doc_to_text
 * completed by the gold option, and doc_to_continuation. */
static int shot_parts(const docref *d, sb *q, sb *a, cj_err *e) {
    const task *t = d->t;
    json_t *choices;
    int gold, rc = -1;
    char *text = NULL;
    if (choices_of(d, &choices, e) || target_of(d, choices, &gold, &text, e)) goto out;
    if (render(d, t->doc_to_text, "doc_to_text", q, e)) goto out;
    if (t->partial) {
        sb_puts(q, text);
        if (render(d, t->doc_to_continuation, "doc_to_continuation", a, e)) goto out;
    } else sb_puts(a, text ? text : "");
    rc = 0;
out:
    json_decref(choices);
    free(text);
    return rc;
}

static uint64_t splitmix64(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* k distinct few-shot doc indices for doc. The eval doc itself is never a
 * shot when the few-shot split is the evaluation split. The random sampler
 * depends only on (seed, the definition's seed, doc), so any doc's prompt
 * can be rebuilt alone, in any order. */
static int pick_shots(const task *t, int doc, int k, uint64_t seed, int *idx, cj_err *e) {
    int n = (int)json_array_size(t->fewshot_docs);
    int same = t->fewshot_split == t->eval_split;
    int avail = n - (same ? 1 : 0);
    if (k > avail)
        return cj_fail(e, "%s: %d shots requested, but split '%s' has %d docs to draw from", t->def_path, k,
                       split_name(t, t->fewshot_split), avail);
    if (t->sampler == SAMPLER_FIRST_N) {
        for (int i = 0, got = 0; got < k; i++)
            if (!(same && i == doc)) idx[got++] = i;
        return 0;
    }
    uint64_t st = seed;
    st = splitmix64(&st) ^ t->seed;
    st = splitmix64(&st) ^ (uint64_t)doc;
    for (int got = 0; got < k;) {
        int r = (int)(((unsigned __int128)splitmix64(&st) * (unsigned)n) >> 64);
        int dup = same && r == doc;
        for (int j = 0; j < got && !dup; j++) dup = idx[j] == r;
        if (!dup) idx[got++] = r;
    }
    return 0;
}

static char **strs_new(int n) { return cj_xcalloc((size_t)n, sizeof(char *)); }

static void strs_free_n(char **v, int n) {
    if (!v) return;
    for (int i = 0; i < n; i++) free(v[i]);
    free(v);
}

/* The context that asks question followed by option (partial scoring). */
static char *context_with(const prompt_parts *pp, const char *question, const char *option, cj_err *e) {
    sb x;
    sb_init(&x);
    sb_puts(&x, question);
    sb_puts(&x, option);
    char *c = prompt_context(pp, x.s ? x.s : "", e);
    sb_free(&x);
    return c;
}

/* Fills q for a multiple-choice doc whose question (doc_to_text) is question. */
static int build_mc(const docref *d, const prompt_parts *pp, const char *question, task_request *q, cj_err *e) {
    const task *t = d->t;
    const char *td = prompt_target_delimiter(pp, t->target_delimiter);
    json_t *choices;
    char *text = NULL;
    sb cont;
    sb_init(&cont);
    int rc = -1;
    if (choices_of(d, &choices, e) || target_of(d, choices, &q->gold, &text, e)) goto out;
    int n = (int)json_array_size(choices);
    if (t->doc_to_labels && labels_of(d, n, &q->labels, e)) goto out;
    sb_puts(&cont, td);
    if (t->partial && render(d, t->doc_to_continuation, "doc_to_continuation", &cont, e)) goto out;
    q->n = n;
    q->contexts = strs_new(n);
    q->continuations = strs_new(n);
    q->choices = strs_new(n);
    for (int i = 0; i < n; i++) {
        const char *c = json_string_value(json_array_get(choices, (size_t)i));
        q->choices[i] = cj_xstrdup(c);
        if (t->partial) {
            q->continuations[i] = cj_xstrdup(cont.s);
            q->contexts[i] = context_with(pp, question, c, e);
        } else {
            sb x;
            sb_init(&x);
            sb_puts(&x, td);
            sb_puts(&x, c);
            q->continuations[i] = x.s ? sb_take(&x) : cj_xstrdup("");
            q->contexts[i] = i ? cj_xstrdup(q->contexts[0]) : prompt_context(pp, question, e);
        }
        if (!q->contexts[i]) goto out;
    }
    q->gold_text = text;
    text = NULL;
    rc = 0;
out:
    json_decref(choices);
    free(text);
    sb_free(&cont);
    return rc;
}

/* A doc_to_references template's value as strings: a list of strings (or
 * integers), or one string. */
static int refs_of(const docref *d, const tpl *tp, const char *field, char ***out, int *n, cj_err *e) {
    json_t *v;
    *out = NULL;
    *n = 0;
    if (tpl_eval(tp, d->doc, &v, e)) return doc_fail(d, field, e);
    json_t *l = json_is_array(v) ? json_incref(v) : json_pack("[O]", v);
    json_decref(v);
    if (!l) abort(); /* jansson fails only on allocation */
    size_t k = json_array_size(l);
    char **r = strs_new((int)k + 1);
    for (size_t i = 0; i < k; i++) {
        sb b;
        sb_init(&b);
        if (tpl_value_text(json_array_get(l, i), &b, e)) {
            sb_free(&b);
            strs_free_n(r, (int)i);
            json_decref(l);
            cj_wrap(e, "reference %zu", i);
            return doc_fail(d, field, e);
        }
        r[i] = sb_take(&b);
        if (!r[i]) r[i] = cj_xstrdup("");
    }
    json_decref(l);
    *out = r;
    *n = (int)k;
    return 0;
}

/* Rolling and generation requests: one context, no continuation. */
static int build_single(const docref *d, const prompt_parts *pp, const char *question, task_request *q, cj_err *e) {
    const task *t = d->t;
    q->n = 1;
    q->contexts = strs_new(1);
    q->continuations = strs_new(1);
    q->choices = strs_new(1);
    if (!(q->contexts[0] = prompt_context(pp, question, e))) return -1;
    q->continuations[0] = cj_xstrdup("");
    q->choices[0] = cj_xstrdup("");
    if (t->output != TASK_GENERATE_UNTIL) return 0;
    json_t *choices;
    if (choices_of(d, &choices, e)) return -1;
    int rc = target_of(d, choices, &q->gold, &q->gold_text, e);
    json_decref(choices);
    if (rc) return -1;
    q->n_until = t->n_until;
    q->until = strs_new(t->n_until + 1);
    for (int i = 0; i < t->n_until; i++) q->until[i] = cj_xstrdup(t->until[i]);
    q->max_tokens = t->max_tokens;
    if (t->refs_correct &&
        (refs_of(d, t->refs_correct, "doc_to_references.correct", &q->refs_correct, &q->n_refs_correct, e) ||
         refs_of(d, t->refs_incorrect, "doc_to_references.incorrect", &q->refs_incorrect, &q->n_refs_incorrect, e)))
        return -1;
    return 0;
}

int task_build_request(const task *t, int doc, int shots, uint64_t seed, task_request *out, cj_err *e) {
    return task_build_request_chat(t, doc, shots, seed, NULL, out, e);
}

/* The number of shots, or -1 (e set) when the task cannot take them. */
static int shot_count(const task *t, int shots, cj_err *e) {
    int k = shots < 0 ? t->shots : shots;
    if (k > MAX_REQUEST_SHOTS) return cj_fail(e, "task %s: %d shots is more than %d", t->name, k, MAX_REQUEST_SHOTS);
    if (k > 0 && t->output == TASK_LOGLIKELIHOOD_ROLLING)
        return cj_fail(e, "task %s: loglikelihood_rolling tasks take no few-shot examples", t->name);
    if (k > 0 && !t->fewshot_docs)
        return cj_fail(e, "%s: %d shots requested, but the task has no few-shot split (field 'fewshot')", t->def_path,
                       k);
    return k;
}

/* The description (after the system instruction) and k shots, into pp. */
static int add_context_parts(const docref *d, int k, uint64_t seed, prompt_parts *pp, cj_err *e) {
    const task *t = d->t;
    sb desc, q, a;
    sb_init(&desc);
    sb_init(&q);
    sb_init(&a);
    int *idx = k > 0 ? cj_xcalloc((size_t)k, sizeof *idx) : NULL, rc = -1;
    if (t->description && render(d, t->description, "description", &desc, e)) goto out;
    prompt_parts_system(pp, desc.s ? desc.s : "", t->fewshot_delimiter);
    if (k > 0 && pick_shots(t, d->idx, k, seed, idx, e)) goto out;
    for (int i = 0; i < k; i++) {
        docref s = {t, t->fewshot_split, idx[i], json_array_get(t->fewshot_docs, (size_t)idx[i]), 1};
        sb_clear(&q);
        sb_clear(&a);
        if (shot_parts(&s, &q, &a, e)) goto out;
        prompt_parts_shot(pp, q.s ? q.s : "", a.s ? a.s : "", t->target_delimiter, t->fewshot_delimiter);
    }
    rc = 0;
out:
    free(idx);
    sb_free(&desc);
    sb_free(&q);
    sb_free(&a);
    return rc;
}

int task_build_request_chat(const task *t, int doc, int shots, uint64_t seed, const task_chat *chat,
                            task_request *out, cj_err *e) {
    memset(out, 0, sizeof *out);
    out->gold = -1;
    if (!t->loaded) return cj_fail(e, "task %s: data not loaded", t->name);
    int n_docs = task_n_docs(t);
    if (doc < 0 || doc >= n_docs) return cj_fail(e, "task %s: doc %d out of range (%d docs)", t->name, doc, n_docs);
    int k = shot_count(t, shots, e);
    if (k < 0) return -1;
    docref d = {t, t->eval_split, doc, json_array_get(t->docs, (size_t)doc), 0};
    prompt_parts pp;
    prompt_parts_init(&pp, chat);
    sb question;
    sb_init(&question);
    int rc = -1;
    if (add_context_parts(&d, k, seed, &pp, e) || render(&d, t->doc_to_text, "doc_to_text", &question, e)) goto out;
    const char *qs = question.s ? question.s : "";
    rc = t->output == TASK_MULTIPLE_CHOICE ? build_mc(&d, &pp, qs, out, e) : build_single(&d, &pp, qs, out, e);
out:
    prompt_parts_free(&pp);
    sb_free(&question);
    if (rc) task_request_free(out);
    return rc;
}

void task_request_free(task_request *q) {
    strs_free_n(q->contexts, q->n);
    strs_free_n(q->continuations, q->n);
    strs_free_n(q->choices, q->n);
    strs_free_n(q->until, q->n_until);
    strs_free_n(q->refs_correct, q->n_refs_correct);
    strs_free_n(q->refs_incorrect, q->n_refs_incorrect);
    free(q->labels);
    free(q->gold_text);
    memset(q, 0, sizeof *q);
    q->gold = -1;
}
