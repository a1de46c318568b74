/* chaejeom tokenize — the token ids (and pieces) a model's tokenizer gives a text. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/fileio.h"
#include "../common/sb.h"
#include "../runners/transformer/formats/model.h"
#include "commands.h"

static void usage(FILE *f) {
    fputs("usage: chaejeom tokenize -m MODEL [--tokenizer PATH] [--no-bos] [--json] [--] (TEXT | -f FILE)\n\n"
          "Prints the token ids of TEXT (or of FILE's bytes), space-separated, as the model's\n"
          "tokenizer encodes them (llama.cpp rules: special tokens in the text are not parsed).\n\n"
          "  -m, --model MODEL   .gguf file (vocab-only files work), HF folder, or llama2.c .bin\n"
          "  --tokenizer PATH    tokenizer.json or llama2.c tokenizer.bin (required for .bin models)\n"
          "  --no-bos            do not prepend BOS (default: the vocabulary's own default)\n"
          "  -f, --file FILE     tokenize the contents of FILE instead of TEXT\n"
          "  --json              print {\"ids\": [...], \"pieces\": [...]}\n",
          f);
}

/* A JSON string value for arbitrary bytes: valid UTF-8 as is, otherwise each
 * byte >= 0x80 becomes U+FFFD (JSON text must be UTF-8). */
static json_t *json_bytes(const char *s) {
    json_t *j = json_string(s);
    if (j) return j;
    sb b;
    sb_init(&b);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x80) sb_putc(&b, (char)*p);
        else sb_puts(&b, "\xef\xbf\xbd");
    }
    j = json_string(b.s);
    sb_free(&b);
    return j;
}

static void print_json(const tokenizer *t, const int *ids, int n) {
    json_t *root = json_object(), *jids = json_array(), *pieces = json_array();
    for (int i = 0; i < n; i++) {
        json_array_append_new(jids, json_integer(ids[i]));
        const char *p = tok_piece(t, ids[i]);
        json_array_append_new(pieces, p ? json_bytes(p) : json_null());
    }
    json_object_set_new(root, "ids", jids);
    json_object_set_new(root, "pieces", pieces);
    char *s = json_dumps(root, JSON_COMPACT);
    puts(s);
    free(s);
    json_decref(root);
}

int cmd_tokenize(int argc, char **argv) {
    const char *model_path = NULL, *tok_path = NULL, *text = NULL, *file = NULL;
    int json = 0, add_bos = -1, opts = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has_val = i + 1 < argc;
        if (!opts || a[0] != '-' || !a[1]) {
            if (text) {
                fprintf(stderr, "chaejeom tokenize: more than one TEXT (quote it)\n");
                return 2;
            }
            text = a;
        } else if (!strcmp(a, "--")) {
            opts = 0;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if ((!strcmp(a, "-m") || !strcmp(a, "--model")) && has_val) {
            model_path = argv[++i];
        } else if (!strcmp(a, "--tokenizer") && has_val) {
            tok_path = argv[++i];
        } else if ((!strcmp(a, "-f") || !strcmp(a, "--file")) && has_val) {
            file = argv[++i];
        } else if (!strcmp(a, "--no-bos")) {
            add_bos = 0;
        } else if (!strcmp(a, "--json")) {
            json = 1;
        } else {
            fprintf(stderr, "chaejeom tokenize: unknown option or missing value: %s\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!model_path || (!text == !file)) {
        fprintf(stderr, "chaejeom tokenize: need -m MODEL and exactly one of TEXT or -f FILE\n");
        usage(stderr);
        return 2;
    }
    cj_err e;
    char *buf = NULL;
    size_t len = 0;
    if (file) {
        if (cj_read_file(file, &buf, &len, &e)) {
            fprintf(stderr, "chaejeom tokenize: %s\n", e.msg);
            return 2;
        }
    } else {
        buf = cj_xstrdup(text);
        len = strlen(buf);
    }
    tokenizer *t;
    if (model_load_tokenizer(model_path, tok_path, &t, &e)) {
        fprintf(stderr, "chaejeom tokenize: %s\n", e.msg);
        free(buf);
        return 2;
    }
    int *ids = NULL, n = 0, rc = 0;
    if (tok_encode(t, buf, len, add_bos < 0 ? tok_add_bos(t) : 0, &ids, &n, &e)) {
        fprintf(stderr, "chaejeom tokenize: %s\n", e.msg);
        rc = 2;
    } else if (json) {
        print_json(t, ids, n);
    } else {
        for (int i = 0; i < n; i++) printf("%s%d", i ? " " : "", ids[i]);
        putchar('\n');
    }
    free(ids);
    tok_free(t);
    free(buf);
    return rc;
}
