/* fake_runner — a deterministic runner (runners/runner.h) for pipeline tests.
 *
 * The log-likelihood of (context, continuation) is a fixed function of the
 * two strings, so results do not depend on batching or order, exactly as
 * the contract asks of real runners. It counts what it is asked, can set a
 * stop flag after a number of calls (a Ctrl-C in the middle of a run) and
 * can fail a given call (a runner error). Header-only: static functions. */
#ifndef CJ_FAKE_RUNNER_H
#define CJ_FAKE_RUNNER_H

#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/sb.h"
#include "../../runners/runner.h"

typedef struct {
    runner_info info;
    int calls;         /* loglikelihood + rolling calls */
    long items;        /* runner_ll_items received */
    long conts;        /* continuations (or rolling texts) scored */
    int stop_after;    /* > 0: set *stop when call number stop_after returns */
    volatile sig_atomic_t *stop;
    int fail_call;     /* > 0: call number fail_call fails */
} fake_state;

static uint64_t fake_hash(const char *a, const char *b) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (const char *p = a; *p; p++) h = (h ^ (unsigned char)*p) * 0x100000001b3ULL;
    h = (h ^ 0xff) * 0x100000001b3ULL;
    for (const char *p = b; *p; p++) h = (h ^ (unsigned char)*p) * 0x100000001b3ULL;
    return h ^ (h >> 29);
}

/* The fake model: a few tokens per continuation, each costing 0.5..10.5 nats. */
static void fake_score(const char *ctx, const char *cont, runner_ll_result *r) {
    uint64_t h = fake_hash(ctx, cont);
    r->n_tokens = 1 + (int)(strlen(cont) / 4);
    r->logprob = -(0.5 + (double)(h % 1000) / 100.0) * r->n_tokens;
    r->is_greedy = (h >> 20) % 3 == 0;
}

static int fake_tick(fake_state *f, cj_err *e) {
    f->calls++;
    if (f->fail_call && f->calls == f->fail_call) return cj_fail(e, "fake runner: call %d fails", f->calls);
    return 0;
}

static void fake_after(fake_state *f) {
    if (f->stop && f->stop_after && f->calls == f->stop_after) *f->stop = SIGINT;
}

static int fake_ll(runner *r, const runner_ll_item *items, int n, runner_ll_result *out, runner_timing *t,
                   cj_err *e) {
    fake_state *f = r->impl;
    if (fake_tick(f, e)) return -1;
    int k = 0;
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < items[i].n_cont; j++) fake_score(items[i].context, items[i].continuations[j], &out[k++]);
        t[i] = (runner_timing){.prefill_tokens = (int)strlen(items[i].context) / 4 + items[i].n_cont, .wall_s = 0.001};
        f->items++;
        f->conts += items[i].n_cont;
    }
    fake_after(f);
    return 0;
}

static int fake_rolling(runner *r, const char *const *texts, int n, runner_rolling_result *out, runner_timing *t,
                        cj_err *e) {
    fake_state *f = r->impl;
    if (fake_tick(f, e)) return -1;
    for (int i = 0; i < n; i++) {
        runner_ll_result x;
        fake_score("", texts[i], &x);
        out[i] = (runner_rolling_result){x.logprob, x.n_tokens};
        t[i] = (runner_timing){.prefill_tokens = x.n_tokens, .wall_s = 0.001};
        f->conts++;
    }
    fake_after(f);
    return 0;
}

static int fake_generate(runner *r, const runner_gen_item *items, int n, runner_gen_result *out, runner_timing *t,
                         cj_err *e) {
    (void)r, (void)items, (void)n, (void)out, (void)t;
    return cj_fail(e, "fake runner: generate is not implemented");
}

static const runner_info *fake_info(runner *r) { return &((fake_state *)r->impl)->info; }

static void fake_free(runner *r) {
    free(r->impl);
    free(r);
}

static const runner_vtable FAKE_VT = {fake_ll, fake_rolling, fake_generate, fake_info, fake_free};

/* A fake runner whose model identity is sha256 (64 hex digits). */
static runner *fake_runner_open(const char *sha256) {
    runner *r = cj_xcalloc(1, sizeof *r);
    fake_state *f = cj_xcalloc(1, sizeof *f);
    f->info = (runner_info){.path = "fake/model.bin", .format = "llama2c", .arch = "llama", .n_params = 1234,
                            .dtype = "F32", .ctx_len = 512, .tokenizer = "fake 256"};
    snprintf(f->info.sha256, sizeof f->info.sha256, "%s", sha256);
    r->vt = &FAKE_VT;
    r->impl = f;
    return r;
}

static fake_state *fake_of(runner *r) { return r->impl; }

#endif
