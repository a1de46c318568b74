/* template_impl — what the files of the template language share; template.h
 * is the public contract. The language is cut as a compiler is, so that each
 * part can grow on its own into a full Jinja engine: template_lex.c scans
 * names, literals and blanks; template_parse.c builds the expression trees
 * (tpl_compile); template.c walks them within a budget (tpl_eval,
 * tpl_render); template_builtins.c holds the functions a template calls.
 * Nothing outside tasks/ includes this file. */
#ifndef CJ_TEMPLATE_IMPL_H
#define CJ_TEMPLATE_IMPL_H

#include <jansson.h>
#include <stddef.h>

#include "../common/err.h"
#include "../common/sb.h"
#include "template.h"

/* What one evaluation (one tpl_eval or tpl_render) may build: no string
 * longer than TPL_MAX_TEXT, no list longer than TPL_MAX_ITEMS, and at most
 * TPL_MAX_WORK bytes through its function calls, operators and output in
 * all (each list item counts TPL_ITEM_COST). Real prompts use a tiny fraction. */
#define TPL_MAX_TEXT ((size_t)16 << 20)
#define TPL_MAX_ITEMS ((size_t)1 << 20)
#define TPL_MAX_WORK ((size_t)128 << 20)
#define TPL_ITEM_COST 16

/* A string function maps one string to another; applied to a list, it maps
 * each string of it. A value function takes any value. Arguments are
 * evaluated values; the arity was checked at compile time. */
typedef int (*tpl_str_fn)(const char *s, size_t n, json_t *const *args, sb *out, cj_err *e);
typedef json_t *(*tpl_val_fn)(const json_t *x, json_t *const *args, cj_err *e);

typedef struct {
    const char *name;
    int min_args, max_args;
    tpl_str_fn str;
    tpl_val_fn val;
} tpl_fn;

typedef enum { TPL_LIT, TPL_FIELD, TPL_GET, TPL_INDEX, TPL_CALL, TPL_LIST, TPL_ADD, TPL_SUB } tpl_kind;

typedef struct tpl_node {
    tpl_kind kind;
    char *name;           /* TPL_FIELD, TPL_GET: the field */
    const tpl_fn *fn;     /* TPL_CALL */
    json_t *lit;          /* TPL_LIT: owned value */
    struct tpl_node **kids; /* TPL_GET [object]; TPL_INDEX [object, index]; TPL_CALL [subject, args...];
                               TPL_LIST items; TPL_ADD, TPL_SUB [left, right] */
    int n_kids;
} tpl_node;

struct tpl {
    tpl_node **parts; /* TPL_LIT strings (literal text) and expressions, in order */
    int n_parts;
    int is_expr; /* exactly one part, an expression */
};

/* The parser's place in one template's source. */
typedef struct {
    const char *s;
    size_t pos;
    int depth; /* of the tree being built, against the parser's limit */
    cj_err *e;
} tpl_parser;

/* --- template_lex.c: the items of an expression, read at p->pos --- */

void tpl_lex_skip_ws(tpl_parser *p);
/* Skips blanks; 1 if the next character is c (not consumed). */
int tpl_lex_peek(tpl_parser *p, char c);
/* A name, malloc'd; NULL (no error set) when none starts here. */
char *tpl_lex_ident(tpl_parser *p);
/* A quoted string (p->pos on the quote), an integer (p->pos on its first
 * digit; neg when a '-' came before): *out is a new reference. */
int tpl_lex_string(tpl_parser *p, json_t **out);
int tpl_lex_int(tpl_parser *p, int neg, json_t **out);
/* A syntax error at p->pos, naming what was expected; -1. */
int tpl_lex_fail(tpl_parser *p, const char *what);

/* --- template_builtins.c --- */

/* The function of that name, or NULL. */
const tpl_fn *tpl_fn_find(const char *name);

/* --- template.c --- */

/* "a string", "a list", ... for messages. */
const char *tpl_type_name(const json_t *v);
/* The error of a string that would outgrow TPL_MAX_TEXT; -1. */
int tpl_too_long(const char *fname, cj_err *e);

#endif
