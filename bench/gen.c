/* gen — GSM8K-shaped generation throughput of the local runner.
 *
 * Each prompt is an 8-shot chain-of-thought block (the first --shots
 * train questions with their worked answers, "Question: ..\nAnswer: ..")
 * that every question shares, then the question; greedy, up to --max-new
 * tokens, stopping at "Question:" or "\n\n\n" as gsm8k-cot does. The
 * questions are test questions --first .. --first + --questions - 1.
 *
 * They go to runner_generate --batch at a time; --gen-batch and
 * --no-prefix-cache pick the mode: --gen-batch 1 --no-prefix-cache is one
 * question at a time, each prompt computed in full (the way generation ran
 * before bulk decoding). Only the generate calls are timed.
 *
 * Outputs:
 *   --dump FILE  one JSON object per question for the llama.cpp peer:
 *                {"id", "prompt", "max_new", "stop": [..]}
 *   --out FILE   one line per question: id n_tokens finish text (JSON string)
 *   stdout       gen-work: gflop=W gflops=G   (the run's arithmetic, estimated from
 *                the model's shape and every question's lengths: dense models only)
 *                gen: questions=Q seconds=T qps=R tokens=N tok_s=X prefill_tokens=P */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/sb.h"
#include "../runners/runner.h"
#include "../runners/transformer/formats/model.h"

static const char *const STOPS[] = {"Question:", "\n\n\n"};
enum { N_STOPS = 2 };

typedef struct {
    const char *model, *data, *dump, *out;
    int shots, questions, first, max_new, gen_batch, batch, threads, no_prefix;
} opts;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Reads `count` records from line `from` of a GSM8K JSONL file: the
 * "question" and "answer" strings (malloc'd, 2 per record). */
static int read_gsm8k(const char *dir, const char *split, int from, int count, char **qa) {
    char path[4096];
    snprintf(path, sizeof path, "%s/gsm8k/%s.jsonl", dir, split);
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "gen: %s: %s\n", path, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    int k = 0, ln = 0;
    while (k < count && getline(&line, &cap, f) > 0) {
        if (ln++ < from) continue;
        json_t *j = json_loads(line, 0, NULL);
        const char *q = json_string_value(json_object_get(j, "question"));
        const char *a = json_string_value(json_object_get(j, "answer"));
        if (!q || !a) {
            fprintf(stderr, "gen: %s:%d: no question/answer strings\n", path, ln);
            json_decref(j);
            break;
        }
        qa[2 * k] = cj_xstrdup(q);
        qa[2 * k + 1] = cj_xstrdup(a);
        k++;
        json_decref(j);
    }
    free(line);
    fclose(f);
    if (k < count) fprintf(stderr, "gen: %s has %d records from line %d, need %d\n", path, k, from, count);
    return k == count ? 0 : -1;
}

static char *build_block(const opts *o) {
    char **shots = cj_xcalloc((size_t)2 * o->shots, sizeof *shots);
    sb b;
    sb_init(&b);
    int rc = read_gsm8k(o->data, "train", 0, o->shots, shots);
    for (int i = 0; rc == 0 && i < o->shots; i++) sb_printf(&b, "Question: %s\nAnswer: %s\n\n", shots[2 * i], shots[2 * i + 1]);
    for (int i = 0; i < 2 * o->shots; i++) free(shots[i]);
    free(shots);
    if (rc) {
        sb_free(&b);
        return NULL;
    }
    char *s = sb_take(&b);
    return s ? s : cj_xstrdup("");
}

static int dump(const char *path, char *const *prompts, int n, int first, int max_new) {
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    for (int i = 0; i < n; i++) {
        json_t *stop = json_array();
        for (int s = 0; s < N_STOPS; s++) json_array_append_new(stop, json_string(STOPS[s]));
        json_t *j = json_pack("{s:i, s:s, s:i, s:o}", "id", first + i, "prompt", prompts[i], "max_new", max_new, "stop", stop);
        char *line = json_dumps(j, JSON_COMPACT);
        fprintf(f, "%s\n", line);
        free(line);
        json_decref(j);
    }
    return fclose(f);
}

static void usage(FILE *f) {
    fputs("usage: gen -m MODEL --data DIR [--shots 8] [--questions 64] [--first 0] [--max-new 128]\n"
          "           [--gen-batch 64] [--batch 64] [--no-prefix-cache] [-t N] [--dump FILE] [--out FILE]\n",
          f);
}

static int parse(int argc, char **argv, opts *o) {
    *o = (opts){.shots = 8, .questions = 64, .max_new = 128, .gen_batch = 64, .batch = 64};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int *num = NULL;
        if (!strcmp(a, "--no-prefix-cache")) {
            o->no_prefix = 1;
            continue;
        }
        if (!v) return -1;
        if (!strcmp(a, "-m")) o->model = v;
        else if (!strcmp(a, "--data")) o->data = v;
        else if (!strcmp(a, "--dump")) o->dump = v;
        else if (!strcmp(a, "--out")) o->out = v;
        else if (!strcmp(a, "--shots")) num = &o->shots;
        else if (!strcmp(a, "--questions")) num = &o->questions;
        else if (!strcmp(a, "--first")) num = &o->first;
        else if (!strcmp(a, "--max-new")) num = &o->max_new;
        else if (!strcmp(a, "--gen-batch")) num = &o->gen_batch;
        else if (!strcmp(a, "--batch")) num = &o->batch;
        else if (!strcmp(a, "-t")) num = &o->threads;
        else return -1;
        if (num) {
            char *end;
            long x = strtol(v, &end, 10);
            if (*end || x < 0 || x > 1 << 20) return -1;
            *num = (int)x;
        }
        i++;
    }
    return o->data && o->questions > 0 && o->batch > 0 && o->max_new > 0 ? 0 : -1;
}

/* Tokens of text as the runner reads a prompt (BOS as the vocabulary wants). */
static int count_tokens(const model *m, const char *text) {
    int *ids = NULL, n = 0;
    cj_err e;
    if (tok_encode(m->tok, text, strlen(text), tok_add_bos(m->tok), &ids, &n, &e)) n = 0;
    free(ids);
    return n;
}

/* Keys attended by rows at positions [a, b): each row attends to its own position and all before. */
static double keys(double a, double b) { return (b * (b + 1) - a * (a + 1)) / 2; }

/* The run's arithmetic in GFLOP (2 per multiply-add): every row through
 * the layers' products (prefill rows, then each generated token but the
 * last fed back), the output projection for every generated token, and
 * attention's scores and mixes (4 * head_dim per query head and key). The
 * shared block (its tokens: block) is computed once when the prefix is
 * kept, else with every prompt. 0 when the model will not load. */
static double work_gflop(const opts *o, const char *block, char *const *prompts, const runner_gen_result *res) {
    model *m;
    cj_err e;
    if (model_load(o->model, NULL, &m, &e)) return 0;
    const model_hparams *hp = &m->hp;
    double q = (double)hp->n_heads * hp->head_dim, kv = (double)hp->n_kv_heads * hp->head_dim;
    double layer = (double)hp->dim * (q + 2 * kv) + q * hp->dim + (model_mlp_gated(hp) ? 3.0 : 2.0) * hp->dim * hp->ffn_dim;
    double per_row = 2 * layer * hp->n_layers, att = 4.0 * q * hp->n_layers, head = 2.0 * hp->dim * hp->vocab_size;
    double b = count_tokens(m, block), flop = 0;
    if (!o->no_prefix) flop += b * per_row + keys(0, b) * att;
    for (int i = 0; i < o->questions; i++) {
        double p = count_tokens(m, prompts[i]), n = res[i].n_tokens, from = o->no_prefix ? 0 : b;
        flop += (p - from) * per_row + keys(from, p) * att; /* the prompt's rows past what is kept */
        flop += (n > 0 ? n - 1 : 0) * per_row + keys(p, p + (n > 0 ? n - 1 : 0)) * att + n * head;
    }
    model_free(m);
    return flop * 1e-9;
}

static int generate(const opts *o, const char *block, char *const *prompts, FILE *out) {
    runner_opts ro = {.model_path = o->model, .threads = o->threads, .no_prefix_cache = o->no_prefix,
                      .gen_batch = o->gen_batch};
    cj_err e;
    runner *r = runner_local_open(&ro, &e);
    if (!r) {
        fprintf(stderr, "gen: %s\n", e.msg);
        return -1;
    }
    int n = o->questions, rc = 0;
    long tokens = 0, prefill = 0;
    double seconds = 0;
    runner_gen_item *items = cj_xcalloc((size_t)n, sizeof *items);
    runner_gen_result *res = cj_xcalloc((size_t)n, sizeof *res);
    runner_timing *tm = cj_xcalloc((size_t)n, sizeof *tm);
    for (int i = 0; i < n; i++)
        items[i] = (runner_gen_item){prompts[i], STOPS, N_STOPS, o->max_new, 0, 1, 0};
    for (int i = 0; i < n && rc == 0; i += o->batch) {
        int k = n - i < o->batch ? n - i : o->batch;
        double t0 = now_s();
        rc = runner_generate(r, items + i, k, res + i, tm + i, &e);
        seconds += now_s() - t0;
        if (rc) fprintf(stderr, "gen: %s\n", e.msg);
    }
    static const char *const finish[] = {"stop", "length", "eos"};
    for (int i = 0; i < n && rc == 0; i++) {
        tokens += res[i].n_tokens;
        prefill += tm[i].prefill_tokens;
        if (out) {
            json_t *t = json_string(res[i].text);
            char *s = json_dumps(t, JSON_ENCODE_ANY);
            fprintf(out, "%d %d %s %s\n", o->first + i, res[i].n_tokens, finish[res[i].finish], s);
            free(s);
            json_decref(t);
        }
    }
    double w = rc == 0 ? work_gflop(o, block, prompts, res) : 0;
    if (w > 0) printf("gen-work: gflop=%.1f gflops=%.2f\n", w, w / seconds);
    if (rc == 0)
        printf("gen: questions=%d seconds=%.3f qps=%.4f tokens=%ld tok_s=%.2f prefill_tokens=%ld\n", n, seconds,
               n / seconds, tokens, tokens / seconds, prefill);
    for (int i = 0; i < n; i++) free(res[i].text);
    free(items);
    free(res);
    free(tm);
    runner_free(r);
    return rc;
}

int main(int argc, char **argv) {
    opts o;
    if (parse(argc, argv, &o)) {
        usage(stderr);
        return 2;
    }
    char *block = build_block(&o);
    char **qa = cj_xcalloc((size_t)2 * o.questions, sizeof *qa), **prompts = cj_xcalloc((size_t)o.questions, sizeof *prompts);
    int rc = block && read_gsm8k(o.data, "test", o.first, o.questions, qa) == 0 ? 0 : 2;
    for (int i = 0; rc == 0 && i < o.questions; i++) {
        sb p;
        sb_init(&p);
        sb_printf(&p, "%sQuestion: %s\nAnswer:", block, qa[2 * i]);
        prompts[i] = sb_take(&p);
    }
    if (rc == 0 && o.dump && dump(o.dump, prompts, o.questions, o.first, o.max_new)) {
        fprintf(stderr, "gen: cannot write %s\n", o.dump);
        rc = 2;
    }
    FILE *out = rc == 0 && o.out ? fopen(o.out, "w") : NULL;
    if (rc == 0 && o.out && !out) {
        fprintf(stderr, "gen: cannot write %s\n", o.out);
        rc = 2;
    }
    if (rc == 0 && o.model && generate(&o, block, prompts, out)) rc = 1;
    if (out) fclose(out);
    for (int i = 0; i < 2 * o.questions; i++) free(qa[i]);
    for (int i = 0; i < o.questions; i++) free(prompts[i]);
    free(qa);
    free(prompts);
    free(block);
    return rc;
}
