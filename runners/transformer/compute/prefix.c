/* prefix — the prefix tree of a scoring call, and the KV cache between its
 * batches (fwd_impl.h). */
#include <stdlib.h>
#include <string.h>

#include "../../../common/sb.h"
#include "fwd_impl.h"

/* --- the prefix tree ------------------------------------------------------------
 *
 * fwd_score builds a radix tree of its sequences (sorted, then split at the
 * longest common prefixes of neighbours): a node is a run of positions
 * [d0, d1) whose tokens every sequence below it shares. Nodes are computed
 * once each, in depth-first order, packed into batches of max_batch rows (a
 * node longer than what is left of a batch continues in the next one); a
 * row attends to its ancestors' cache rows, root first, then to its own
 * node's. Between batches the cache is compacted to the nodes still needed:
 * those with descendants left to compute, the node being computed, and the
 * path kept for the next call. That path, the deepest node on the last
 * sequence's path that at least half of the sequences go through, stays at
 * cache rows [0, P) in position order after the call (within the KV budget),
 * and the next call's sequences that begin with its tokens attend to it
 * instead of computing it again. */

static int new_node(trie *T, const int *toks, int parent, int d0, int d1) {
    if (T->n == T->cap) {
        T->cap = T->cap ? 2 * T->cap : 64;
        T->node = cj_xrealloc(T->node, (size_t)T->cap * sizeof *T->node);
    }
    T->node[T->n] = (tnode){toks, parent, d0, d1, 0, -1, 0, -1, 0, 0, 0};
    return T->n++;
}

static int lcp(const int *a, int na, const int *b, int nb) {
    int n = imin(na, nb), i = 0;
    while (i < n && a[i] == b[i]) i++;
    return i;
}

/* Sequence views for sorting: index n is the retained prefix. */

static int seq_less(const tokseq *v, int a, int b) {
    int l = lcp(v[a].t, v[a].n, v[b].t, v[b].n);
    if (l < v[a].n && l < v[b].n) return v[a].t[l] < v[b].t[l];
    if (v[a].n != v[b].n) return v[a].n < v[b].n;
    return a < b;
}

/* Sorts idx[0..n) by token sequence (stable merge sort; tmp: n ints). */
static void sort_seqs(const tokseq *v, int *idx, int *tmp, int n) {
    if (n < 2) return;
    int h = n / 2;
    sort_seqs(v, idx, tmp, h);
    sort_seqs(v, idx + h, tmp, n - h);
    int i = 0, j = h, k = 0;
    while (i < h && j < n) tmp[k++] = seq_less(v, idx[j], idx[i]) ? idx[j++] : idx[i++];
    while (i < h) tmp[k++] = idx[i++];
    while (j < n) tmp[k++] = idx[j++];
    memcpy(idx, tmp, (size_t)n * sizeof(int));
}

/* Builds the tree of v[0..nv) in T (sharing off: one node per sequence). */
void trie_build(trie *T, const tokseq *v, int nv, int share) {
    int *idx = cj_xmalloc((size_t)nv * sizeof(int)), *tmp = cj_xmalloc((size_t)nv * sizeof(int));
    int *stack = cj_xmalloc((size_t)(2 * nv + 1) * sizeof(int)), sp = 0;
    for (int i = 0; i < nv; i++) idx[i] = i;
    if (share) sort_seqs(v, idx, tmp, nv);
    for (int k = 0; k < nv; k++) {
        const tokseq *s = &v[idx[k]];
        int l = share && k ? lcp(v[idx[k - 1]].t, v[idx[k - 1]].n, s->t, s->n) : 0;
        while (sp > 0 && T->node[stack[sp - 1]].d0 >= l) sp--;
        if (sp > 0 && T->node[stack[sp - 1]].d1 > l) { /* split the node at l */
            int old = stack[sp - 1];
            int x = new_node(T, T->node[old].toks, T->node[old].parent, T->node[old].d0, l);
            T->node[old].d0 = l;
            T->node[old].parent = x;
            stack[sp - 1] = x;
        }
        if (s->n > l || sp == 0) {
            int x = new_node(T, s->t, sp ? stack[sp - 1] : -1, l, s->n);
            stack[sp++] = x;
        }
        T->leaf[idx[k]] = stack[sp - 1];
    }
    T->order = idx;
    T->n_order = nv;
    free(tmp);
    free(stack);
}

/* Attaches each scored position of seqs[0..n) to the node holding the row
 * that predicts it (position t - 1), grouped by node. */
void trie_outputs(trie *T, const fwd_seq *seqs, int n) {
    for (int s = 0; s < n; s++)
        for (int x = T->leaf[s]; x >= 0; x = T->node[x].parent) {
            tnode *N = &T->node[x];
            int a = imax(N->d0, seqs[s].score_from - 1), b = imin(N->d1, seqs[s].n_tokens - 1);
            if (b > a) N->nout += b - a;
        }
    int total = 0;
    for (int x = 0; x < T->n; x++) {
        T->node[x].out0 = total;
        total += T->node[x].nout;
        T->node[x].nout = 0;
    }
    T->outs = cj_xmalloc((size_t)imax(total, 1) * sizeof *T->outs);
    for (int s = 0; s < n; s++)
        for (int x = T->leaf[s]; x >= 0; x = T->node[x].parent) {
            tnode *N = &T->node[x];
            int a = imax(N->d0, seqs[s].score_from - 1), b = imin(N->d1, seqs[s].n_tokens - 1);
            for (int p = a; p < b; p++) T->outs[N->out0 + N->nout++] = (out_row){p - N->d0, s, p + 1};
        }
}

/* Marks owners; the retained prefix's nodes as computed (at cache row =
 * position), except those a prediction is read from (their hidden states
 * were not kept, so they run again); the schedule (depth first: sequences in
 * sorted order, each path root first); pending counts; the path to keep. */
void trie_plan(trie *T, int n, int ret_n, int keep_max) {
    for (int s = n - 1; s >= 0; s--)
        for (int x = T->leaf[s]; x >= 0; x = T->node[x].parent) T->node[x].owner = s;
    if (ret_n > 0)
        for (int x = T->leaf[n]; x >= 0; x = T->node[x].parent)
            if (T->node[x].nout == 0) {
                T->node[x].done = T->node[x].d1 - T->node[x].d0;
                T->node[x].kv = T->node[x].d0;
            }
    /* depth first: the sequences in the order the tree was built, each
     * path root first */
    int *path = cj_xmalloc((size_t)(T->n + 1) * sizeof(int));
    char *seen = cj_xcalloc((size_t)T->n + 1, 1);
    T->sched = cj_xmalloc((size_t)(T->n + 1) * sizeof(int));
    for (int k = 0; k < T->n_order; k++) {
        int np = 0;
        if (T->order[k] == n) continue; /* the retained prefix: nothing to compute */
        for (int x = T->leaf[T->order[k]]; x >= 0; x = T->node[x].parent) path[np++] = x;
        while (np-- > 0) {
            int x = path[np];
            tnode *N = &T->node[x];
            if (seen[x] || N->done == N->d1 - N->d0) continue;
            seen[x] = 1;
            T->sched[T->n_sched++] = x;
            for (int a = N->parent; a >= 0; a = T->node[a].parent) T->node[a].pending++;
        }
    }
    /* keep: deepest node on the last sequence's path that half the
     * sequences (at least 2) go through, if its path fits keep_max */
    if (n > 0 && keep_max > 0) {
        int *count = cj_xcalloc((size_t)T->n, sizeof(int));
        for (int s = 0; s < n; s++)
            for (int x = T->leaf[s]; x >= 0; x = T->node[x].parent) count[x]++;
        for (int x = T->leaf[n - 1]; x >= 0; x = T->node[x].parent)
            if (count[x] >= imax(2, (n + 1) / 2) && T->node[x].d1 <= keep_max) {
                for (int a = x; a >= 0; a = T->node[a].parent) T->node[a].keep = 1;
                break;
            }
        free(count);
    }
    free(path);
    free(seen);
}

void trie_free(trie *T) {
    free(T->node);
    free(T->leaf);
    free(T->order);
    free(T->sched);
    free(T->outs);
}

/* --- the cache between batches ----------------------------------------------- */

/* Moves cache rows [src, src + n) of every layer to [dst, dst + n), dst <= src. */
static void kv_move(fwd *f, int dst, int src, int n) {
    if (dst == src || n == 0) return;
    for (int l = 0; l < f->m->hp.n_layers; l++) {
        float *k = f->kc[l];
        size_t hd = (size_t)f->m->hp.head_dim;
        for (size_t d = 0; d < (size_t)f->kv_dim; d += hd) { /* a head at a time */
            for (int p = 0; p < n; p++) { /* ascending: dst <= src, so nothing is read after it was written */
                float *to = k + kv_kidx(f, dst + p, d);
                const float *from = k + kv_kidx(f, src + p, d);
                for (size_t i = 0; i < hd; i++) to[i * KT] = from[i * KT];
            }
            memmove(f->vc[l] + kv_vidx(f, dst, d), f->vc[l] + kv_vidx(f, src, d), (size_t)n * hd * sizeof(float));
        }
    }
}

/* Keeps only the nodes still needed, moved down to rows [0, live) in their
 * order in the cache (the node being computed, if any, is the highest and
 * stays last, so that its next rows follow). Returns live. */
int kv_compact(fwd *f, trie *T, int *tmp) {
    int nl = 0;
    for (int x = 0; x < T->n; x++) {
        tnode *N = &T->node[x];
        if (N->done > 0 && (N->pending > 0 || N->keep || N->done < N->d1 - N->d0)) tmp[nl++] = x;
        else N->kv = -1;
    }
    for (int i = 1; i < nl; i++) /* by cache row (insertion sort: few live nodes) */
        for (int j = i; j > 0 && T->node[tmp[j - 1]].kv > T->node[tmp[j]].kv; j--) {
            int t = tmp[j];
            tmp[j] = tmp[j - 1];
            tmp[j - 1] = t;
        }
    int top = 0;
    for (int i = 0; i < nl; i++) {
        tnode *N = &T->node[tmp[i]];
        kv_move(f, top, N->kv, N->done);
        N->kv = top;
        top += N->done;
    }
    return top;
}
