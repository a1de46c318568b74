/* model_hf — HF folders: config.json + model.safetensors (or shards listed in
 * model.safetensors.index.json) + tokenizer.json.
 *
 * Architectures: LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM
 * (Q/K/V biases). Config fields the forward pass cannot honour (rope
 * scaling, another activation, MLP or output biases) are refused rather than
 * ignored, so a checkpoint never loads into silently wrong numbers. Weights
 * F32/F16/BF16; aligned F32 is used in place, the rest is widened once.
 * HF stores Q/K for RoPE over halves, hence rope_neox = 1. */
#include <jansson.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../../common/sb.h"
#include "model.h"
#include "safetensors.h"

typedef struct {
    const char *cls;   /* "architectures" entry */
    const char *type;  /* "model_type" */
    const char *arch;  /* our name */
    int ctx_default;   /* max_position_embeddings when absent (transformers' default) */
    int qkv_bias;
} hf_arch;

static const hf_arch ARCHS[] = {
    {"LlamaForCausalLM", "llama", "llama", 2048, 0},
    {"MistralForCausalLM", "mistral", "mistral", 4096 * 32, 0},
    {"Qwen2ForCausalLM", "qwen2", "qwen2", 32768, 1},
};

/* The weights of a folder: one file or several shards, each mapped (the
 * maps belong to the model) and parsed. */
typedef struct {
    const char *dir;
    st_file *shards;
    char **shard_names; /* file names as the index spells them */
    int n;
    json_t *weight_map; /* tensor name -> shard file name; NULL for a single file */
    uint32_t dtypes;    /* bit per st_dtype seen among loaded tensors */
} hf_weights;

static void weights_free(hf_weights *w) {
    for (int i = 0; i < w->n; i++) {
        st_free(&w->shards[i]);
        free(w->shard_names[i]);
    }
    free(w->shards);
    free(w->shard_names);
    json_decref(w->weight_map);
}

/* --- config.json ----------------------------------------------------------- */

/* A positive int field; absent or null gives def (or an error if def < 0). */
static int cfg_int(const json_t *cfg, const char *file, const char *key, int def, int *out, cj_err *e) {
    const json_t *v = json_object_get(cfg, key);
    if (!v || json_is_null(v)) {
        if (def < 0) return cj_fail(e, "%s: missing \"%s\"", file, key);
        *out = def;
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) <= 0 || json_integer_value(v) > INT_MAX)
        return cj_fail(e, "%s: \"%s\" must be a positive integer", file, key);
    *out = (int)json_integer_value(v);
    return 0;
}

static int cfg_float(const json_t *cfg, const char *file, const char *key, double def, float *out, cj_err *e) {
    const json_t *v = json_object_get(cfg, key);
    if (!v || json_is_null(v)) {
        *out = (float)def;
        return 0;
    }
    if (!json_is_number(v)) return cj_fail(e, "%s: \"%s\" must be a number", file, key);
    *out = (float)json_number_value(v);
    return 0;
}

static int cfg_false(const json_t *cfg, const char *file, const char *key, cj_err *e) {
    const json_t *v = json_object_get(cfg, key);
    if (v && !json_is_null(v) && !json_is_false(v))
        return cj_fail(e, "%s: \"%s\" = true is not supported", file, key);
    return 0;
}

static const hf_arch *cfg_arch(const json_t *cfg, const char *file, cj_err *e) {
    const json_t *archs = json_object_get(cfg, "architectures");
    const json_t *type = json_object_get(cfg, "model_type");
    const char *cls = json_is_array(archs) ? json_string_value(json_array_get(archs, 0)) : NULL;
    for (size_t i = 0; i < sizeof ARCHS / sizeof ARCHS[0]; i++) {
        if (cls && !strcmp(cls, ARCHS[i].cls)) return &ARCHS[i];
        if (!cls && json_is_string(type) && !strcmp(json_string_value(type), ARCHS[i].type)) return &ARCHS[i];
    }
    cj_fail(e, "%s: architecture '%.64s' is not supported (LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM)",
            file, cls ? cls : json_is_string(type) ? json_string_value(type) : "(none)");
    return NULL;
}

/* rope_theta at the top level (older configs) or in rope_parameters
 * (transformers 5); only unscaled RoPE is supported. */
static int cfg_rope(const json_t *cfg, const char *file, float *theta, cj_err *e) {
    const json_t *rp = json_object_get(cfg, "rope_parameters");
    const json_t *scaling = json_object_get(cfg, "rope_scaling");
    if (scaling && !json_is_null(scaling))
        return cj_fail(e, "%s: \"rope_scaling\" is set; scaled RoPE is not supported", file);
    if (rp && !json_is_null(rp)) {
        if (!json_is_object(rp)) return cj_fail(e, "%s: \"rope_parameters\" is not an object", file);
        const json_t *type = json_object_get(rp, "rope_type");
        if (type && !(json_is_string(type) && !strcmp(json_string_value(type), "default")))
            return cj_fail(e, "%s: rope_parameters.rope_type '%.32s' is not supported (only \"default\")", file,
                           json_is_string(type) ? json_string_value(type) : "?");
        if (json_object_get(rp, "rope_theta")) return cfg_float(rp, file, "rope_theta", 10000.0, theta, e);
    }
    return cfg_float(cfg, file, "rope_theta", 10000.0, theta, e);
}

static int parse_config(const char *dir, model *m, int *tied, cj_err *e) {
    char *file = cj_path_join(dir, "config.json");
    char *text = NULL;
    size_t len = 0;
    json_t *cfg = NULL;
    int rc = -1;
    if (cj_read_file(file, &text, &len, e)) goto done;
    json_error_t jerr;
    cfg = json_loadb(text, len, 0, &jerr);
    if (!cfg) {
        cj_fail(e, "%s: invalid JSON: %s (line %d)", file, jerr.text, jerr.line);
        goto done;
    }
    if (!json_is_object(cfg)) {
        cj_fail(e, "%s: not a JSON object", file);
        goto done;
    }
    const hf_arch *a = cfg_arch(cfg, file, e);
    if (!a) goto done;
    model_hparams *hp = &m->hp;
    memset(hp, 0, sizeof *hp);
    if (cfg_int(cfg, file, "hidden_size", -1, &hp->dim, e) ||
        cfg_int(cfg, file, "intermediate_size", -1, &hp->ffn_dim, e) ||
        cfg_int(cfg, file, "num_hidden_layers", -1, &hp->n_layers, e) ||
        cfg_int(cfg, file, "num_attention_heads", -1, &hp->n_heads, e) ||
        cfg_int(cfg, file, "num_key_value_heads", hp->n_heads, &hp->n_kv_heads, e) ||
        cfg_int(cfg, file, "vocab_size", -1, &hp->vocab_size, e) ||
        cfg_int(cfg, file, "max_position_embeddings", a->ctx_default, &hp->ctx_len, e) ||
        cfg_float(cfg, file, "rms_norm_eps", 1e-6, &hp->rms_eps, e) || cfg_rope(cfg, file, &hp->rope_theta, e))
        goto done;
    const json_t *hd = json_object_get(cfg, "head_dim");
    if (hd && !json_is_null(hd)) {
        if (cfg_int(cfg, file, "head_dim", -1, &hp->head_dim, e)) goto done;
    } else {
        if (hp->dim % hp->n_heads) {
            cj_fail(e, "%s: num_attention_heads = %d does not divide hidden_size = %d", file, hp->n_heads, hp->dim);
            goto done;
        }
        hp->head_dim = hp->dim / hp->n_heads;
    }
    const json_t *act = json_object_get(cfg, "hidden_act");
    if (act && !(json_is_string(act) && !strcmp(json_string_value(act), "silu"))) {
        cj_fail(e, "%s: hidden_act '%.32s' is not supported (only silu)", file,
                json_is_string(act) ? json_string_value(act) : "?");
        goto done;
    }
    /* Qwen2's Q/K/V biases are implied by the architecture; Llama's
     * attention_bias would add an output bias the forward pass lacks. */
    if (cfg_false(cfg, file, "mlp_bias", e) || (!a->qkv_bias && cfg_false(cfg, file, "attention_bias", e)))
        goto done;
    const json_t *tie = json_object_get(cfg, "tie_word_embeddings");
    if (tie && !json_is_boolean(tie) && !json_is_null(tie)) {
        cj_fail(e, "%s: \"tie_word_embeddings\" must be true or false", file);
        goto done;
    }
    *tied = json_is_true(tie);
    hp->rope_neox = 1;
    hp->qkv_bias = a->qkv_bias;
    if (model_check_hparams(hp, file, e)) goto done;
    m->arch = cj_xstrdup(a->arch);
    rc = 0;
done:
    json_decref(cfg);
    free(text);
    free(file);
    return rc;
}

/* --- weights ------------------------------------------------------------------ */

static int open_shard(model *m, hf_weights *w, const char *dir, const char *name, cj_err *e) {
    char *path = cj_path_join(dir, name);
    cj_map map;
    int rc = cj_map_open(path, &map, e);
    free(path);
    if (rc) return -1;
    const cj_map *kept = model_keep_map(m, &map);
    w->shards = cj_xrealloc(w->shards, (size_t)(w->n + 1) * sizeof *w->shards);
    w->shard_names = cj_xrealloc(w->shard_names, (size_t)(w->n + 1) * sizeof *w->shard_names);
    if (st_parse(kept->path, kept->data, kept->size, &w->shards[w->n], e)) return -1;
    w->shard_names[w->n++] = cj_xstrdup(name);
    return 0;
}

/* A shard name from the index must be a plain file name inside dir. */
static int plain_name(const char *s) {
    return *s && !strchr(s, '/') && !strchr(s, '\\') && strcmp(s, ".") && strcmp(s, "..");
}

static int open_weights(model *m, hf_weights *w, const char *dir, cj_err *e) {
    char *single = cj_path_join(dir, "model.safetensors");
    int have_single = cj_is_file(single);
    free(single);
    if (have_single) return open_shard(m, w, dir, "model.safetensors", e);

    char *index = cj_path_join(dir, "model.safetensors.index.json");
    char *text = NULL;
    size_t len = 0;
    int rc = -1;
    if (!cj_is_file(index)) {
        cj_fail(e, "%s: no model.safetensors or model.safetensors.index.json", dir);
        goto done;
    }
    if (cj_read_file(index, &text, &len, e)) goto done;
    json_error_t jerr;
    json_t *root = json_loadb(text, len, 0, &jerr);
    json_t *wm = root ? json_object_get(root, "weight_map") : NULL;
    if (!json_is_object(wm)) {
        json_decref(root);
        cj_fail(e, "%s: no \"weight_map\" object%s%s", index, root ? "" : ": ", root ? "" : jerr.text);
        goto done;
    }
    w->weight_map = json_incref(wm);
    json_decref(root);
    const char *name;
    json_t *file;
    json_object_foreach(w->weight_map, name, file) {
        if (!json_is_string(file) || !plain_name(json_string_value(file))) {
            cj_fail(e, "%s: weight_map[\"%.200s\"] is not a plain file name", index, name);
            goto done;
        }
        int seen = 0;
        for (int i = 0; i < w->n && !seen; i++) seen = !strcmp(w->shard_names[i], json_string_value(file));
        if (!seen && open_shard(m, w, dir, json_string_value(file), e)) goto done;
    }
    rc = 0;
done:
    free(text);
    free(index);
    return rc;
}

static const st_tensor *find_tensor(const hf_weights *w, const char *name, const st_file **in) {
    for (int i = 0; i < w->n; i++) {
        if (w->weight_map) {
            const char *f = json_string_value(json_object_get(w->weight_map, name));
            if (!f || strcmp(f, w->shard_names[i])) continue;
        }
        const st_tensor *t = st_find(&w->shards[i], name);
        if (t) {
            *in = &w->shards[i];
            return t;
        }
    }
    return NULL;
}

/* The tensor `name` of shape [rows] (cols == 0) or [rows, cols] into *out;
 * an absent optional tensor gives 0 with *out = NULL. */
static int find_shaped(hf_weights *w, const char *name, int64_t rows, int64_t cols, int optional,
                       const st_tensor **out, const st_file **file, cj_err *e) {
    *out = NULL;
    const st_file *f = NULL;
    const st_tensor *t = find_tensor(w, name, &f);
    if (!t) return optional ? 0 : cj_fail(e, "%s: tensor '%s' not found", w->dir, name);
    int ok = cols ? t->n_dims == 2 && t->shape[0] == rows && t->shape[1] == cols
                  : t->n_dims == 1 && t->shape[0] == rows;
    if (!ok) {
        sb s;
        sb_init(&s);
        for (int d = 0; d < t->n_dims; d++) sb_printf(&s, "%s%lld", d ? ", " : "", (long long)t->shape[d]);
        if (cols)
            cj_fail(e, "%s: tensor '%s' has shape [%s], expected [%lld, %lld]", f->path, name, s.s, (long long)rows,
                    (long long)cols);
        else
            cj_fail(e, "%s: tensor '%s' has shape [%s], expected [%lld]", f->path, name, s.s, (long long)rows);
        sb_free(&s);
        return -1;
    }
    w->dtypes |= 1u << t->dtype;
    *out = t;
    *file = f;
    return 0;
}

/* The vector `name` [rows] as F32: in place when it is, else converted now. */
static int get_tensor(model *m, hf_weights *w, const char *name, int64_t rows, int optional, const float **out,
                      cj_err *e) {
    const st_tensor *t;
    const st_file *f;
    *out = NULL;
    if (find_shaped(w, name, rows, 0, optional, &t, &f, e)) return -1;
    if (!t) return 0;
    if (t->dtype == ST_F32 && (uintptr_t)t->data % sizeof(float) == 0) {
        *out = (const float *)(const void *)t->data;
        return 0;
    }
    float *buf = model_alloc_f32(m, t->n_elements);
    if (!buf) return cj_fail(e, "%s: out of memory for tensor '%s'", f->path, name);
    if (st_to_f32(f, t, buf, e)) return -1;
    *out = buf;
    return 0;
}

/* The matrix `name` [rows, cols] in its own type (model_set_mat). */
static int get_mat(model *m, hf_weights *w, const char *name, int64_t rows, int64_t cols, int optional,
                   model_mat *out, cj_err *e) {
    const st_tensor *t;
    const st_file *f;
    *out = (model_mat){0};
    if (find_shaped(w, name, rows, cols, optional, &t, &f, e)) return -1;
    if (!t) return 0;
    if (t->dtype == ST_OTHER)
        return cj_fail(e, "%s: tensor '%s' has dtype %s; only F32, F16 and BF16 load", f->path, name, t->dtype_name);
    ggml_type type = t->dtype == ST_F32 ? GGML_F32 : t->dtype == ST_F16 ? GGML_F16 : GGML_BF16;
    char what[512];
    snprintf(what, sizeof what, "%s: tensor '%s'", f->path, name);
    return model_set_mat(m, out, t->data, t->nbytes, type, rows, cols, what, e);
}

static int load_layer(model *m, hf_weights *w, int l, cj_err *e) {
    const model_hparams *hp = &m->hp;
    int64_t d = hp->dim, q = (int64_t)hp->n_heads * hp->head_dim, kv = (int64_t)hp->n_kv_heads * hp->head_dim;
    model_layer *L = &m->layers[l];
    char name[128];
#define NAME(suffix) (snprintf(name, sizeof name, "model.layers.%d.%s", l, suffix), name)
#define VEC(suffix, rows, slot) get_tensor(m, w, NAME(suffix), rows, 0, &L->slot, e)
#define MAT(suffix, rows, cols, slot) get_mat(m, w, NAME(suffix), rows, cols, 0, &L->slot, e)
    if (VEC("input_layernorm.weight", d, attn_norm) || MAT("self_attn.q_proj.weight", q, d, wq) ||
        MAT("self_attn.k_proj.weight", kv, d, wk) || MAT("self_attn.v_proj.weight", kv, d, wv) ||
        MAT("self_attn.o_proj.weight", d, q, wo) || VEC("post_attention_layernorm.weight", d, ffn_norm) ||
        MAT("mlp.gate_proj.weight", hp->ffn_dim, d, w_gate) || MAT("mlp.up_proj.weight", hp->ffn_dim, d, w_up) ||
        MAT("mlp.down_proj.weight", d, hp->ffn_dim, w_down))
        return -1;
    if (hp->qkv_bias && (VEC("self_attn.q_proj.bias", q, bq) || VEC("self_attn.k_proj.bias", kv, bk) ||
                         VEC("self_attn.v_proj.bias", kv, bv)))
        return -1;
#undef NAME
#undef VEC
#undef MAT
    return 0;
}

static int load_weights(model *m, hf_weights *w, int tied, cj_err *e) {
    const model_hparams *hp = &m->hp;
    m->layers = cj_xcalloc((size_t)hp->n_layers, sizeof *m->layers);
    if (get_mat(m, w, "model.embed_tokens.weight", hp->vocab_size, hp->dim, 0, &m->tok_embd, e) ||
        get_tensor(m, w, "model.norm.weight", hp->dim, 0, &m->output_norm, e))
        return -1;
    for (int l = 0; l < hp->n_layers; l++)
        if (load_layer(m, w, l, e)) return -1;
    /* Tied: HF ignores any lm_head.weight. Untied but absent: some
     * exporters drop a head equal to the embedding. */
    if (!tied && get_mat(m, w, "lm_head.weight", hp->vocab_size, hp->dim, 1, &m->output, e)) return -1;
    if (!m->output.data) m->output = m->tok_embd;
    return 0;
}

static const char *dtype_summary(uint32_t seen) {
    if (seen == 1u << ST_F32) return "F32";
    if (seen == 1u << ST_F16) return "F16";
    if (seen == 1u << ST_BF16) return "BF16";
    return "mixed";
}

int model_load_hf(const char *dir, model *m, cj_err *e) {
    int tied = 0;
    if (parse_config(dir, m, &tied, e)) return -1;
    hf_weights w = {0};
    w.dir = dir;
    int rc = open_weights(m, &w, dir, e) || load_weights(m, &w, tied, e) ? -1 : 0;
    if (!rc) m->dtype = cj_xstrdup(dtype_summary(w.dtypes));
    weights_free(&w);
    if (rc) return -1;
    /* A folder without tokenizer.json needs an override (model_load). */
    char *tok = cj_path_join(dir, "tokenizer.json");
    if (cj_is_file(tok)) rc = tok_load_hf_json(tok, &m->tok, e);
    free(tok);
    return rc;
}
