/* task_data — the docs a task reads: its evaluation split and few-shot
 * split, each doc's stable id and hash, and the data files with their
 * digests (task.h: task_load_data). Apart from the definition because data
 * is read only when a task runs or prints a prompt; listing and checking
 * definitions never touches it. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "../common/fileio.h"
#include "../common/sb.h"
#include "task_impl.h"

static int read_split(task *t, int split, const char *data_dir, json_t **docs, cj_err *e) {
    char *path = cj_path_join(data_dir, t->splits[split].path);
    ds_csv_opts o = {t->csv_header, (const char *const *)t->columns, t->n_columns, t->csv_delimiter,
                     t->csv_no_quoting};
    char sha[65];
    if (!cj_is_file(path)) {
        /* The first folder of a split's path is its dataset, the name `fetch` takes. */
        const char *rel = t->splits[split].path, *slash = strchr(rel, '/');
        int rc = cj_fail(e, "%s: split '%s': %s not found; download it with `chaejeom fetch %.*s` "
                         "(into ~/.cache/chaejeom/datasets) or point --data-dir at a folder that has it",
                         t->def_path, t->splits[split].name, path, slash ? (int)(slash - rel) : (int)strlen(rel), rel);
        free(path);
        return rc;
    }
    int rc = ds_read(path, t->format, t->format == DS_CSV ? &o : NULL, docs, sha, e);
    if (!rc && t->n_list_fields)
        if ((rc = ds_list_fields(path, *docs, (const char *const *)t->list_fields, t->n_list_fields, e))) {
            json_decref(*docs);
            *docs = NULL;
        }
    if (rc) cj_wrap(e, "%s: split '%s'", t->def_path, t->splits[split].name);
    else if (!json_is_array(*docs) || json_array_size(*docs) == 0 || json_array_size(*docs) > INT_MAX / 2) {
        rc = cj_fail(e, "%s: split '%s': %s holds no docs", t->def_path, t->splits[split].name, path);
        json_decref(*docs);
        *docs = NULL;
    } else {
        t->files[t->n_files] = path;
        memcpy(t->file_sha[t->n_files++], sha, sizeof sha);
        path = NULL;
    }
    free(path);
    return rc;
}

int task_load_data(task *t, const char *data_dir, cj_err *e) {
    if (t->loaded) return 0;
    if (read_split(t, t->eval_split, data_dir, &t->docs, e)) return -1;
    if (t->fewshot_split >= 0 && t->fewshot_split != t->eval_split) {
        if (read_split(t, t->fewshot_split, data_dir, &t->fewshot_docs, e)) {
            json_decref(t->docs);
            t->docs = NULL;
            for (int i = 0; i < t->n_files; i++) free(t->files[i]);
            t->n_files = 0;
            return -1;
        }
    } else if (t->fewshot_split >= 0) t->fewshot_docs = json_incref(t->docs);
    else if (t->fewshot_samples) t->fewshot_docs = json_incref(t->fewshot_samples);
    int n = (int)json_array_size(t->docs);
    t->doc_ids = cj_xcalloc((size_t)n, sizeof *t->doc_ids);
    t->doc_hashes = cj_xcalloc((size_t)n, sizeof *t->doc_hashes);
    for (int i = 0; i < n; i++) {
        sb b;
        sb_init(&b);
        sb_printf(&b, "%s:%d", t->splits[t->eval_split].name, i);
        t->doc_ids[i] = sb_take(&b);
        ds_doc_hash(json_array_get(t->docs, (size_t)i), t->doc_hashes[i]);
    }
    t->loaded = 1;
    return 0;
}

int task_n_splits(const task *t) { return t->n_splits; }
const char *task_split_path(const task *t, int i) { return i >= 0 && i < t->n_splits ? t->splits[i].path : NULL; }

int task_n_docs(const task *t) { return t->docs ? (int)json_array_size(t->docs) : 0; }
const char *task_doc_id(const task *t, int i) { return i >= 0 && i < task_n_docs(t) ? t->doc_ids[i] : NULL; }
const char *task_doc_hash(const task *t, int i) { return i >= 0 && i < task_n_docs(t) ? t->doc_hashes[i] : NULL; }
int task_n_data_files(const task *t) { return t->n_files; }

const char *task_data_file(const task *t, int i, const char **sha256) {
    if (i < 0 || i >= t->n_files) return NULL;
    if (sha256) *sha256 = t->file_sha[i];
    return t->files[i];
}
