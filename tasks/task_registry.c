/* task_registry — every task and group definition under a folder, checked
 * together (unique names, group members that exist, no cycles), and the
 * selection of tasks by name, group and glob (task.h). One definition is
 * parsed by task.c; the registry only finds the files and joins them. */
#include <dirent.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/fileio.h"
#include "../common/sha256.h"
#include "task_impl.h"

#define MAX_DEF_FILES 100000
#define MAX_DIR_DEPTH 8

struct task_registry {
    task **tasks; /* [n_tasks], sorted by name */
    int n_tasks;
    task_group *groups; /* [n_groups], sorted by name */
    int n_groups;
    char **group_paths; /* [n_groups] definition file of each group, for messages */
};

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Appends every *.json under dir (recursively, hidden entries skipped). */
static int list_defs(const char *dir, int depth, char ***paths, int *n, cj_err *e) {
    if (depth > MAX_DIR_DEPTH) return cj_fail(e, "%s: folders nested too deeply", dir);
    DIR *d = opendir(dir);
    if (!d) return cj_fail(e, "cannot open task folder %s", dir);
    struct dirent *de;
    int rc = 0;
    while (!rc && (de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        char *p = cj_path_join(dir, de->d_name);
        size_t len = strlen(de->d_name);
        if (cj_is_dir(p)) {
            rc = list_defs(p, depth + 1, paths, n, e);
            free(p);
        } else if (len > 5 && !strcmp(de->d_name + len - 5, ".json") && cj_is_file(p)) {
            if (*n >= MAX_DEF_FILES) {
                free(p);
                rc = cj_fail(e, "%s: more than %d definition files", dir, MAX_DEF_FILES);
                break;
            }
            *paths = cj_xrealloc(*paths, (size_t)(*n + 1) * sizeof **paths);
            (*paths)[(*n)++] = p;
        } else free(p);
    }
    closedir(d);
    return rc;
}

static void add_group(task_registry *r, const char *path, task_group g) {
    r->groups = cj_xrealloc(r->groups, (size_t)(r->n_groups + 1) * sizeof *r->groups);
    r->group_paths = cj_xrealloc(r->group_paths, (size_t)(r->n_groups + 1) * sizeof *r->group_paths);
    r->groups[r->n_groups] = g;
    r->group_paths[r->n_groups++] = cj_xstrdup(path);
}

static int add_task(task_registry *r, const char *path, const char *sha, json_t *root, cj_err *e) {
    task *t = cj_xcalloc(1, sizeof *t);
    t->def_path = cj_xstrdup(path);
    memcpy(t->sha256, sha, sizeof t->sha256);
    if (task_def_parse(path, root, t, e)) {
        task_free(t);
        return -1;
    }
    r->tasks = cj_xrealloc(r->tasks, (size_t)(r->n_tasks + 1) * sizeof *r->tasks);
    r->tasks[r->n_tasks++] = t;
    return 0;
}

/* A definition file holds a task, or a group when it has a "group" field. */
static int load_file(task_registry *r, const char *path, cj_err *e) {
    char *buf;
    size_t len;
    if (cj_read_file(path, &buf, &len, e)) return -1;
    char sha[65];
    sha256_hex(buf, len, sha);
    json_error_t je;
    json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
    free(buf);
    if (!root) return cj_fail(e, "%s:%d: invalid JSON: %s", path, je.line, je.text);
    int rc = 0;
    if (!json_is_object(root)) rc = cj_fail(e, "%s: expected a JSON object (a task or a group)", path);
    else if (json_object_get(root, "group")) {
        task_group g = {0};
        rc = task_def_parse_group(path, root, &g, e);
        if (!rc) add_group(r, path, g);
    } else rc = add_task(r, path, sha, root, e);
    json_decref(root);
    return rc;
}

static int cmp_task(const void *a, const void *b) {
    return strcmp((*(task *const *)a)->name, (*(task *const *)b)->name);
}

static int find_task_index(const task_registry *r, const char *name) {
    int lo = 0, hi = r->n_tasks - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2, c = strcmp(r->tasks[mid]->name, name);
        if (!c) return mid;
        if (c < 0) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}

static int find_group_index(const task_registry *r, const char *name) {
    int lo = 0, hi = r->n_groups - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2, c = strcmp(r->groups[mid].name, name);
        if (!c) return mid;
        if (c < 0) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}

/* Sorts groups by name, keeping each group's path beside it. */
static void sort_groups(task_registry *r) {
    for (int i = 1; i < r->n_groups; i++)
        for (int j = i; j > 0 && strcmp(r->groups[j - 1].name, r->groups[j].name) > 0; j--) {
            task_group g = r->groups[j];
            r->groups[j] = r->groups[j - 1];
            r->groups[j - 1] = g;
            char *p = r->group_paths[j];
            r->group_paths[j] = r->group_paths[j - 1];
            r->group_paths[j - 1] = p;
        }
}

/* Names are unique across tasks and groups (sorted arrays: neighbours). */
static int check_unique(const task_registry *r, cj_err *e) {
    for (int i = 1; i < r->n_tasks; i++)
        if (!strcmp(r->tasks[i]->name, r->tasks[i - 1]->name))
            return cj_fail(e, "%s: field 'name': task '%s' is also defined in %s", r->tasks[i]->def_path,
                           r->tasks[i]->name, r->tasks[i - 1]->def_path);
    for (int i = 0; i < r->n_groups; i++) {
        if (i && !strcmp(r->groups[i].name, r->groups[i - 1].name))
            return cj_fail(e, "%s: field 'group': group '%s' is also defined in %s", r->group_paths[i],
                           r->groups[i].name, r->group_paths[i - 1]);
        int t = find_task_index(r, r->groups[i].name);
        if (t >= 0)
            return cj_fail(e, "%s: field 'group': '%s' is already the name of a task in %s", r->group_paths[i],
                           r->groups[i].name, r->tasks[t]->def_path);
    }
    return 0;
}

/* Depth-first over group members: every member exists, no group contains
 * itself. state: 0 unvisited, 1 on the path, 2 done. */
static int check_group(const task_registry *r, int g, char *state, cj_err *e) {
    if (state[g] == 2) return 0;
    state[g] = 1;
    const task_group *gr = &r->groups[g];
    for (int i = 0; i < gr->n_members; i++) {
        const char *m = gr->members[i];
        if (find_task_index(r, m) >= 0) continue;
        int sub = find_group_index(r, m);
        if (sub < 0)
            return cj_fail(e, "%s: field 'members': unknown task or group '%s'", r->group_paths[g], m);
        if (state[sub] == 1)
            return cj_fail(e, "%s: field 'members': group '%s' contains itself through '%s'", r->group_paths[g],
                           gr->name, m);
        if (check_group(r, sub, state, e)) return -1;
    }
    state[g] = 2;
    return 0;
}

int task_registry_load(const char *dir, task_registry **out, cj_err *e) {
    task_registry *r = cj_xcalloc(1, sizeof *r);
    char **paths = NULL;
    int n = 0, rc = list_defs(dir, 0, &paths, &n, e);
    if (!rc && n) qsort(paths, (size_t)n, sizeof *paths, cmp_str);
    for (int i = 0; !rc && i < n; i++) rc = load_file(r, paths[i], e);
    task_strs_free(paths, n);
    if (!rc) {
        if (r->n_tasks) qsort(r->tasks, (size_t)r->n_tasks, sizeof *r->tasks, cmp_task);
        sort_groups(r);
        rc = check_unique(r, e);
    }
    if (!rc && r->n_groups) {
        char *state = cj_xcalloc((size_t)r->n_groups, 1);
        for (int g = 0; !rc && g < r->n_groups; g++) rc = check_group(r, g, state, e);
        free(state);
    }
    if (rc) {
        task_registry_free(r);
        *out = NULL;
        return -1;
    }
    *out = r;
    return 0;
}

void task_registry_free(task_registry *r) {
    if (!r) return;
    for (int i = 0; i < r->n_tasks; i++) task_free(r->tasks[i]);
    free(r->tasks);
    for (int i = 0; i < r->n_groups; i++) {
        task_group_free(&r->groups[i]);
        free(r->group_paths[i]);
    }
    free(r->groups);
    free(r->group_paths);
    free(r);
}

char *task_default_dir(void) {
    const char *env = getenv("CHAEJEOM_TASKS");
    if (env && *env) return cj_xstrdup(env);
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = 0;
            /* Beside the binary (an installed tree or the repo root), or one
             * level up (the binary inside a build folder). */
            const char *rel[] = {"tasks/defs", "../tasks/defs"};
            for (int i = 0; i < 2; i++) {
                char *p = cj_path_join(exe, rel[i]);
                if (cj_is_dir(p)) return p;
                free(p);
            }
        }
    }
    return cj_xstrdup("tasks/defs");
}

int task_registry_n_tasks(const task_registry *r) { return r->n_tasks; }
task *task_registry_task(const task_registry *r, int i) { return i >= 0 && i < r->n_tasks ? r->tasks[i] : NULL; }
int task_registry_n_groups(const task_registry *r) { return r->n_groups; }
const task_group *task_registry_group(const task_registry *r, int i) {
    return i >= 0 && i < r->n_groups ? &r->groups[i] : NULL;
}

task *task_find(const task_registry *r, const char *name) {
    int i = find_task_index(r, name);
    return i < 0 ? NULL : r->tasks[i];
}

const task_group *task_find_group(const task_registry *r, const char *name) {
    int i = find_group_index(r, name);
    return i < 0 ? NULL : &r->groups[i];
}

/* ---------- selection ---------- */

typedef struct {
    const task_registry *r;
    char *task_seen, *group_seen;
    task **tasks;
    int n_tasks;
    const task_group **groups;
    int n_groups;
} selection;

static void sel_task(selection *s, int i) {
    if (s->task_seen[i]) return;
    s->task_seen[i] = 1;
    s->tasks[s->n_tasks++] = s->r->tasks[i];
}

/* Members first, then the group itself (post-order). */
static void sel_group(selection *s, int g) {
    if (s->group_seen[g]) return;
    s->group_seen[g] = 1;
    const task_group *gr = &s->r->groups[g];
    for (int i = 0; i < gr->n_members; i++) {
        int t = find_task_index(s->r, gr->members[i]);
        if (t >= 0) sel_task(s, t);
        else sel_group(s, find_group_index(s->r, gr->members[i]));
    }
    s->groups[s->n_groups++] = gr;
}

static int sel_item(selection *s, const char *item, cj_err *e) {
    int t = find_task_index(s->r, item), g = find_group_index(s->r, item);
    if (t >= 0) sel_task(s, t);
    else if (g >= 0) sel_group(s, g);
    else if (strpbrk(item, "*?[")) {
        int hits = 0;
        for (int i = 0; i < s->r->n_groups; i++)
            if (!fnmatch(item, s->r->groups[i].name, 0)) sel_group(s, i), hits++;
        for (int i = 0; i < s->r->n_tasks; i++)
            if (!fnmatch(item, s->r->tasks[i]->name, 0)) sel_task(s, i), hits++;
        if (!hits) return cj_fail(e, "no task or group matches '%s'", item);
    } else return cj_fail(e, "unknown task or group '%s' (chaejeom tasks lists them)", item);
    return 0;
}

int task_select(const task_registry *r, const char *list, task ***tasks, int *n_tasks, const task_group ***groups,
                int *n_groups, cj_err *e) {
    selection s = {r, cj_xcalloc((size_t)r->n_tasks + 1, 1), cj_xcalloc((size_t)r->n_groups + 1, 1),
                   cj_xcalloc((size_t)r->n_tasks + 1, sizeof(task *)),
                   0,
                   cj_xcalloc((size_t)r->n_groups + 1, sizeof(task_group *)),
                   0};
    char *copy = cj_xstrdup(list ? list : ""), *save = NULL;
    int rc = 0;
    for (char *it = strtok_r(copy, ",", &save); it && !rc; it = strtok_r(NULL, ",", &save)) {
        while (*it == ' ' || *it == '\t') it++;
        size_t len = strlen(it);
        while (len && (it[len - 1] == ' ' || it[len - 1] == '\t')) it[--len] = 0;
        if (len) rc = sel_item(&s, it, e);
    }
    if (!rc && !s.n_tasks) rc = cj_fail(e, "no tasks selected");
    free(copy);
    free(s.task_seen);
    free(s.group_seen);
    if (rc) {
        free(s.tasks);
        free(s.groups);
        *tasks = NULL;
        *groups = NULL;
        *n_tasks = *n_groups = 0;
        return -1;
    }
    *tasks = s.tasks;
    *n_tasks = s.n_tasks;
    *groups = s.groups;
    *n_groups = s.n_groups;
    return 0;
}
