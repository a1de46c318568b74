/* Generation tasks through the run pipeline on a fake runner and a toy
 * task folder written to /tmp: answer extraction, exact match, truthfulqa
 * scores, abstention, the generation cache, seeded sampling, resume and
 * latency units. Scoring tasks: test_run.c. */
#include <signal.h>

#include "fake_runner.h"
#include "run_fixture.h"

/* A fake generate: the text is a fixed function of the prompt (and of the
 * seed when sampling), so that greedy answers repeat and seeds matter. */
static long g_gen_items;
static int g_gen_max_tokens;

static int fake_gen(runner *r, const runner_gen_item *items, int n, runner_gen_result *out, runner_timing *t,
                    cj_err *e) {
    fake_state *f = r->impl;
    if (fake_tick(f, e)) return -1;
    for (int i = 0; i < n; i++) {
        char seed[32];
        snprintf(seed, sizeof seed, "%llu", items[i].temperature > 0 ? (unsigned long long)items[i].seed : 0ULL);
        uint64_t h = fake_hash(items[i].context, seed);
        sb b;
        sb_init(&b);
        if (h % 5 == 0) sb_puts(&b, " I have no comment.");
        else sb_printf(&b, " so the answer is %c, I think", "ABCD"[(h >> 8) % 4]);
        out[i].n_tokens = (int)(b.len / 4) + 1;
        out[i].text = sb_take(&b);
        out[i].finish = RUNNER_FINISH_STOP;
        t[i] = (runner_timing){.prefill_tokens = (int)strlen(items[i].context) / 4 + 1,
                               .decode_tokens = out[i].n_tokens, .wall_s = 0.004, .ttft_s = 0.001};
        if (items[i].max_tokens > g_gen_max_tokens) g_gen_max_tokens = items[i].max_tokens;
        g_gen_items++;
    }
    fake_after(f);
    return 0;
}

static const runner_vtable GEN_VT = {fake_ll, fake_rolling, fake_gen, fake_info, fake_free};

static runner *gen_runner_open(void) {
    runner *r = fake_runner_open(SHA_A);
    r->vt = &GEN_VT;
    return r;
}

/* The generation tasks: letters answered in free text (regex extraction,
 * exact match, F1, abstention), and TruthfulQA-style references. */
static void setup_gen(void) {
    char toy[200];
    snprintf(toy, sizeof toy, "%s/toy", g_data);
    write_file(g_defs, "gen_letter.json",
               "{\"name\": \"gen_letter\", \"version\": \"1\","
               " \"dataset\": {\"format\": \"jsonl\", \"splits\": {\"test\": \"toy/letters.jsonl\"}},"
               " \"eval_split\": \"test\", \"output_type\": \"generate_until\","
               " \"doc_to_text\": \"Q: {{q}}\\nA:\", \"doc_to_target\": \"{{answer}}\","
               " \"generation\": {\"until\": [\"\\n\"], \"max_tokens\": 64},"
               " \"filter\": {\"regex\": \"answer is ([a-dA-D])\"},"
               " \"exact_match_options\": {\"ignore_case\": true},"
               " \"abstention\": {\"patterns\": [\"no comment\"]},"
               " \"metrics\": [\"exact_match\", \"f1\"]}");
    sb d;
    sb_init(&d);
    for (int i = 0; i < 23; i++) sb_printf(&d, "{\"q\": \"question %d?\", \"answer\": \"%c\"}\n", i, "abcd"[i % 4]);
    write_file(toy, "letters.jsonl", d.s);
    write_file(g_defs, "gen_tqa.json",
               "{\"name\": \"gen_tqa\", \"version\": \"1\","
               " \"dataset\": {\"format\": \"jsonl\", \"splits\": {\"validation\": \"toy/tqa.jsonl\"}},"
               " \"eval_split\": \"validation\", \"output_type\": \"generate_until\","
               " \"doc_to_text\": \"Q: {{question}}\", \"doc_to_target\": \"{{doc['Best Answer']}}\","
               " \"doc_to_references\": {\"correct\": \"{{doc['Correct Answers'].split(';')|strip}}\","
               "   \"incorrect\": \"{{doc['Incorrect Answers'].split(';')|strip}}\"},"
               " \"generation\": {\"until\": [\"\\n\\n\"]},"
               " \"abstention\": {\"patterns\": [\"I have no comment\"], \"correct_metric\": \"rougeL_acc\"},"
               " \"metrics\": [\"bleu_max\", \"bleu_acc\", \"bleu_diff\", \"rougeL_max\", \"rougeL_acc\"]}");
    sb_clear(&d);
    for (int i = 0; i < 6; i++)
        sb_printf(&d,
                  "{\"question\": \"tqa %d?\", \"Best Answer\": \"the answer is %c\","
                  " \"Correct Answers\": \"so the answer is %c, I think; the answer is %c\","
                  " \"Incorrect Answers\": \"so the answer is %c, I think; no\"}\n",
                  i, "ABCD"[i % 4], "ABCD"[i % 4], "ABCD"[i % 4], "ABCD"[(i + 1) % 4]);
    write_file(toy, "tqa.jsonl", d.s);
    sb_free(&d);
    write_file(g_defs, "gen_all.json", "{\"group\": \"gen_all\", \"members\": [\"gen_letter\", \"gen_tqa\"]}");
}

/* The answer extraction and exact match of one stored generation. */
static int gen_row_ok(const char *db, int64_t id) {
    return q_num(db,
                 "SELECT count(*) FROM generations g JOIN docs d USING (run_id, task, doc_id)"
                 " WHERE g.run_id = ? AND g.task = 'gen_letter' AND NOT ("
                 " (g.text LIKE '%no comment%' AND g.abstained = 1 AND g.answer = '[invalid]' AND g.exact_match = 0)"
                 " OR (g.text LIKE '%answer is _,%' AND g.abstained = 0 AND g.answer = substr(g.text, 19, 1)"
                 "     AND g.exact_match = (lower(g.answer) = lower(d.target)) AND g.correct = g.exact_match))",
                 id) == 0;
}

static void test_generation(void) {
    task_registry *reg = load_reg();
    if (!reg) return;
    runner *r = gen_runner_open();
    char *db = new_db();
    run_opts o = opts("gen_all");
    run_result res;
    g_gen_items = 0;
    g_gen_max_tokens = 0;
    int64_t id = run_ok(r, reg, db, &o, &res);
    CHECK(id > 0 && res.docs == 23 + 6 && res.requests_computed == 29 && g_gen_items == 29);
    CHECK(g_gen_max_tokens == 256); /* gen_tqa's default budget */
    CHECK(q_num(db, "SELECT count(*) FROM generations WHERE run_id = ?", id) == 29);
    CHECK(q_num(db, "SELECT count(*) FROM generation_cache", 0) == 29);
    CHECK(q_num(db, "SELECT count(*) FROM docs WHERE run_id = ?1 AND task = 'gen_letter' AND target IN ('a','b','c','d')",
                id) == 23);
    CHECK(gen_row_ok(db, id));
    /* metrics are the means of the stored rows */
    CHECK_NEAR(metric(db, id, "gen_letter", "exact_match", 0),
               q_num(db, "SELECT avg(exact_match) FROM generations WHERE run_id = ? AND task = 'gen_letter'", id), 1e-12);
    CHECK_NEAR(metric(db, id, "gen_letter", "f1", 0),
               q_num(db, "SELECT avg(f1) FROM generations WHERE run_id = ? AND task = 'gen_letter'", id), 1e-12);
    double ab = q_num(db, "SELECT avg(abstained) FROM generations WHERE run_id = ? AND task = 'gen_letter'", id);
    CHECK(ab > 0 && ab < 1);
    CHECK_NEAR(metric(db, id, "gen_letter", "abstain_rate", 0), ab, 1e-12);
    CHECK_NEAR(metric(db, id, "gen_letter", "hallucination_rate", 0),
               q_num(db, "SELECT avg(1 - correct) FROM generations WHERE run_id = ? AND task = 'gen_letter' AND abstained = 0",
                     id),
               1e-12);
    CHECK(q_num(db, "SELECT n FROM metrics WHERE run_id = ? AND task = 'gen_letter' AND metric = 'hallucination_rate'",
                id) == q_num(db, "SELECT count(*) FROM generations WHERE run_id = ? AND task = 'gen_letter' AND abstained = 0",
                             id));
    CHECK(metric(db, id, "gen_letter", "hallucination_rate", 1) >= 0);
    /* truthfulqa scores: the references are formatted as lm-eval does (a '.'
     * appended, "I have no comment." among the true ones) */
    CHECK(q_num(db, "SELECT count(*) FROM generations WHERE run_id = ? AND task = 'gen_tqa'"
                    " AND json_extract(refs, '$.correct[2]') = 'I have no comment.'"
                    " AND json_extract(refs, '$.incorrect[1]') = 'no.'",
                id) == 6);
    /* an answer equal to a true reference but for the final '.' */
    CHECK(q_num(db, "SELECT count(*) FROM generations WHERE run_id = ? AND task = 'gen_tqa' AND abstained = 0"
                    " AND json_extract(scores, '$.rougeL_max') IS NOT NULL",
                id) >= 1);
    CHECK_NEAR(metric(db, id, "gen_tqa", "bleu_max", 0),
               q_num(db, "SELECT avg(json_extract(scores, '$.bleu_max')) FROM generations WHERE run_id = ? AND task = 'gen_tqa'",
                     id),
               1e-9);
    CHECK(!isnan(metric(db, id, "gen_all", "abstain_rate", 0))); /* both leaves report it */
    check_latency_units(db, id);
    CHECK(q_num(db, "SELECT count(*) FROM latency WHERE run_id = ? AND ttft_s > 0 AND decode_tokens > 0", id) == 29);
    /* the same config in a new run: every answer from the cache, identical */
    o.no_resume = 1;
    o.batch = 7;
    run_result res2;
    int64_t id2 = run_ok(r, reg, db, &o, &res2);
    CHECK(id2 > id && res2.requests_computed == 0 && res2.requests_cached == 29 && g_gen_items == 29);
    CHECK(q_num(db, "SELECT count(*) FROM generations a JOIN generations b USING (task, doc_id)"
                    " WHERE a.run_id = ?1 AND b.run_id = ?1 + 1 AND a.text = b.text AND a.scores = b.scores",
                id) == 29);
    CHECK(q_num(db, "SELECT count(*) FROM latency WHERE run_id = ?", id2) == 0);
    /* --max-gen-tokens caps the budget and is part of the request */
    run_opts o3 = opts("gen_letter");
    o3.max_gen_tokens = 5;
    g_gen_max_tokens = 0;
    run_result res3;
    CHECK(run_ok(r, reg, db, &o3, &res3) > 0 && res3.requests_computed == 23 && g_gen_max_tokens == 5);
    runner_free(r);
    task_registry_free(reg);
    free(db);
}

static char *gen_texts(const char *db, int64_t id) {
    sqlite3 *h;
    sqlite3_stmt *st;
    sb b;
    sb_init(&b);
    if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) return sb_take(&b);
    sqlite3_prepare_v2(h, "SELECT text FROM generations WHERE run_id = ? ORDER BY task, doc_id", -1, &st, NULL);
    sqlite3_bind_int64(st, 1, id);
    while (sqlite3_step(st) == SQLITE_ROW) sb_printf(&b, "%s|", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(h);
    return sb_take(&b);
}

/* Sampling: the same seed gives the same answers, another seed others;
 * each doc draws from its own stream; greedy ignores the seed. */
static void test_generation_sampling(void) {
    task_registry *reg = load_reg();
    if (!reg) return;
    runner *r = gen_runner_open();
    char *db1 = new_db(), *db2 = new_db(), *db3 = new_db();
    run_opts o = opts("gen_letter");
    o.temperature = 0.8;
    o.has_gen_seed = 1;
    o.gen_seed = 7;
    run_result a, b, c;
    int64_t i1 = run_ok(r, reg, db1, &o, &a), i2 = run_ok(r, reg, db2, &o, &b);
    o.gen_seed = 8;
    int64_t i3 = run_ok(r, reg, db3, &o, &c);
    char *t1 = gen_texts(db1, i1), *t2 = gen_texts(db2, i2), *t3 = gen_texts(db3, i3);
    CHECK(t1[0] && !strcmp(t1, t2) && strcmp(t1, t3));
    /* same seed, new run in the same database: the cache answers */
    o.gen_seed = 7;
    o.no_resume = 1;
    run_result d;
    CHECK(run_ok(r, reg, db1, &o, &d) > 0 && d.requests_computed == 0);
    /* greedy: the seed is not part of the request */
    run_opts g = opts("gen_letter");
    run_result e1, e2;
    CHECK(run_ok(r, reg, db1, &g, &e1) > 0 && e1.requests_computed == 23);
    g.has_gen_seed = 1;
    g.gen_seed = 99;
    CHECK(run_ok(r, reg, db1, &g, &e2) > 0 && e2.requests_computed == 0);
    free(t1);
    free(t2);
    free(t3);
    runner_free(r);
    task_registry_free(reg);
    free(db1);
    free(db2);
    free(db3);
}

/* Interrupted after one batch of generations, then resumed: the same rows
 * as an uninterrupted run, nothing twice. */
static void test_generation_resume(void) {
    task_registry *reg = load_reg();
    if (!reg) return;
    char *ref_db = new_db(), *db = new_db();
    runner *ref = gen_runner_open(), *r = gen_runner_open();
    run_opts o = opts("gen_letter");
    o.batch = 5;
    run_result rr, a, b;
    int64_t ref_id = run_ok(ref, reg, ref_db, &o, &rr);
    volatile sig_atomic_t stop = 0;
    fake_of(r)->stop = &stop;
    fake_of(r)->stop_after = 2;
    o.stop = &stop;
    int64_t id = run_ok(r, reg, db, &o, &a);
    CHECK(id > 0 && a.stopped && q_num(db, "SELECT count(*) FROM generations", 0) == 10);
    CHECK(q_num(db, "SELECT status = 'interrupted' FROM runs WHERE id = ?", id) == 1);
    stop = 0;
    fake_of(r)->stop_after = 0;
    CHECK(run_ok(r, reg, db, &o, &b) == id && b.resumed && b.docs_skipped == 10 && b.requests_computed == 13);
    char *t1 = gen_texts(ref_db, ref_id), *t2 = gen_texts(db, id);
    CHECK(!strcmp(t1, t2));
    CHECK_NEAR(metric(db, id, "gen_letter", "exact_match", 0), metric(ref_db, ref_id, "gen_letter", "exact_match", 0),
               0);
    free(t1);
    free(t2);
    runner_free(ref);
    runner_free(r);
    task_registry_free(reg);
    free(ref_db);
    free(db);
}
int main(void) {
    fixture_dirs("run_gen");
    setup_gen();
    RUN(test_generation);
    RUN(test_generation_sampling);
    RUN(test_generation_resume);
    teardown();
    return check_summary_();
}
