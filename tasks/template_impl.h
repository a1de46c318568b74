/* template_impl — what the files of the template engine share; template.h
 * is the public contract. The engine is cut as a compiler is:
 * template_lex.c scans the source (tags, whitespace control, names,
 * literals, operators); template_parse.c builds expression trees and
 * template_stmt.c the statements around them (tpl_compile); template.c
 * evaluates expressions and template_exec.c runs statements, within one
 * budget; template_value.c holds Python's value semantics (truth, str,
 * repr, ==, <, json.dumps); template_builtins.c and template_filters.c the
 * functions, filters and tests a template calls. Nothing outside tasks/
 * includes this file. */
#ifndef CJ_TEMPLATE_IMPL_H
#define CJ_TEMPLATE_IMPL_H

#include <jansson.h>
#include <stddef.h>

#include "../common/err.h"
#include "../common/sb.h"
#include "template.h"

/* What one evaluation (one tpl_eval or tpl_render) may build: no string
 * longer than TPL_MAX_TEXT, no list longer than TPL_MAX_ITEMS, and at most
 * TPL_MAX_WORK bytes through its function calls, operators, loop steps and
 * output in all (each list item or loop step counts TPL_ITEM_COST). Real
 * prompts use a tiny fraction. */
#define TPL_MAX_TEXT ((size_t)16 << 20)
#define TPL_MAX_ITEMS ((size_t)1 << 20)
#define TPL_MAX_WORK ((size_t)128 << 20)
#define TPL_ITEM_COST 16
/* Nested macro calls (a recursive macro must end). */
#define TPL_MAX_CALLS 64

/* A string function maps one string to another; applied to a list, it maps
 * each string of it. A value function takes any value. Arguments are
 * evaluated values, by position (a keyword argument lands at its
 * parameter's position; an absent one is NULL); the arity was checked at
 * compile time. */
typedef int (*tpl_str_fn)(const char *s, size_t n, json_t *const *args, sb *out, cj_err *e);
typedef json_t *(*tpl_val_fn)(const json_t *x, json_t *const *args, cj_err *e);

#define TPL_MAX_ARGS 4

typedef struct {
    const char *name;
    int min_args, max_args;
    tpl_str_fn str;
    tpl_val_fn val;
    const char *params; /* comma-separated parameter names for keyword arguments, or NULL */
} tpl_fn;

typedef enum {
    TPL_LIT, TPL_FIELD, TPL_GET, TPL_INDEX, TPL_SLICE, TPL_CALL, TPL_FCALL, TPL_LIST, TPL_DICT,
    TPL_BIN, TPL_NOT, TPL_NEG, TPL_AND, TPL_OR, TPL_COND, TPL_TEST, TPL_SELF
} tpl_kind;

typedef enum {
    TPL_ADD, TPL_SUB, TPL_MUL, TPL_DIV, TPL_FLOORDIV, TPL_MOD, TPL_CAT,
    TPL_EQ, TPL_NE, TPL_LT, TPL_GT, TPL_LE, TPL_GE, TPL_IN, TPL_NOTIN
} tpl_op;

typedef struct tpl_node {
    tpl_kind kind;
    tpl_op op;        /* TPL_BIN */
    int negate;       /* TPL_TEST: "is not" */
    char *name;       /* TPL_FIELD, TPL_GET: the field; TPL_FCALL: the callee; TPL_TEST: the test */
    const tpl_fn *fn; /* TPL_CALL */
    json_t *lit;      /* TPL_LIT: owned value */
    struct tpl_node **kids; /* TPL_GET [object]; TPL_INDEX [object, index]; TPL_SLICE [object, start, stop,
                               step] (NULL when absent); TPL_CALL [subject, args by position (NULL when
                               absent)]; TPL_FCALL args; TPL_LIST items; TPL_DICT key, value, ...; TPL_BIN,
                               TPL_AND, TPL_OR [left, right]; TPL_NOT, TPL_NEG [x]; TPL_COND [then, cond,
                               else or NULL]; TPL_TEST [subject, arg or absent] */
    char **kwnames;   /* TPL_FCALL: the keyword of each argument, NULL for positional ones */
    int n_kids;
} tpl_node;

typedef enum { ST_TEXT, ST_OUT, ST_IF, ST_FOR, ST_SET, ST_SETBLOCK, ST_MACRO, ST_FILTER, ST_BREAK, ST_CONTINUE } tpl_st_kind;

struct tpl_stmt;
typedef struct {
    struct tpl_stmt **items;
    int n;
} tpl_body;

typedef struct tpl_stmt {
    tpl_st_kind kind;
    tpl_node *expr;      /* TEXT: its literal; OUT; IF: the condition; FOR: the iterable; SET: the value;
                            FILTER: the filter chain over TPL_SELF */
    tpl_node *cond;      /* FOR: its "if" clause, or NULL */
    char **names;        /* FOR, SET: the targets; MACRO: the parameters */
    int n_names;
    char *attr;          /* SET ns.attr: the attribute (names[0] is the namespace) */
    char *name;          /* MACRO */
    tpl_node **defaults; /* MACRO: one per parameter, NULL when it has none */
    tpl_body body, orelse; /* IF: then / else (elif is an IF alone in orelse); FOR: body / else */
} tpl_stmt;

struct tpl {
    tpl_body body;
    int is_expr; /* exactly one statement, an output */
    int chat;    /* compiled as a chat template (template.h: tpl_compile_chat) */
};

/* The parser's place in one template's source. */
typedef struct {
    const char *s;
    size_t pos;
    int depth;       /* of the tree being built, against the parser's limit */
    int no_cond;     /* "a if b else c" is not an expression here ({% for x in xs if c %}) */
    cj_err *e;
} tpl_parser;

/* --- template_lex.c: the items of an expression, read at p->pos --- */

void tpl_lex_skip_ws(tpl_parser *p);
/* Skips blanks; 1 if the next character is c (not consumed). */
int tpl_lex_peek(tpl_parser *p, char c);
/* Skips blanks; consumes op and returns 1 if it comes next. */
int tpl_lex_op(tpl_parser *p, const char *op);
/* Skips blanks; consumes the word kw and returns 1 if it comes next. */
int tpl_lex_kw(tpl_parser *p, const char *kw);
/* A name, malloc'd; NULL (no error set) when none starts here. */
char *tpl_lex_ident(tpl_parser *p);
/* A quoted string (p->pos on the quote), a number (p->pos on its first
 * digit; neg when a '-' came before): *out is a new reference. */
int tpl_lex_string(tpl_parser *p, json_t **out);
int tpl_lex_number(tpl_parser *p, int neg, json_t **out);
/* A syntax error at p->pos, naming what was expected; -1. */
int tpl_lex_fail(tpl_parser *p, const char *what);

/* One piece of a template's source: literal text, or the inside of a tag. */
typedef enum { SEG_TEXT, SEG_VAR, SEG_BLOCK, SEG_END } tpl_seg_kind;
typedef struct {
    tpl_seg_kind kind;
    size_t start, end; /* TEXT: the text after whitespace control; VAR, BLOCK: the inside of the tag */
} tpl_seg;

/* The scanner over a template's source. */
typedef struct {
    const char *s;
    size_t pos, len;
    int trim_blocks, lstrip_blocks;
    int strip_next; /* the last tag ended with '-': the next text loses its leading whitespace */
    tpl_seg pending; /* a tag found after a text, returned next */
    int has_pending;
} tpl_scanner;

/* The next piece; -1 on an unclosed tag or comment. */
int tpl_scan(tpl_scanner *sc, tpl_seg *seg, cj_err *e);

/* --- template_parse.c --- */

tpl_node *tpl_parse_expr(tpl_parser *p);
/* A filter chain "| f(args) | g" applied to subject (taken); without a
 * leading '|' when first_bar is 0 ({% filter f %}). */
tpl_node *tpl_parse_filters(tpl_parser *p, tpl_node *subject, int first_bar);
void tpl_node_free(tpl_node *n);
/* The literal node of v (taken). */
tpl_node *tpl_node_lit(json_t *v);

/* --- template_builtins.c, template_filters.c --- */

/* The function of that name, or NULL. */
const tpl_fn *tpl_fn_find(const char *name);
/* The filters and methods of template_filters.c, ending with a NULL name. */
extern const tpl_fn tpl_jinja_fns[];
/* Jinja's test name (defined, string, ...) on x with an optional argument:
 * 1 true, 0 false, -1 an unknown test or bad argument (error set). */
int tpl_test(const char *name, const json_t *x, const json_t *arg, cj_err *e);
/* 0 if name is no test, 1 if it takes no argument, 2 if it takes one. */
int tpl_test_known(const char *name);

/* --- template_value.c: Python's semantics over jansson values --- */

/* Jinja's Undefined: a value that stands for a missing name or field and
 * carries the message an error about it gives. */
json_t *tpl_undef(const char *fmt, const char *arg);
int tpl_is_undef(const json_t *v);
/* The message of an undefined value. */
const char *tpl_undef_msg(const json_t *v);
/* A namespace() object (its attributes may be set); a macro, by number. */
json_t *tpl_namespace(void);
int tpl_is_namespace(const json_t *v);
json_t *tpl_macro_value(int i);
int tpl_macro_index(const json_t *v); /* -1 when v is not a macro */

const char *tpl_type_name(const json_t *v);
/* Python's type name, for TypeError messages ("NoneType", "str"). */
const char *tpl_py_type(const json_t *v);
int tpl_truthy(const json_t *v);
/* Python's str(v) (undefined: ""); repr(v). */
void tpl_py_str(const json_t *v, sb *out);
void tpl_py_repr(const json_t *v, sb *out);
/* Python's ==. */
int tpl_py_eq(const json_t *a, const json_t *b);
/* Python's ordering: *r < 0, 0, > 0; -1 (error set) for unorderable types. */
int tpl_py_cmp(const json_t *a, const json_t *b, const char *op, int *r, cj_err *e);
/* Python's "x in container"; -1 (error set) when container cannot hold x. */
int tpl_py_in(const json_t *x, const json_t *container, cj_err *e);
/* json.dumps(v, ensure_ascii=False, indent=indent (< 0: none)), as
 * transformers' tojson; -1 on a value JSON cannot hold. */
int tpl_json_dumps(const json_t *v, int indent, sb *out, cj_err *e);
/* A number as a double (ints, reals, booleans). */
double tpl_num(const json_t *v);
int tpl_is_num(const json_t *v);

/* --- template.c, template_exec.c: evaluation --- */

typedef struct tpl_frame {
    json_t *vars;
    struct tpl_frame *parent;
} tpl_frame;

typedef struct tpl_ctx {
    const json_t *doc; /* the names of the render: a task's doc, or a chat template's variables */
    cj_err *e;
    size_t work;       /* bytes charged so far, against TPL_MAX_WORK */
    int chat;          /* Jinja's undefined names and Python's str() for output */
    int soft;          /* > 0 within `is defined` and `default`: a missing name is a value */
    tpl_frame *top, *root;
    const json_t *self; /* the text a {% filter %} block filters */
    int calls;          /* nested macro calls */
    const tpl_stmt **macros;
    int n_macros;
    const char *date;   /* strftime_now's date, YYYY-MM-DD */
} tpl_ctx;

json_t *tpl_eval_node(const tpl_node *n, tpl_ctx *c);
/* template_ops.c: l op r, for the operator of n. */
json_t *tpl_eval_binop(const tpl_node *n, const json_t *l, const json_t *r, tpl_ctx *c);
/* Adds bytes to the evaluation's work; -1 once it passes TPL_MAX_WORK. */
int tpl_charge(tpl_ctx *c, size_t bytes);
/* The value of a name: frames innermost first, then the doc; NULL when
 * unbound. Borrowed. */
json_t *tpl_lookup(tpl_ctx *c, const char *name);
/* Calls the macro or global function name; a new reference or NULL. */
json_t *tpl_call_named(const tpl_node *n, tpl_ctx *c);
/* Runs a body, appending its text to out: 0, -1 (error), or the loop
 * controls TPL_BREAK / TPL_CONTINUE. */
#define TPL_BREAK 1
#define TPL_CONTINUE 2
int tpl_exec_body(const tpl_body *b, tpl_ctx *c, sb *out);
/* The error of a string that would outgrow TPL_MAX_TEXT; -1. */
int tpl_too_long(const char *fname, cj_err *e);

#endif
