/* template — the Jinja engine of task definitions and chat templates.
 *
 * A template is literal text with expressions in double braces and
 * statements in {% %} tags (comments in {# #}):
 *
 *     "{{question.strip()}}\nA. {{A}}\nAnswer:"
 *     "{% for m in messages %}<|{{ m.role }}|>{{ m.content | trim }}{% endfor %}"
 *
 * Expressions are jinja2's: fields (question, q.choices[0].text,
 * doc['Best Answer']), literals (strings, numbers, lists, tuples, dicts,
 * true / false / none), slices, + - * / // % ~, comparisons, in / not in,
 * and / or / not, "a if c else b", filters (x | f(args), or x.f(args)),
 * tests (x is defined, x is not string), calls of macros and of the
 * globals raise_exception, namespace, range, dict and strftime_now.
 * Statements: if / elif / else, for (tuple targets, loop.*, "if" clause,
 * else, break / continue), set (names, ns.attr, blocks), macro, filter.
 * Filters and methods: the task functions strip lstrip rstrip trim lower
 * upper capitalize title replace before after hellaswag_preprocess int str
 * len keys values index join split (string functions also map over a
 * list), and Jinja's length count default items selectattr rejectattr
 * select reject map list first last unique reverse tojson indent safe
 * string float abs get startswith endswith. `{{ '{{' }}` writes braces.
 *
 * Two kinds of template, one engine:
 * - task templates (tpl_compile): a missing field is an error naming the
 *   expression; a template that is one expression and nothing else
 *   ("{{choices.text}}") evaluates to that expression's value, whatever its
 *   type; other templates are text (strings as they are, integers in
 *   decimal, booleans as True / False; a list, object or null is an error).
 *   Newlines and whitespace are kept as written.
 * - chat templates (tpl_compile_chat): transformers' apply_chat_template
 *   environment — trim_blocks, lstrip_blocks, newlines read as "\n" and
 *   one final newline dropped, missing names and fields Undefined (empty
 *   when written, an error with jinja2's message when used), values written
 *   with Python's str(), and errors that carry the template's own message
 *   (raise_exception) or jinja2's, unprefixed.
 *
 * Ownership: tpl_compile* return a template the caller frees with
 * tpl_free; tpl_eval returns a new jansson reference. Errors are plain
 * messages ("unknown template function 'strp'"); callers prefix file and
 * field. Evaluation is bounded in time and memory (template_impl.h). */
#ifndef CJ_TEMPLATE_H
#define CJ_TEMPLATE_H

#include <jansson.h>

#include "../common/err.h"
#include "../common/sb.h"

typedef struct tpl tpl;

int tpl_compile(const char *src, tpl **out, cj_err *e);
int tpl_compile_chat(const char *src, tpl **out, cj_err *e);
void tpl_free(tpl *t);

/* 1 if the template is a single expression (its value keeps its type). */
int tpl_is_expr(const tpl *t);

/* Evaluates against doc (a JSON object). *out is a new reference. */
int tpl_eval(const tpl *t, const json_t *doc, json_t **out, cj_err *e);

/* Evaluates and appends the result as text to out. */
int tpl_render(const tpl *t, const json_t *doc, sb *out, cj_err *e);

/* Renders a chat template with vars (a JSON object: messages,
 * add_generation_prompt, bos_token, ...) as its names; strftime_now
 * formats date (YYYY-MM-DD, midnight UTC; NULL: strftime_now fails). */
int tpl_render_chat(const tpl *t, const json_t *vars, const char *date, sb *out, cj_err *e);

/* Appends a value as text (the rule above). */
int tpl_value_text(const json_t *v, sb *out, cj_err *e);

#endif
