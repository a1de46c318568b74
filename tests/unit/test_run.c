/* The run pipeline end to end on a fake runner and a toy task folder
 * written to /tmp: batching, the request cache, resume, metrics,
 * calibration and latency units of multiple-choice and rolling tasks.
 * Generation: test_run_gen.c. */
#include <jansson.h>
#include <signal.h>

#include "../../metrics/stats.h"
#include "fake_runner.h"
#include "run_fixture.h"

/* Toy tasks: two 4-way MC tasks (CSV, one shot), an mc2 task (JSON), a
 * rolling task (JSONL), a group of the two MC tasks and a nested group. */
static void setup(void) {
    fixture_dirs("run");
    char toy[200];
    snprintf(toy, sizeof toy, "%s/toy", g_data);
    const char *mc_def =
        "{\"name\": \"%s\", \"version\": \"1\","
        " \"dataset\": {\"format\": \"csv\", \"columns\": [\"question\", \"A\", \"B\", \"C\", \"D\", \"answer\"],"
        "  \"splits\": {\"test\": \"toy/%s_test.csv\", \"dev\": \"toy/%s_dev.csv\"}},"
        " \"eval_split\": \"test\", \"output_type\": \"multiple_choice\","
        " \"doc_to_text\": \"Q: {{question}}\\nAnswer:\","
        " \"doc_to_choice\": [\"{{A}}\", \"{{B}}\", \"{{C}}\", \"{{D}}\"],"
        " \"doc_to_target\": \"{{answer|int}}\","
        " \"fewshot\": {\"split\": \"dev\", \"k\": 1},"
        " \"metrics\": [\"acc\", \"acc_norm\", \"acc_bytes\", \"exact_match\"]}";
    const char *names[] = {"toy_a", "toy_b"};
    int sizes[] = {12, 7};
    for (int t = 0; t < 2; t++) {
        char def[2048], fn[64];
        snprintf(def, sizeof def, mc_def, names[t], names[t], names[t]);
        snprintf(fn, sizeof fn, "%s.json", names[t]);
        write_file(g_defs, fn, def);
        sb csv;
        sb_init(&csv);
        for (int i = 0; i < sizes[t]; i++)
            sb_printf(&csv, "\"질문 %d of %s, with \"\"quotes\"\", commas\",alpha %d,béta %d,gamma,delta %d,%d\n", i,
                      names[t], i, i * 7, i % 3, (i * 5 + t) % 4);
        snprintf(fn, sizeof fn, "%s_test.csv", names[t]);
        write_file(toy, fn, csv.s);
        sb_clear(&csv);
        sb_printf(&csv, "dev question,one,two,three,four,2\n");
        snprintf(fn, sizeof fn, "%s_dev.csv", names[t]);
        write_file(toy, fn, csv.s);
        sb_free(&csv);
    }
    write_file(g_defs, "toy_mc2.json",
               "{\"name\": \"toy_mc2\", \"version\": \"1\","
               " \"dataset\": {\"format\": \"json\", \"splits\": {\"validation\": \"toy/mc2.json\"}},"
               " \"eval_split\": \"validation\", \"output_type\": \"multiple_choice\","
               " \"doc_to_text\": \"Q: {{q}}\\nA:\", \"doc_to_choice\": \"{{choices}}\", \"doc_to_target\": 0,"
               " \"doc_to_labels\": \"{{labels}}\", \"metrics\": [\"mc2\", \"acc\"]}");
    write_file(toy, "mc2.json",
               "[{\"q\": \"one?\", \"choices\": [\"yes\", \"no\", \"maybe so\"], \"labels\": [1, 0, 1]},"
               " {\"q\": \"two?\", \"choices\": [\"a\", \"b\"], \"labels\": [1, 0]},"
               " {\"q\": \"셋?\", \"choices\": [\"가\", \"나\", \"다\", \"라\"], \"labels\": [1, 1, 0, 0]},"
               " {\"q\": \"four?\", \"choices\": [\"x\", \"y\", \"z\"], \"labels\": [1, 0, 0]},"
               " {\"q\": \"five?\", \"choices\": [\"p\", \"q\"], \"labels\": [1, 0]}]");
    write_file(g_defs, "toy_roll.json",
               "{\"name\": \"toy_roll\", \"version\": \"1\","
               " \"dataset\": {\"format\": \"jsonl\", \"splits\": {\"test\": \"toy/roll.jsonl\"}},"
               " \"eval_split\": \"test\", \"output_type\": \"loglikelihood_rolling\", \"doc_to_text\": \"{{text}}\","
               " \"metrics\": [\"word_perplexity\", \"byte_perplexity\", \"bits_per_byte\", \"token_perplexity\"]}");
    write_file(toy, "roll.jsonl",
               "{\"text\": \"Once upon a time there was a cat.\"}\n"
               "{\"text\": \" leading space and  double  spaces\"}\n"
               "{\"text\": \"한국어 문장입니다. 둘째 문장.\"}\n"
               "{\"text\": \"last line\\nwith a newline\"}\n");
    write_file(g_defs, "toy.json", "{\"group\": \"toy\", \"members\": [\"toy_a\", \"toy_b\"]}");
    write_file(g_defs, "toy_all.json", "{\"group\": \"toy_all\", \"members\": [\"toy\", \"toy_mc2\"]}");
}

/* acc recomputed in SQL from the choices rows: argmax ll, ties to the lowest index. */
static double sql_acc(const char *db, int64_t run_id, const char *task) {
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT avg(d.target = (SELECT c.choice_idx FROM choices c WHERE c.run_id = d.run_id AND c.task = d.task"
             " AND c.doc_id = d.doc_id ORDER BY c.logprob DESC, c.choice_idx ASC LIMIT 1))"
             " FROM docs d WHERE d.run_id = ? AND d.task = '%s'",
             task);
    return q_num(db, sql, run_id);
}

static double sql_mc2(const char *db, int64_t run_id, const char *task) {
    char sql[640];
    snprintf(sql, sizeof sql,
             "WITH m AS (SELECT doc_id, max(logprob) mx FROM choices WHERE run_id = ?1 AND task = '%s' GROUP BY doc_id),"
             " p AS (SELECT c.doc_id, sum(exp(c.logprob - m.mx) * (c.label = 1)) / sum(exp(c.logprob - m.mx)) v"
             " FROM choices c JOIN m USING (doc_id) WHERE c.run_id = ?1 AND c.task = '%s' GROUP BY c.doc_id)"
             " SELECT avg(v) FROM p",
             task, task);
    return q_num(db, sql, run_id);
}

/* --- tests ----------------------------------------------------------------------- */

static void test_sample_docs(void) {
    int a[100], b[100], c[100];
    CHECK(run_sample_docs(5, 0, 1, a) == 5 && a[0] == 0 && a[4] == 4);
    CHECK(run_sample_docs(5, 9, 1, a) == 5);
    CHECK(run_sample_docs(100, 10, 1, a) == 10);
    CHECK(run_sample_docs(100, 10, 1, b) == 10);
    CHECK(run_sample_docs(100, 10, 2, c) == 10);
    CHECK(!memcmp(a, b, sizeof(int) * 10));
    CHECK(memcmp(a, c, sizeof(int) * 10) != 0);
    int first_n = 1;
    for (int i = 0; i < 10; i++) {
        CHECK(a[i] >= 0 && a[i] < 100);
        if (i) CHECK(a[i] > a[i - 1]); /* ascending, distinct */
        if (a[i] != i) first_n = 0;
    }
    CHECK(!first_n);
    /* every doc is equally likely: over many seeds each index is drawn ~limit/n of the time */
    int hits[20] = {0};
    for (uint64_t s = 0; s < 4000; s++) {
        int k = run_sample_docs(20, 5, s, a);
        for (int i = 0; i < k; i++) hits[a[i]]++;
    }
    for (int i = 0; i < 20; i++) CHECKF(hits[i] > 850 && hits[i] < 1150, "doc %d drawn %d times of ~1000", i, hits[i]);
}

static void test_pipeline_metrics(void) {
    task_registry *reg = load_reg();
    CHECK(reg != NULL);
    if (!reg) return;
    runner *r = fake_runner_open(SHA_A);
    char *db = new_db();
    run_opts o = opts("toy_all,toy_roll");
    const char *keys[] = {"purpose", "메모"}, *vals[] = {"unit 'test'", "값"};
    o.tag_keys = keys;
    o.tag_values = vals;
    o.n_tags = 2;
    run_result res;
    int64_t id = run_ok(r, reg, db, &o, &res);
    CHECK(id > 0);
    CHECK(!res.resumed && !res.stopped);
    CHECK(res.docs == 12 + 7 + 5 + 4 && res.docs_skipped == 0);
    /* 4 choices per MC doc, plus the mc2 and rolling requests; all distinct */
    long expect_req = 12 * 4 + 7 * 4 + (3 + 2 + 4 + 3 + 2) + 4;
    CHECK(res.requests_computed == expect_req && res.requests_cached == 0);
    CHECK(fake_of(r)->conts == expect_req);
    CHECK(q_num(db, "SELECT count(*) FROM request_cache", 0) == expect_req);
    CHECK(q_num(db, "SELECT requests_computed FROM runs WHERE id = ?", id) == expect_req);
    CHECK(q_num(db, "SELECT status = 'done' AND finished_at IS NOT NULL FROM runs WHERE id = ?", id) == 1);
    CHECK(q_num(db, "SELECT model_sha256 = '" SHA_A "' FROM runs WHERE id = ?", id) == 1);
    CHECK(q_num(db, "SELECT (SELECT count(*) FROM json_each(task_hashes)) FROM runs WHERE id = ?", id) == 4);
    CHECK(q_num(db, "SELECT (SELECT count(*) FROM json_each(data_hashes)) FROM runs WHERE id = ?", id) == 6);
    CHECK(q_num(db, "SELECT json_extract(data_hashes, '$.\"toy/toy_a_test.csv\"') IS NOT NULL FROM runs WHERE id = ?",
                id) == 1);
    CHECK(q_num(db, "SELECT count(*) FROM tags WHERE run_id = ? AND value IN ('unit ''test''', '값')", id) == 2);
    CHECK(q_num(db, "SELECT json_extract(tags, '$.purpose') = 'unit ''test''' FROM runs WHERE id = ?", id) == 1);
    CHECK(q_num(db, "SELECT count(*) - count(DISTINCT task || '/' || doc_id) FROM docs WHERE run_id = ?", id) == 0);
    CHECK(q_num(db, "SELECT count(*) FROM latency WHERE run_id = ?", id) == 28);
    /* stored metrics equal those recomputed from the stored choices */
    const char *mc[] = {"toy_a", "toy_b", "toy_mc2"};
    for (int i = 0; i < 3; i++) {
        double v = metric(db, id, mc[i], "acc", 0), want = sql_acc(db, id, mc[i]);
        CHECKF(fabs(v - want) < 1e-12, "%s acc %g vs %g", mc[i], v, want);
    }
    double m2 = metric(db, id, "toy_mc2", "mc2", 0), m2w = sql_mc2(db, id, "toy_mc2");
    CHECKF(fabs(m2 - m2w) < 1e-12 && m2 > 0 && m2 < 1, "mc2 %g vs %g", m2, m2w);
    /* stderr of a 0/1 mean: sqrt(p(1-p) n/(n-1)) / sqrt(n) */
    double p = metric(db, id, "toy_a", "acc", 0), se = metric(db, id, "toy_a", "acc", 1);
    CHECK_NEAR(se, sqrt(p * (1 - p) * 12 / 11) / sqrt(12), 1e-12);
    /* groups: size-weighted over the leaves, pooled stderr; nested groups reach the leaves */
    double va = metric(db, id, "toy_a", "acc", 0), vb = metric(db, id, "toy_b", "acc", 0);
    double sa = metric(db, id, "toy_a", "acc", 1), sbb = metric(db, id, "toy_b", "acc", 1);
    double gv, gse, v3[] = {va, vb}, s3[] = {sa, sbb};
    int n3[] = {12, 7}, N;
    stats_group(v3, s3, n3, 2, &gv, &gse, &N);
    CHECK_NEAR(metric(db, id, "toy", "acc", 0), gv, 1e-12);
    CHECK_NEAR(metric(db, id, "toy", "acc", 1), gse, 1e-12);
    CHECK(q_num(db, "SELECT n FROM metrics WHERE run_id = ? AND task = 'toy' AND metric = 'acc'", id) == 19);
    CHECK(q_num(db, "SELECT kind = 'group' FROM metrics WHERE run_id = ? AND task = 'toy'", id) == 1);
    CHECK_NEAR(metric(db, id, "toy_all", "acc", 0), (va * 12 + vb * 7 + metric(db, id, "toy_mc2", "acc", 0) * 5) / 24,
               1e-12);
    CHECK(isnan(metric(db, id, "toy", "mc2", 0))); /* not every leaf has it: no row */
    CHECK(q_num(db, "SELECT count(*) FROM metrics WHERE run_id = ? AND task = 'toy_all' AND metric NOT IN"
                    " ('confident_error_rate', 'brier', 'ece') AND metric NOT LIKE 'ece_bin_%'",
                id) == 1);
    /* rolling: corpus-level perplexities from the stored rows */
    double wp = metric(db, id, "toy_roll", "word_perplexity", 0);
    double want_wp = q_num(db,
                           "SELECT exp(-sum(logprob) / sum(n_words)) FROM choices WHERE run_id = ? AND task = 'toy_roll'",
                           id);
    CHECK_NEAR(wp, want_wp, 1e-9 * want_wp);
    double bpb = metric(db, id, "toy_roll", "bits_per_byte", 0);
    double want_bpb =
        q_num(db, "SELECT -sum(logprob) / sum(n_bytes) / ln(2) FROM choices WHERE run_id = ? AND task = 'toy_roll'", id);
    CHECK_NEAR(bpb, want_bpb, 1e-12);
    CHECK(metric(db, id, "toy_roll", "word_perplexity", 1) > 0); /* bootstrap stderr */
    CHECK(q_num(db, "SELECT sum(n_words) FROM choices WHERE run_id = ? AND task = 'toy_roll'", id) ==
          8 + 6 + 4 + 5); /* " leading.." counts an empty first word, "  " runs count once */
    /* formats */
    store *s;
    cj_err e;
    CHECK(store_open(db, &s, &e) == 0);
    sb out;
    sb_init(&out);
    CHECK(run_format_metrics(s, id, "csv", &out, &e) == 0);
    CHECK(strstr(out.s, "task,kind,metric,value,stderr,n\n") == out.s);
    CHECK(strstr(out.s, "toy,group,acc,") != NULL);
    sb_clear(&out);
    CHECK(run_format_metrics(s, id, "json", &out, &e) == 0);
    json_t *j = json_loads(out.s, 0, NULL);
    CHECK(j && json_array_size(json_object_get(j, "metrics")) > 10);
    json_decref(j);
    sb_clear(&out);
    CHECK(run_format_metrics(s, id, "table", &out, &e) == 0 && strstr(out.s, "toy (group)"));
    CHECK(run_format_metrics(s, id, "xml", &out, &e) == -1);
    sb_free(&out);
    store_close(s);
    runner_free(r);
    task_registry_free(reg);
    free(db);
}

static void test_cache_and_batch_independence(void) {
    task_registry *reg = load_reg();
    if (!reg) return;
    char *db = new_db();
    runner *r1 = fake_runner_open(SHA_A), *r2 = fake_runner_open(SHA_A), *r3 = fake_runner_open(SHA_A);
    run_opts o = opts("toy");
    run_result a, b, c;
    int64_t id1 = run_ok(r1, reg, db, &o, &a);
    /* the same config again (new run): everything comes from the cache */
    o.no_resume = 1;
    o.batch = 5;
    int64_t id2 = run_ok(r2, reg, db, &o, &b);
    CHECK(id1 > 0 && id2 > id1);
    CHECK(fake_of(r2)->calls == 0 && b.requests_computed == 0 && b.requests_cached == a.requests_computed);
    CHECK_NEAR(metric(db, id1, "toy", "acc", 0), metric(db, id2, "toy", "acc", 0), 0);
    CHECK_NEAR(metric(db, id1, "toy_a", "acc_norm", 0), metric(db, id2, "toy_a", "acc_norm", 0), 0);
    /* another model identity shares nothing */
    runner *r4 = fake_runner_open("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
    run_result d;
    CHECK(run_ok(r4, reg, db, &o, &d) > 0 && d.requests_cached == 0 && d.requests_computed == a.requests_computed);
    /* a separate tokenizer file changes the identity too */
    o.tokenizer_sha256 = "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc";
    CHECK(run_ok(r3, reg, db, &o, &c) > 0 && c.requests_cached == 0);
    CHECK(q_num(db, "SELECT model_sha256 = '" SHA_A "' AND tokenizer_sha256 LIKE 'ccc%' FROM runs WHERE id = ?",
                c.run_id) == 1);
    CHECK(q_num(db, "SELECT count(DISTINCT model_sha256) FROM request_cache", 0) == 3);
    runner_free(r1);
    runner_free(r2);
    runner_free(r3);
    runner_free(r4);
    task_registry_free(reg);
    free(db);
}

static void test_stop_and_resume(void) {
    task_registry *reg = load_reg();
    if (!reg) return;
    /* reference: uninterrupted, in its own database */
    char *ref_db = new_db(), *db = new_db();
    runner *ref = fake_runner_open(SHA_A);
    run_opts o = opts("toy_all");
    o.batch = 2;
    run_result rr;
    int64_t ref_id = run_ok(ref, reg, ref_db, &o, &rr);
    CHECK(ref_id > 0);
    /* stop after the second runner call: two batches (4 docs) are committed */
    volatile sig_atomic_t stop = 0;
    runner *r1 = fake_runner_open(SHA_A);
    fake_of(r1)->stop = &stop;
    fake_of(r1)->stop_after = 2;
    o.stop = &stop;
    run_result a;
    int64_t id = run_ok(r1, reg, db, &o, &a);
    CHECK(id > 0 && a.stopped);
    CHECK(q_num(db, "SELECT status = 'interrupted' FROM runs WHERE id = ?", id) == 1);
    CHECK(q_num(db, "SELECT count(*) FROM docs WHERE run_id = ?", id) == 4);
    CHECK(q_num(db, "SELECT count(*) FROM metrics WHERE run_id = ?", id) == 0);
    double cached_before = q_num(db, "SELECT count(*) FROM request_cache", 0);
    CHECK(cached_before == a.requests_computed);
    /* run again: the interrupted run is picked up by its config hash */
    stop = 0;
    runner *r2 = fake_runner_open(SHA_A);
    run_result b;
    CHECK(run_ok(r2, reg, db, &o, &b) == id);
    CHECK(b.resumed && !b.stopped && b.docs_skipped == 4 && b.docs == rr.docs);
    CHECK(b.requests_computed == rr.requests_computed - (long)cached_before);
    CHECK(fake_of(r2)->conts == b.requests_computed);
    CHECK(q_num(db, "SELECT status = 'done' FROM runs WHERE id = ?", id) == 1);
    CHECK(q_num(db, "SELECT count(*) FROM runs", 0) == 1);
    CHECK(q_num(db, "SELECT count(*) - count(DISTINCT task || '/' || doc_id) FROM docs WHERE run_id = ?", id) == 0);
    CHECK(q_num(db, "SELECT count(*) - count(DISTINCT task || '/' || doc_id || '/' || choice_idx) FROM choices"
                    " WHERE run_id = ?", id) == 0);
    CHECK(q_num(db, "SELECT requests_computed FROM runs WHERE id = ?", id) == rr.requests_computed);
    const char *checks[][2] = {{"toy_a", "acc"}, {"toy_b", "acc_norm"}, {"toy_mc2", "mc2"}, {"toy", "acc"},
                               {"toy_all", "acc"}};
    for (int i = 0; i < 5; i++) {
        CHECK_NEAR(metric(db, id, checks[i][0], checks[i][1], 0), metric(ref_db, ref_id, checks[i][0], checks[i][1], 0),
                   0);
        CHECK_NEAR(metric(db, id, checks[i][0], checks[i][1], 1), metric(ref_db, ref_id, checks[i][0], checks[i][1], 1),
                   0);
    }
    /* an explicit --resume of a run with another configuration is refused */
    store *s;
    cj_err e;
    CHECK(store_open(db, &s, &e) == 0);
    run_opts o2 = opts("toy_a");
    o2.resume_id = id;
    run_result c;
    CHECK(run_execute(r2, reg, s, &o2, &c, &e) == -1 && strstr(e.msg, "configuration"));
    o2.resume_id = 999;
    CHECK(run_execute(r2, reg, s, &o2, &c, &e) == -1 && strstr(e.msg, "no such run"));
    store_close(s);
    runner_free(ref);
    runner_free(r1);
    runner_free(r2);
    task_registry_free(reg);
    free(ref_db);
    free(db);
}

static void test_runner_failure_then_resume(void) {
    task_registry *reg = load_reg();
    if (!reg) return;
    char *db = new_db();
    runner *r1 = fake_runner_open(SHA_A);
    fake_of(r1)->fail_call = 3;
    run_opts o = opts("toy_a");
    store *s;
    cj_err e;
    CHECK(store_open(db, &s, &e) == 0);
    run_result a;
    CHECK(run_execute(r1, reg, s, &o, &a, &e) == -1);
    CHECK(strstr(e.msg, "call 3 fails") != NULL);
    store_close(s);
    CHECK(q_num(db, "SELECT status = 'failed' FROM runs WHERE id = ?", a.run_id) == 1);
    CHECK(q_num(db, "SELECT count(*) FROM docs", 0) == 6);
    runner *r2 = fake_runner_open(SHA_A);
    run_result b;
    CHECK(run_ok(r2, reg, db, &o, &b) == a.run_id && b.resumed && b.docs_skipped == 6);
    CHECK(q_num(db, "SELECT count(*) FROM docs", 0) == 12);
    runner_free(r1);
    runner_free(r2);
    task_registry_free(reg);
    free(db);
}

static void test_limit_and_seed(void) {
    task_registry *reg = load_reg();
    if (!reg) return;
    char *db = new_db();
    runner *r = fake_runner_open(SHA_A);
    run_opts o = opts("toy_a");
    o.limit = 5;
    o.seed = 1;
    run_result a, b, c;
    int64_t id1 = run_ok(r, reg, db, &o, &a);
    o.seed = 2;
    int64_t id2 = run_ok(r, reg, db, &o, &b);
    o.seed = 1;
    o.no_resume = 1;
    int64_t id3 = run_ok(r, reg, db, &o, &c);
    CHECK(id1 && id2 && id3 && id1 != id2 && id2 != id3);
    CHECK(a.docs == 5 && b.docs == 5);
    char sql[400];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM docs x JOIN docs y ON x.doc_id = y.doc_id AND x.task = y.task"
             " WHERE x.run_id = ?1 AND y.run_id = %lld",
             (long long)id3);
    CHECK(q_num(db, sql, id1) == 5); /* same seed, same docs */
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM docs x JOIN docs y ON x.doc_id = y.doc_id AND x.task = y.task"
             " WHERE x.run_id = ?1 AND y.run_id = %lld",
             (long long)id2);
    CHECK(q_num(db, sql, id1) < 5); /* another seed, other docs */
    CHECK(q_num(db, "SELECT \"limit\" = 5 AND seed = 1 FROM runs WHERE id = ?", id1) == 1);
    runner_free(r);
    task_registry_free(reg);
    free(db);
}

static void test_bad_selection(void) {
    task_registry *reg = load_reg();
    if (!reg) return;
    char *db = new_db();
    runner *r = fake_runner_open(SHA_A);
    store *s;
    cj_err e;
    CHECK(store_open(db, &s, &e) == 0);
    run_opts o = opts("no_such_task");
    run_result res;
    CHECK(run_execute(r, reg, s, &o, &res, &e) == -1 && strstr(e.msg, "no_such_task"));
    o = opts("toy_a");
    o.batch = 0;
    CHECK(run_execute(r, reg, s, &o, &res, &e) == -1);
    o = opts("toy_a");
    o.data_dir = "/nonexistent";
    CHECK(run_execute(r, reg, s, &o, &res, &e) == -1);
    CHECK(q_num(db, "SELECT count(*) FROM runs", 0) == 0); /* nothing recorded for a run that never started */
    store_close(s);
    runner_free(r);
    task_registry_free(reg);
    free(db);
}

/* --- calibration and latency ------------------------------------------------------ */

/* Calibration recomputed from the stored choices: softmax of the raw
 * log-likelihoods, the top probability against the gold index. */
typedef struct {
    double cer, brier, ece;
    int n, bin_n[10];
} calib_want;

static calib_want recompute_calib(const char *db, int64_t id, const char *task, double threshold) {
    calib_want w = {0};
    sqlite3 *h;
    sqlite3_stmt *st;
    if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) return w;
    sqlite3_prepare_v2(h,
                       "SELECT c.doc_id, d.target, c.logprob FROM choices c JOIN docs d USING (run_id, task, doc_id)"
                       " WHERE c.run_id = ? AND c.task = ? ORDER BY c.doc_id, c.choice_idx",
                       -1, &st, NULL);
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, task, -1, SQLITE_TRANSIENT);
    double ll[64], bin_conf[10] = {0}, bin_acc[10] = {0};
    int k = 0, target = -1, more = sqlite3_step(st) == SQLITE_ROW;
    char doc[64] = "";
    while (1) {
        int same = more && !strcmp(doc, (const char *)sqlite3_column_text(st, 0));
        if (!same && k > 0) {
            double mx = ll[0], z = 0, conf = 0, brier = 0;
            int pred = 0;
            for (int i = 0; i < k; i++) mx = ll[i] > mx ? ll[i] : mx;
            for (int i = 0; i < k; i++) z += exp(ll[i] - mx);
            for (int i = 0; i < k; i++) {
                double p = exp(ll[i] - mx) / z;
                if (ll[i] > ll[pred]) pred = i;
                brier += (p - (i == target)) * (p - (i == target));
            }
            conf = exp(ll[pred] - mx) / z;
            int b = conf >= 1 ? 9 : (int)(conf * 10);
            w.bin_n[b]++;
            bin_conf[b] += conf;
            bin_acc[b] += pred == target;
            w.cer += pred != target && conf >= threshold;
            w.brier += brier;
            w.n++;
            k = 0;
        }
        if (!more) break;
        snprintf(doc, sizeof doc, "%s", (const char *)sqlite3_column_text(st, 0));
        target = sqlite3_column_int(st, 1);
        if (k < 64) ll[k++] = sqlite3_column_double(st, 2);
        more = sqlite3_step(st) == SQLITE_ROW;
    }
    sqlite3_finalize(st);
    sqlite3_close(h);
    for (int b = 0; b < 10; b++)
        if (w.bin_n[b]) w.ece += fabs(bin_acc[b] - bin_conf[b]) / w.n;
    w.cer /= w.n;
    w.brier /= w.n;
    return w;
}

static void test_calibration(void) {
    task_registry *reg = load_reg();
    if (!reg) return;
    runner *r = fake_runner_open(SHA_A);
    char *db = new_db();
    run_opts o = opts("toy");
    o.confidence_threshold = 0.5; /* the fake model is rarely 90% sure */
    run_result res;
    int64_t id = run_ok(r, reg, db, &o, &res);
    const char *tasks[] = {"toy_a", "toy_b"};
    for (int t = 0; t < 2 && id; t++) {
        calib_want w = recompute_calib(db, id, tasks[t], 0.5);
        CHECK(w.n == (t ? 7 : 12));
        CHECK_NEAR(metric(db, id, tasks[t], "confident_error_rate", 0), w.cer, 1e-12);
        CHECK_NEAR(metric(db, id, tasks[t], "brier", 0), w.brier, 1e-12);
        CHECK_NEAR(metric(db, id, tasks[t], "ece", 0), w.ece, 1e-12);
        CHECK(metric(db, id, tasks[t], "ece", 1) >= 0); /* bootstrap stderr */
        for (int b = 0; b < 10; b++) {
            char m[32];
            snprintf(m, sizeof m, "ece_bin_%d_n", b);
            CHECK(metric(db, id, tasks[t], m, 0) == w.bin_n[b]);
        }
    }
    /* the group's ECE is that of all its docs pooled, its bins the sums */
    CHECK(q_num(db, "SELECT sum(value) FROM metrics WHERE run_id = ? AND task = 'toy' AND metric LIKE 'ece\\_bin\\_%\\_n' ESCAPE '\\'",
                id) == 19);
    double ce = metric(db, id, "toy", "confident_error_rate", 0);
    CHECK_NEAR(ce, (metric(db, id, "toy_a", "confident_error_rate", 0) * 12 +
                    metric(db, id, "toy_b", "confident_error_rate", 0) * 7) / 19, 1e-12);
    CHECK(metric(db, id, "toy", "ece", 0) >= 0 && isnan(metric(db, id, "toy", "ece", 1)));
    /* the threshold is part of the identity: the default starts a new run, from the cache */
    run_opts o2 = opts("toy");
    run_result res2;
    int64_t id2 = run_ok(r, reg, db, &o2, &res2);
    CHECK(id2 > id && !res2.resumed && res2.requests_computed == 0);
    calib_want w9 = recompute_calib(db, id2, "toy_a", 0.9);
    CHECK_NEAR(metric(db, id2, "toy_a", "confident_error_rate", 0), w9.cer, 1e-12);
    CHECK_NEAR(metric(db, id2, "toy_a", "brier", 0), metric(db, id, "toy_a", "brier", 0), 0);
    check_latency_units(db, id);
    store *s;
    cj_err e;
    sb out;
    sb_init(&out);
    if (store_open(db, &s, &e) == 0) {
        CHECK(run_format_metrics(s, id, "table", &out, &e) == 0);
        CHECK(strstr(out.s, "hallucination and calibration") && strstr(out.s, "confident_error_rate"));
        CHECK(strstr(out.s, "latency and cost") && strstr(out.s, "toy_a  ") && !strstr(out.s, "ece_bin_"));
        sb_clear(&out);
        CHECK(run_format_metrics(s, id, "csv", &out, &e) == 0 && strstr(out.s, "toy_a,task,ece_bin_9_acc,"));
        sb_clear(&out);
        CHECK(run_format_metrics(s, id, "json", &out, &e) == 0);
        json_t *j = json_loads(out.s, 0, NULL);
        CHECK(j && json_array_size(json_object_get(j, "latency")) == 3);
        json_decref(j);
        store_close(s);
    }
    sb_free(&out);
    runner_free(r);
    task_registry_free(reg);
    free(db);
}
int main(void) {
    setup();
    RUN(test_sample_docs);
    RUN(test_pipeline_metrics);
    RUN(test_cache_and_batch_independence);
    RUN(test_stop_and_resume);
    RUN(test_runner_failure_then_resume);
    RUN(test_limit_and_seed);
    RUN(test_bad_selection);
    RUN(test_calibration);
    teardown();
    return check_summary_();
}
