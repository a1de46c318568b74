/* Dataset reader options (dataset.h): another CSV delimiter (TSV), quoting
 * off for files whose text holds bare quotes, and fields holding a Python or
 * JSON list literal (ds_list_fields); then the real KoBEST TSVs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../common/fileio.h"
#include "../../datasets/dataset.h"
#include "../check.h"

static json_t *parse(const char *data, const ds_csv_opts *o, cj_err *e) {
    json_t *d = NULL;
    if (ds_parse("t.tsv", data, strlen(data), DS_CSV, o, &d, e)) return NULL;
    return d;
}

static const char *str_at(const json_t *docs, size_t i, const char *key) {
    return json_string_value(json_object_get(json_array_get(docs, i), key));
}

static void test_tab_delimiter(void) {
    cj_err e;
    ds_csv_opts o = {.header = 1, .delimiter = '\t'};
    json_t *d = parse("a\tb\n1,2\t\"x\ty\"\n", &o, &e);
    CHECKF(d && json_array_size(d) == 1, "%s", d ? "" : e.msg);
    CHECK_STR(str_at(d, 0, "a"), "1,2"); /* a comma is text in a TSV */
    CHECK_STR(str_at(d, 0, "b"), "x\ty"); /* quoting still on: a quoted tab */
    json_decref(d);
    o.delimiter = ';';
    d = parse("a;b\n1;2\n", &o, &e);
    CHECK(d && !strcmp(str_at(d, 0, "b"), "2"));
    json_decref(d);
}

static void test_quoting_off(void) {
    cj_err e;
    ds_csv_opts o = {.header = 1, .delimiter = '\t', .no_quoting = 1};
    const char *tsv = "q\tn\n\"Hello\" she said\t1\n5\" \"screen\t\"2\"\n";
    json_t *d = parse(tsv, &o, &e);
    CHECKF(d && json_array_size(d) == 2, "%s", d ? "" : e.msg);
    CHECK_STR(str_at(d, 0, "q"), "\"Hello\" she said");
    CHECK_STR(str_at(d, 1, "q"), "5\" \"screen");
    CHECK_STR(str_at(d, 1, "n"), "\"2\"");
    json_decref(d);
    /* the same file with quoting on fails, and says how to fix it */
    o.no_quoting = 0;
    d = parse(tsv, &o, &e);
    CHECK(d == NULL);
    CHECKF(strstr(e.msg, "t.tsv:2:") && strstr(e.msg, "\"quoting\": false"), "%s", e.msg);
}

static json_t *one_doc(const char *field_json) {
    json_t *docs = json_array(), *doc = json_object();
    json_object_set_new(doc, "c", json_string(field_json));
    json_array_append_new(docs, doc);
    return docs;
}

/* The list read from text (NULL on error, message in e). */
static json_t *list_of(const char *text, cj_err *e) {
    json_t *docs = one_doc(text);
    const char *f[] = {"c"};
    json_t *l = NULL;
    if (ds_list_fields("x.csv", docs, f, 1, e) == 0) l = json_incref(json_object_get(json_array_get(docs, 0), "c"));
    json_decref(docs);
    return l;
}

static void check_list(const char *text, const char *want_json) {
    cj_err e;
    json_t *l = list_of(text, &e), *want = json_loads(want_json, 0, NULL);
    char *got = l ? json_dumps(l, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    CHECKF(l && json_equal(l, want), "%s -> %s (%s)", text, got ? got : "NULL", l ? "" : e.msg);
    free(got);
    json_decref(l);
    json_decref(want);
}

static void test_list_literals(void) {
    check_list("['a', 'b']", "[\"a\",\"b\"]");
    check_list("[\"it's\", 'say \"hi\"', '']", "[\"it's\",\"say \\\"hi\\\"\",\"\"]");
    check_list("['\\'q\\'', 'tab\\there', 'nl\\n', '\\\\', '\\x41\\u00e9\\U0001F600', '\\d']",
               "[\"'q'\",\"tab\\there\",\"nl\\n\",\"\\\\\",\"A\\u00e9\\ud83d\\ude00\",\"\\\\d\"]");
    check_list("[1, -2, 3.5, True, False, None, ['x', []],]", "[1,-2,3.5,true,false,null,[\"x\",[]]]");
    check_list("  [ '한국어' ,'😀' ]  ", "[\"한국어\",\"😀\"]");
    check_list("[\"a\\/b\", \"\\u00e9\"]", "[\"a/b\",\"\\u00e9\"]"); /* JSON first: \/ is JSON's */
    check_list("[]", "[]");
    const char *bad[] = {"", "a, b", "['a'", "['a' 'b']", "['a'] x", "['\\ud800']", "['\\x4']", "[nan]",
                         "[1_0]", "['a\nb']", "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[['a']]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        cj_err e;
        json_t *l = list_of(bad[i], &e);
        CHECKF(l == NULL && strstr(e.msg, "x.csv: doc 0: field 'c'"), "'%s' accepted", bad[i]);
        json_decref(l);
    }
    /* a missing field, a non-string, and a field that is a list already */
    json_t *docs = json_loads("[{\"c\": [\"ok\"], \"n\": 3}]", 0, NULL);
    const char *f1[] = {"c"}, *f2[] = {"n"}, *f3[] = {"zz"};
    cj_err e;
    CHECK(ds_list_fields("y.jsonl", docs, f1, 1, &e) == 0);
    CHECK(ds_list_fields("y.jsonl", docs, f2, 1, &e) != 0 && strstr(e.msg, "'n' is not a list literal"));
    CHECK(ds_list_fields("y.jsonl", docs, f3, 1, &e) != 0 && strstr(e.msg, "no field 'zz'"));
    json_decref(docs);
}

/* Every KoBEST file reads with quoting off, with the row counts of SKT's
 * v1.0 release; with quoting on, BoolQ's bare quotes break the columns. */
static void test_kobest_files(void) {
    char *assets = cj_assets_dir();
    static const struct {
        const char *task;
        int rows[3];
    } want[] = {{"BoolQ", {3665, 700, 1404}}, {"COPA", {3076, 500, 1000}}, {"HellaSwag", {2029, 500, 500}},
                {"SentiNeg", {3649, 400, 397}}, {"WiC", {3318, 610, 1260}}};
    const char *split[] = {"train", "dev", "test"};
    ds_csv_opts o = {.header = 1, .delimiter = '\t', .no_quoting = 1};
    for (size_t t = 0; t < sizeof want / sizeof *want; t++) {
        for (int s = 0; s < 3; s++) {
            char path[1024];
            snprintf(path, sizeof path, "%s/datasets/kobest/%s/%s.tsv", assets, want[t].task, split[s]);
            json_t *d = NULL;
            cj_err e;
            if (s == 0 && t == 0 && access(path, R_OK) != 0) {
                printf("SKIP test_kobest_files: %s not found\n", path);
                free(assets);
                return;
            }
            int rc = ds_read(path, DS_CSV, &o, &d, NULL, &e);
            CHECKF(rc == 0 && (int)json_array_size(d) == want[t].rows[s], "%s: %s %zu rows", path, rc ? e.msg : "",
                   d ? json_array_size(d) : 0);
            json_decref(d);
        }
    }
    char path[1024];
    snprintf(path, sizeof path, "%s/datasets/kobest/BoolQ/train.tsv", assets);
    json_t *d = NULL;
    cj_err e;
    o.no_quoting = 0;
    CHECK(ds_read(path, DS_CSV, &o, &d, NULL, &e) != 0 && d == NULL);
    free(assets);
}

int main(void) {
    RUN(test_tab_delimiter);
    RUN(test_quoting_off);
    RUN(test_list_literals);
    RUN(test_kobest_files);
    return check_summary_();
}
