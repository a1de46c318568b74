/* run_ident — a run's identity (its config hash and the texts stored with
 * it) and the choice of which run a session writes to: a new one, or an
 * unfinished one with the same identity to resume. Apart from the batches
 * because the identity decides what a session may reuse, and nothing in it
 * depends on how the docs are scored. */
#include "run_impl.h"

#include <errno.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/sha256.h"
#include "../common/version.h"
#include "../metrics/calib.h"

const char *run_git_commit(void) {
#ifdef CJ_GIT_COMMIT
    return CJ_GIT_COMMIT;
#else
    static char commit[48];
    if (commit[0]) return commit;
    strcpy(commit, "unknown");
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return commit;
    exe[n] = 0;
    sb cmd;
    sb_init(&cmd);
    sb_puts(&cmd, "git -C '");
    for (const char *p = dirname(exe); *p; p++) {
        if (*p == '\'') sb_puts(&cmd, "'\\''");
        else sb_putc(&cmd, *p);
    }
    sb_puts(&cmd, "' rev-parse HEAD 2>/dev/null");
    FILE *f = popen(cmd.s, "r");
    sb_free(&cmd);
    if (!f) return commit;
    char line[128] = {0};
    int ok = fgets(line, sizeof line, f) != NULL;
    pclose(f);
    if (!ok || strspn(line, "0123456789abcdef") != 40) return commit;
    memcpy(commit, line, 40);
    commit[40] = 0;
    return commit;
#endif
}

static void host_name(char *buf, size_t n) {
    if (gethostname(buf, n) != 0) snprintf(buf, n, "unknown");
    buf[n - 1] = 0;
}

static int pid_alive(int64_t pid) {
    if (pid <= 0 || pid != (pid_t)pid) return 0;
    return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

/* --- run identity ------------------------------------------------------------- */

void run_ident_free(run_ident *id) {
    free(id->tasks);
    free(id->task_hashes);
    free(id->data_hashes);
    free(id->tags);
}

/* Data file paths relative to the datasets root, so that the identity does
 * not change when the assets move. */
static const char *rel_path(const char *path, const char *root) {
    size_t n = root ? strlen(root) : 0;
    while (n > 1 && root[n - 1] == '/') n--;
    if (n && !strncmp(path, root, n) && path[n] == '/') return path + n + 1;
    return path;
}

/* 1 if the runner's numbers may differ from machine to machine: OpenBLAS's
 * products, whose last bits depend on the kernels it picks for the CPU. */
static int machine_dependent(const runner_info *info) { return info->kernels && !strcmp(info->kernels, "openblas"); }

/* The cache key: the weights, the separate tokenizer, and OpenBLAS's
 * products when asked for, so that their answers never serve a run of our
 * own products (whose bits are the same on every machine) nor the other way
 * round. */
static void model_key(const runner_info *info, const run_opts *o, char key[65]) {
    if (!o->tokenizer_sha256 && !machine_dependent(info)) {
        snprintf(key, 65, "%s", info->sha256);
        return;
    }
    sb k;
    sb_init(&k);
    sb_printf(&k, "%s", info->sha256);
    if (o->tokenizer_sha256) sb_printf(&k, ":%s", o->tokenizer_sha256);
    if (machine_dependent(info)) sb_printf(&k, ":kernels=openblas");
    sha256_hex(k.s, k.len, key);
    sb_free(&k);
}

/* The names asked for, as given: comma-separated, blanks trimmed. */
static json_t *asked_names(const char *list) {
    json_t *asked = json_array();
    const char *p = list;
    while (*p) {
        size_t n = strcspn(p, ",");
        char *name = cj_xstrndup(p, n);
        char *s = name + strspn(name, " \t");
        size_t l = strlen(s);
        while (l && (s[l - 1] == ' ' || s[l - 1] == '\t')) s[--l] = 0;
        if (*s) json_array_append_new(asked, json_string(s));
        free(name);
        p += n + (p[n] == ',');
    }
    return asked;
}

/* The hash of every task definition and of every data file it reads. */
static void content_hashes(const run_opts *o, task *const *tasks, int nt, json_t **th, json_t **dh) {
    *th = json_object();
    *dh = json_object();
    for (int i = 0; i < nt; i++) {
        json_object_set_new(*th, task_name(tasks[i]), json_string(task_def_sha256(tasks[i])));
        for (int f = 0; f < task_n_data_files(tasks[i]); f++) {
            const char *sha = NULL;
            const char *path = task_data_file(tasks[i], f, &sha);
            if (path) json_object_set_new(*dh, rel_path(path, o->data_dir), json_string(sha ? sha : ""));
        }
    }
}

/* The config: what the numbers depend on, in a canonical form, hashed into
 * id->config_hash. Task order does not matter; the leaf tasks are sorted. */
static void config_hash(const runner_info *info, const run_opts *o, task *const *tasks, int nt,
                        const task_group *const *groups, int ng, json_t *th, json_t *dh, run_ident *id) {
    json_t *leaves = json_array(), *gnames = json_array();
    for (int i = 0; i < ng; i++) json_array_append_new(gnames, json_string(groups[i]->name));
    char **names = cj_xmalloc(sizeof *names * (size_t)(nt ? nt : 1));
    for (int i = 0; i < nt; i++) names[i] = (char *)task_name(tasks[i]);
    qsort(names, (size_t)nt, sizeof *names, run_cmp_str);
    for (int i = 0; i < nt; i++) json_array_append_new(leaves, json_string(names[i]));
    free(names);
    json_t *cfg = json_pack("{s:s, s:O, s:O, s:O, s:O, s:I, s:I, s:I}", "model", id->model_key, "tasks", leaves,
                            "groups", gnames, "task_hashes", th, "data_hashes", dh, "shots", (json_int_t)o->shots,
                            "limit", (json_int_t)o->limit, "seed", (json_int_t)o->seed);
    if (!cfg) abort();
    /* Options that change answers or metrics join the identity only when
     * set, so that a run without them keeps the identity it always had. */
    if (o->max_gen_tokens > 0) json_object_set_new(cfg, "max_gen_tokens", json_integer(o->max_gen_tokens));
    if (o->temperature >= 0) json_object_set_new(cfg, "temperature", json_real((float)o->temperature));
    if (o->top_p > 0 && o->top_p <= 1) json_object_set_new(cfg, "top_p", json_real((float)o->top_p));
    if (o->has_gen_seed) {
        char gs[24];
        snprintf(gs, sizeof gs, "%" PRIu64, o->gen_seed);
        json_object_set_new(cfg, "gen_seed", json_string(gs));
    }
    if (machine_dependent(info)) json_object_set_new(cfg, "kernels", json_string(info->kernels));
    if (o->chat && o->chat_hash) json_object_set_new(cfg, "chat", json_string(o->chat_hash));
    if (o->confidence_threshold != CALIB_DEFAULT_THRESHOLD)
        json_object_set_new(cfg, "confidence_threshold", json_real(o->confidence_threshold));
    char *c = run_json_dump(cfg, JSON_COMPACT | JSON_SORT_KEYS);
    sha256_hex(c, strlen(c), id->config_hash);
    free(c);
    json_decref(cfg);
    json_decref(leaves);
    json_decref(gnames);
}

void run_ident_make(const runner_info *info, const run_opts *o, task *const *tasks, int nt,
                    const task_group *const *groups, int ng, run_ident *id) {
    model_key(info, o, id->model_key);
    json_t *asked = asked_names(o->tasks), *th, *dh;
    content_hashes(o, tasks, nt, &th, &dh);
    json_t *tags = json_object();
    for (int i = 0; i < o->n_tags; i++) json_object_set_new(tags, o->tag_keys[i], json_string(o->tag_values[i]));
    id->tasks = run_json_dump(asked, JSON_COMPACT);
    id->task_hashes = run_json_dump(th, JSON_COMPACT | JSON_SORT_KEYS);
    id->data_hashes = run_json_dump(dh, JSON_COMPACT | JSON_SORT_KEYS);
    id->tags = run_json_dump(tags, JSON_COMPACT);
    config_hash(info, o, tasks, nt, groups, ng, th, dh, id);
    json_decref(asked);
    json_decref(th);
    json_decref(dh);
    json_decref(tags);
}

/* --- choosing the run: new or resumed ------------------------------------------ */

typedef struct {
    const char *host;
    int64_t found;
} resume_find;

static int resumable_cb(const store_run *r, void *ctx) {
    resume_find *f = ctx;
    if (!r->status || !strcmp(r->status, "done")) return 0;
    if (!strcmp(r->status, "running") && (!r->host || strcmp(r->host, f->host) || pid_alive(r->pid))) return 0;
    f->found = r->id;
    return 1;
}

/* --resume ID: the run must exist, have our config and not be running. */
static int check_resume_id(store *s, const run_opts *o, const run_ident *id, const char *host, cj_err *e) {
    store_run old;
    int found;
    if (store_run_get(s, o->resume_id, &old, &found, e)) return -1;
    if (!found) return cj_fail(e, "--resume %lld: no such run", (long long)o->resume_id);
    int same = old.config_hash && !strcmp(old.config_hash, id->config_hash);
    int live = !strcmp(old.status, "running") && old.host && !strcmp(old.host, host) && pid_alive(old.pid);
    int64_t pid = old.pid;
    store_run_clear(&old);
    if (!same)
        return cj_fail(e,
                       "--resume %lld: that run used another configuration (model, tasks, shots, limit, seed "
                       "or data differ)",
                       (long long)o->resume_id);
    if (live) return cj_fail(e, "--resume %lld: still running (pid %lld)", (long long)o->resume_id, (long long)pid);
    return 0;
}

/* The run to resume: the one asked for, else an unfinished one with our
 * config hash (0: none). */
static int pick_resume(store *s, const run_opts *o, const run_ident *id, const char *host, int64_t *rid, cj_err *e) {
    *rid = 0;
    if (o->resume_id > 0) {
        if (check_resume_id(s, o, id, host, e)) return -1;
        *rid = o->resume_id;
    } else if (!o->no_resume) {
        resume_find f = {host, 0};
        if (store_runs_each(s, id->config_hash, resumable_cb, &f, e)) return -1;
        *rid = f.found;
    }
    return 0;
}

static int insert_run(store *s, const runner_info *info, const run_opts *o, const run_ident *id, const char *host,
                      int64_t *rid, cj_err *e) {
    store_run r = {
        .model_path = info->path,
        .model_sha256 = info->sha256,
        .model_format = info->format,
        .model_arch = info->arch,
        .model_params = info->n_params,
        .model_dtype = info->dtype,
        .tokenizer = info->tokenizer,
        .tokenizer_sha256 = o->tokenizer_sha256,
        .tasks = id->tasks,
        .task_hashes = id->task_hashes,
        .data_hashes = id->data_hashes,
        .seed = (int64_t)o->seed,
        .threads = o->threads,
        .batch = o->batch,
        .shots = o->shots,
        .limit = o->limit,
        .harness_version = CJ_VERSION,
        .git_commit = run_git_commit(),
        .host = host,
        .config_hash = id->config_hash,
        .tags = id->tags,
        .pid = (int64_t)getpid(),
        .kernels = info->kernels,
    };
    if (store_run_insert(s, &r, rid, e)) return -1;
    for (int i = 0; i < o->n_tags; i++)
        if (store_tag_put(s, *rid, o->tag_keys[i], o->tag_values[i], e)) return -1;
    return 0;
}

int run_open(store *s, const runner_info *info, const run_opts *o, const run_ident *id, run_result *res, cj_err *e) {
    char host[256];
    host_name(host, sizeof host);
    int64_t rid;
    /* Finding the run to resume and claiming it is one transaction: two
     * processes started together must not both resume the same run. */
    if (store_begin(s, e)) return -1;
    if (pick_resume(s, o, id, host, &rid, e)) goto fail;
    int resumed = rid != 0;
    if (resumed) {
        if (store_run_claim(s, rid, (int64_t)getpid(), host, e)) goto fail;
    } else if (insert_run(s, info, o, id, host, &rid, e)) {
        goto fail;
    }
    if (store_commit(s, e)) return -1;
    res->resumed = resumed;
    res->run_id = rid;
    return 0;
fail:
    store_rollback(s);
    return -1;
}
