/* model_hf — HF folders: config.json + model.safetensors (or shards listed in
 * model.safetensors.index.json) + tokenizer.json.
 *
 * Architectures: those of arch.h (Llama, Mistral, Qwen2/3, GPT-NeoX, EXAONE,
 * GPT-2, Gemma 2/3, and the MoE ones of moe_load.h), their tensors named and shaped by
 * its tables; config fields are
 * read under each name transformers knows them by (num_layers, n_embd, ...).
 * Config fields the forward pass cannot honour (a RoPE type other than
 * default, linear and llama3, another activation, Llama MLP or output
 * biases, a sliding window) are refused rather than ignored, so a
 * checkpoint never loads into silently wrong numbers. Weights F32/F16/BF16;
 * aligned F32 is used in place, the rest is widened once; GPT-2's Conv1D
 * weights, stored [in, out], are transposed once into F32. HF stores Q/K
 * for RoPE over halves, hence rope_neox = 1. */
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../../common/sb.h"
#include "arch.h"
#include "model.h"
#include "moe_load.h"
#include "safetensors.h"

/* The weights of a folder: one file or several shards, each mapped (the
 * maps belong to the model) and parsed. */
typedef struct {
    const char *dir;
    st_file *shards;
    char **shard_names; /* file names as the index spells them */
    int n;
    json_t *weight_map; /* tensor name -> shard file name; NULL for a single file */
    uint32_t dtypes;    /* bit per st_dtype seen among loaded tensors */
    int64_t n_params;   /* elements of the tensors loaded (a tied head once) */
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

/* Mistral's and Mixtral's sliding_window, applied to every layer as
 * transformers does: absent is MistralConfig's default 4096 (Mixtral's:
 * none), null is none. A per-layer layer_types list (the Ministral variant)
 * is refused. Other Llama-family classes ignore the key, as transformers
 * does. */
static int cfg_window(const json_t *cfg, const char *file, const arch_desc *a, model_hparams *hp, cj_err *e) {
    int mixtral = !strcmp(a->name, "mixtral");
    if (strcmp(a->name, "mistral") && !mixtral) return 0;
    if (json_object_get(cfg, "layer_types"))
        return cj_fail(e, "%s: \"layer_types\" (per-layer sliding windows) is not supported", file);
    const json_t *v = json_object_get(cfg, "sliding_window");
    hp->sliding_window = 0;
    if (v && json_is_null(v)) return 0;
    return cfg_int(cfg, file, "sliding_window", mixtral ? 0 : 4096, &hp->sliding_window, e);
}

static const arch_desc *cfg_arch(const json_t *cfg, const char *file, cj_err *e) {
    const json_t *archs = json_object_get(cfg, "architectures");
    const char *cls = json_is_array(archs) ? json_string_value(json_array_get(archs, 0)) : NULL;
    const char *type = json_string_value(json_object_get(cfg, "model_type"));
    const arch_desc *a = arch_by_hf(cls, type);
    if (!a) cj_fail(e, "%s: architecture '%.64s' is not supported (%s)", file, cls ? cls : type ? type : "(none)", arch_list(1));
    return a;
}

/* The first of keys[] that obj has, as a number, or def. */
static int cfg_first_float(const json_t *obj, const char *file, const char *const *keys, double def, float *out,
                           cj_err *e) {
    for (; *keys; keys++)
        if (json_object_get(obj, *keys)) return cfg_float(obj, file, *keys, def, out, e);
    *out = (float)def;
    return 0;
}

/* RoPE scaling from rope_scaling (older configs) or rope_parameters
 * (transformers 5): "default", "linear" and "llama3"; any other type is
 * refused by name rather than computed as unscaled RoPE. */
static int cfg_rope_scaling(const json_t *sc, const char *file, model_hparams *hp, cj_err *e) {
    const json_t *type = json_object_get(sc, "rope_type");
    if (!type) type = json_object_get(sc, "type");
    const char *t = type ? json_string_value(type) : "default";
    if (!t) return cj_fail(e, "%s: the RoPE type is not a string", file);
    if (!strcmp(t, "default")) return 0;
    if (strcmp(t, "linear") && strcmp(t, "llama3"))
        return cj_fail(e, "%s: rope_type '%.32s' is not supported (default, linear, llama3)", file, t);
    hp->rope_scale = !strcmp(t, "linear") ? ROPE_SCALE_LINEAR : ROPE_SCALE_LLAMA3;
    if (cfg_float(sc, file, "factor", -1, &hp->rope_factor, e)) return -1;
    if (!(hp->rope_factor > 0)) return cj_fail(e, "%s: RoPE scaling needs a positive \"factor\"", file);
    if (hp->rope_scale == ROPE_SCALE_LINEAR) return 0;
    if (cfg_float(sc, file, "low_freq_factor", 1.0, &hp->rope_low_freq, e) ||
        cfg_float(sc, file, "high_freq_factor", 4.0, &hp->rope_high_freq, e) ||
        cfg_int(sc, file, "original_max_position_embeddings", -1, &hp->rope_orig_ctx, e))
        return -1;
    if (!(hp->rope_low_freq > 0 && hp->rope_high_freq > hp->rope_low_freq))
        return cj_fail(e, "%s: llama3 RoPE needs 0 < low_freq_factor < high_freq_factor", file);
    return 0;
}

/* theta, the rotated fraction of a head and the scaling: at the top level
 * (older configs; GPT-NeoX's rotary_emb_base and rotary_pct) or in
 * rope_parameters (transformers 5). */
static int cfg_rope(const json_t *cfg, const char *file, model_hparams *hp, float *pct, cj_err *e) {
    static const char *const theta_keys[] = {"rope_theta", "rotary_emb_base", NULL};
    static const char *const pct_keys[] = {"partial_rotary_factor", "rotary_pct", NULL};
    const json_t *rp = json_object_get(cfg, "rope_parameters");
    const json_t *sc = json_object_get(cfg, "rope_scaling");
    if (rp && !json_is_null(rp) && !json_is_object(rp))
        return cj_fail(e, "%s: \"rope_parameters\" is not an object", file);
    if (sc && !json_is_null(sc) && !json_is_object(sc))
        return cj_fail(e, "%s: \"rope_scaling\" is not an object", file);
    const json_t *src = json_is_object(rp) && json_object_get(rp, "rope_theta") ? rp : cfg;
    if (cfg_first_float(src, file, theta_keys, 10000.0, &hp->rope_theta, e)) return -1;
    src = json_is_object(rp) && json_object_get(rp, "partial_rotary_factor") ? rp : cfg;
    if (cfg_first_float(src, file, pct_keys, 1.0, pct, e)) return -1;
    if (json_is_object(sc)) return cfg_rope_scaling(sc, file, hp, e);
    return json_is_object(rp) ? cfg_rope_scaling(rp, file, hp, e) : 0;
}

/* The first of the names a field goes by (transformers' attribute_map:
 * EXAONE's num_layers, GPT-2's n_embd, ...) that cfg has, else the first. */
static const char *cfg_key(const json_t *cfg, const char *const *keys) {
    for (const char *const *k = keys; *k; k++)
        if (json_object_get(cfg, *k)) return *k;
    return keys[0];
}
#define KEYS(...) cfg_key(cfg, (const char *const[]){__VA_ARGS__, NULL})

/* The activation the architecture's MLP computes, by transformers' name. */
static int cfg_act(const json_t *cfg, const char *file, const char *key, model_mlp mlp, cj_err *e) {
    const char *want = mlp == MLP_GELU        ? "gelu"
                       : mlp == MLP_GELU_TANH ? "gelu_new"
                       : mlp == MLP_GEGLU     ? "gelu_pytorch_tanh"
                                              : "silu";
    const json_t *act = json_object_get(cfg, key);
    if (act && !(json_is_string(act) && !strcmp(json_string_value(act), want)))
        return cj_fail(e, "%s: hidden_act '%.32s' is not supported (only %s)", file,
                       json_is_string(act) ? json_string_value(act) : "?", want);
    return 0;
}

/* A boolean field, def when absent or null. */
static int cfg_bool(const json_t *cfg, const char *file, const char *key, int def, int *out, cj_err *e) {
    const json_t *v = json_object_get(cfg, key);
    int given = v && !json_is_null(v);
    if (given && !json_is_boolean(v)) return cj_fail(e, "%s: \"%s\" must be true or false", file, key);
    *out = given ? json_is_true(v) : def;
    return 0;
}

/* Head geometry: head_dim given or dim / n_heads, and the rotated dims. */
static int cfg_heads(const json_t *cfg, const char *file, model_hparams *hp, float pct, cj_err *e) {
    const json_t *hd = json_object_get(cfg, "head_dim");
    if (hd && !json_is_null(hd)) {
        if (cfg_int(cfg, file, "head_dim", -1, &hp->head_dim, e)) return -1;
    } else {
        if (hp->dim % hp->n_heads)
            return cj_fail(e, "%s: num_attention_heads = %d does not divide hidden_size = %d", file, hp->n_heads,
                           hp->dim);
        hp->head_dim = hp->dim / hp->n_heads;
    }
    if (!(pct > 0 && pct <= 1)) return cj_fail(e, "%s: the rotary fraction %g is not in (0, 1]", file, (double)pct);
    hp->rope_dims = (int)(hp->head_dim * pct); /* transformers truncates too */
    if (hp->rope_dims < 2 || hp->rope_dims % 2)
        return cj_fail(e, "%s: RoPE would rotate %d dims of each head (must be even and at least 2)", file,
                       hp->rope_dims);
    if (hp->qkv == QKV_FUSED_PER_HEAD && hp->n_kv_heads != hp->n_heads)
        return cj_fail(e, "%s: a fused query_key_value needs num_key_value_heads = num_attention_heads", file);
    if (hp->rope_dims == hp->head_dim) hp->rope_dims = 0; /* the whole head, as model.h has it */
    return 0;
}

/* The experts of a MoE architecture (moe_load.h): counts, widths and the
 * renormalization of the top-k weights. Layers without experts (Qwen's
 * decoder_sparse_step > 1, mlp_only_layers) and OLMoE's clip_qkv are
 * refused. */
static int cfg_moe(const json_t *cfg, const char *file, const arch_desc *a, model_hparams *hp, cj_err *e) {
    int shared = 0, step = 1;
    if (!moe_arch(a->name, 0, &shared, &hp->norm_topk)) return 0;
    const json_t *dense = json_object_get(cfg, "mlp_only_layers");
    int mixtral = !strcmp(a->name, "mixtral");
    hp->expert_ffn = hp->ffn_dim; /* Mixtral's and OLMoE's intermediate_size */
    if (cfg_int(cfg, file, KEYS("num_experts", "num_local_experts"), -1, &hp->n_experts, e) ||
        cfg_int(cfg, file, "num_experts_per_tok", -1, &hp->n_expert_used, e) ||
        (json_object_get(cfg, "moe_intermediate_size") &&
         cfg_int(cfg, file, "moe_intermediate_size", -1, &hp->expert_ffn, e)) ||
        (shared && cfg_int(cfg, file, "shared_expert_intermediate_size", -1, &hp->shared_ffn, e)) ||
        (!mixtral && cfg_bool(cfg, file, "norm_topk_prob", 0, &hp->norm_topk, e)) ||
        cfg_int(cfg, file, "decoder_sparse_step", 1, &step, e) || cfg_false(cfg, file, "clip_qkv", e))
        return -1;
    if (step != 1 || (dense && !json_is_null(dense) && !(json_is_array(dense) && json_array_size(dense) == 0)))
        return cj_fail(e, "%s: layers without experts (decoder_sparse_step, mlp_only_layers) are not supported", file);
    hp->ffn_dim = hp->expert_ffn > hp->shared_ffn ? hp->expert_ffn : hp->shared_ffn;
    return 0;
}

/* A soft-cap: absent is def, null or 0 is none, else a positive number. */
static int cfg_cap(const json_t *cfg, const char *file, const char *key, double def, float *out, cj_err *e) {
    const json_t *v = json_object_get(cfg, key);
    *out = (float)def;
    if (!v) return 0;
    if (json_is_null(v)) *out = 0;
    else if (json_is_number(v) && json_number_value(v) >= 0 && json_number_value(v) < 1e30)
        *out = (float)json_number_value(v);
    else return cj_fail(e, "%s: \"%s\" must be a number >= 0 or null", file, key);
    return 0;
}

/* Entry l of a layer_types list is "sliding_attention" (1), "full_attention" (0), or else -1. */
static int layer_local(const json_t *types, int l) {
    const char *t = json_string_value(json_array_get(types, (size_t)l));
    return !t ? -1 : !strcmp(t, "sliding_attention") ? 1 : !strcmp(t, "full_attention") ? 0 : -1;
}

/* The windowed layers: layer_types (transformers 5), else the older
 * sliding_window_pattern, else the architecture's period. A list is taken
 * as the period it follows (model_layer_local); one that follows none is
 * refused. */
static int cfg_layer_types(const json_t *cfg, const char *file, model_hparams *hp, cj_err *e) {
    const json_t *types = json_object_get(cfg, "layer_types");
    if (json_object_get(cfg, "sliding_window_pattern") &&
        cfg_int(cfg, file, "sliding_window_pattern", hp->swa_period, &hp->swa_period, e))
        return -1;
    if (!types || json_is_null(types)) return 0;
    if (!json_is_array(types) || json_array_size(types) != (size_t)hp->n_layers)
        return cj_fail(e, "%s: \"layer_types\" must be a list of num_hidden_layers = %d entries", file, hp->n_layers);
    for (int l = 0; l < hp->n_layers; l++)
        if (layer_local(types, l) < 0)
            return cj_fail(e, "%s: layer_types[%d] is not \"sliding_attention\" or \"full_attention\"", file, l);
    for (int p = 1; p <= hp->n_layers + 1; p++) {
        int l = 0;
        while (l < hp->n_layers && layer_local(types, l) == (l % p < p - 1)) l++;
        if (l == hp->n_layers) {
            hp->swa_period = p;
            return 0;
        }
    }
    return cj_fail(e, "%s: \"layer_types\" whose windowed layers repeat with no period are not supported", file);
}

/* Gemma 3's RoPE per layer type: rope_parameters.full_attention (the
 * global layers, default or linear) and .sliding_attention (default only)
 * in transformers 5; rope_theta, rope_scaling and rope_local_base_freq in
 * older configs (cfg_rope read the first two). */
static int cfg_local_rope(const json_t *cfg, const char *file, model_hparams *hp, cj_err *e) {
    const json_t *rp = json_object_get(cfg, "rope_parameters");
    const json_t *full = json_is_object(rp) ? json_object_get(rp, "full_attention") : NULL;
    const json_t *loc = json_is_object(rp) ? json_object_get(rp, "sliding_attention") : NULL;
    if (json_is_object(full)) {
        hp->rope_scale = ROPE_SCALE_NONE;
        if (cfg_float(full, file, "rope_theta", 1e6, &hp->rope_theta, e) || cfg_rope_scaling(full, file, hp, e))
            return -1;
    } else if (!json_object_get(cfg, "rope_theta") && !(json_is_object(rp) && json_object_get(rp, "rope_theta"))) {
        hp->rope_theta = 1e6f; /* Gemma3TextConfig's default */
    }
    if (!json_is_object(loc)) return cfg_float(cfg, file, "rope_local_base_freq", 10000.0, &hp->rope_local_theta, e);
    const json_t *type = json_object_get(loc, "rope_type");
    if (type && !(json_is_string(type) && !strcmp(json_string_value(type), "default")))
        return cj_fail(e, "%s: rope_parameters.sliding_attention: only rope_type 'default' is supported", file);
    return cfg_float(loc, file, "rope_theta", 10000.0, &hp->rope_local_theta, e);
}

/* Gemma 2/3: query_pre_attn_scalar, the soft-caps, the window and its
 * layers and (Gemma 3) the local layers' RoPE, with transformers' defaults
 * (Gemma 2 caps at 50 and 30 unless null). */
static int cfg_gemma(const json_t *cfg, const char *file, const arch_desc *a, model_hparams *hp, cj_err *e) {
    if (!hp->embd_scaled) return 0;
    int gemma2 = !strcmp(a->name, "gemma2"), qpas = 0, bidir = 0;
    const json_t *w = json_object_get(cfg, "sliding_window");
    if (cfg_int(cfg, file, "query_pre_attn_scalar", 256, &qpas, e) ||
        cfg_cap(cfg, file, "attn_logit_softcapping", gemma2 ? 50.0 : 0, &hp->attn_softcap, e) ||
        cfg_cap(cfg, file, "final_logit_softcapping", gemma2 ? 30.0 : 0, &hp->final_softcap, e) ||
        cfg_bool(cfg, file, "use_bidirectional_attention", 0, &bidir, e) ||
        (!(w && json_is_null(w)) && cfg_int(cfg, file, "sliding_window", 4096, &hp->sliding_window, e)) ||
        cfg_layer_types(cfg, file, hp, e) || (!gemma2 && cfg_local_rope(cfg, file, hp, e)))
        return -1;
    if (bidir) return cj_fail(e, "%s: \"use_bidirectional_attention\" = true is not supported", file);
    hp->attn_scale = (float)pow((double)qpas, -0.5); /* transformers: a Python float, then the tensor's dtype */
    return 0;
}

static int parse_config(const char *dir, model *m, int *tied, uint32_t *need, const arch_desc **arch, cj_err *e) {
    char *file = cj_path_join(dir, "config.json");
    char *text = NULL;
    size_t len = 0;
    json_t *cfg = NULL;
    int rc = -1, bias = 1;
    float pct = 1;
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
    const arch_desc *a = *arch = cfg_arch(cfg, file, e);
    if (!a) goto done;
    model_hparams *hp = &m->hp;
    memset(hp, 0, sizeof *hp);
    arch_fill_hparams(a, 0, hp);
    *need = a->need;
    /* GPT-2's n_inner = null is 4 x n_embd; ffn_dim is read after dim */
    if (cfg_int(cfg, file, KEYS("hidden_size", "n_embd"), -1, &hp->dim, e) ||
        cfg_int(cfg, file, KEYS("intermediate_size", "n_inner"), a->hf_names == HF_GPT2 ? 4 * hp->dim : -1,
                &hp->ffn_dim, e) ||
        cfg_int(cfg, file, KEYS("num_hidden_layers", "num_layers", "n_layer"), -1, &hp->n_layers, e) ||
        cfg_int(cfg, file, KEYS("num_attention_heads", "n_head"), -1, &hp->n_heads, e) ||
        cfg_int(cfg, file, "num_key_value_heads", hp->n_heads, &hp->n_kv_heads, e) ||
        cfg_int(cfg, file, "vocab_size", -1, &hp->vocab_size, e) ||
        cfg_int(cfg, file, KEYS("max_position_embeddings", "n_positions"), a->ctx_default, &hp->ctx_len, e) ||
        cfg_float(cfg, file, KEYS("rms_norm_eps", "layer_norm_eps", "layer_norm_epsilon"),
                  a->norm == NORM_LAYER ? 1e-5 : 1e-6, &hp->rms_eps, e) ||
        cfg_rope(cfg, file, hp, &pct, e) || cfg_heads(cfg, file, hp, pct, e) ||
        cfg_act(cfg, file, KEYS("hidden_activation", "hidden_act", "activation_function"), a->mlp, e) ||
        cfg_bool(cfg, file, "tie_word_embeddings", a->tie_default, tied, e))
        goto done;
    if (a->hf_names == HF_GPT2) {
        /* the attention scale must be 1/sqrt(head_dim), as ours */
        int scaled = 1, by_layer = 0;
        if (cfg_bool(cfg, file, "scale_attn_weights", 1, &scaled, e) ||
            cfg_bool(cfg, file, "scale_attn_by_inverse_layer_idx", 0, &by_layer, e))
            goto done;
        if (!scaled || by_layer) {
            cj_fail(e, "%s: only scale_attn_weights = true and scale_attn_by_inverse_layer_idx = false are supported",
                    file);
            goto done;
        }
    } else if (a->hf_names == HF_NEOX) {
        /* GPT-NeoX: attention_bias (default true) drops the QKV and dense biases */
        if (cfg_bool(cfg, file, "use_parallel_residual", 1, &hp->parallel_residual, e) ||
            cfg_bool(cfg, file, "attention_bias", 1, &bias, e))
            goto done;
        if (!bias) *need &= ~(ROLE(R_ATTN_QKV_B) | ROLE(R_ATTN_OUT_B));
    } else if (cfg_false(cfg, file, "mlp_bias", e) || (!hp->qkv_bias && cfg_false(cfg, file, "attention_bias", e)) ||
               cfg_false(cfg, file, "use_sliding_window", e) || cfg_window(cfg, file, a, hp, e) ||
               cfg_moe(cfg, file, a, hp, e) || cfg_gemma(cfg, file, a, hp, e)) {
        /* Qwen2's Q/K/V biases are implied by the architecture; Llama's
         * attention_bias would add an output bias this family lacks; Qwen2/3's
         * window covers only the layers from max_window_layers on, which is
         * not implemented. */
        goto done;
    }
    if (model_check_hparams(hp, file, e)) goto done;
    m->arch = cj_xstrdup(a->name);
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

static const st_tensor *find_exact(const hf_weights *w, const char *name, const st_file **in) {
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

/* OpenAI's GPT-2 checkpoints name their tensors without the
 * "transformer." of GPT2LMHeadModel's (wte.weight, h.0.ln_1.weight). */
static const st_tensor *find_tensor(const hf_weights *w, const char *name, const st_file **in) {
    const st_tensor *t = find_exact(w, name, in);
    const char *prefix = "transformer.";
    if (!t && !strncmp(name, prefix, strlen(prefix))) t = find_exact(w, name + strlen(prefix), in);
    return t;
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

/* A Conv1D weight (GPT-2), stored [cols, rows]: transposed once into an F32
 * matrix the model owns. F16 and BF16 widen exactly, so the products see
 * the values the GGUF's [rows, cols] copy holds. */
static int get_mat_t(model *m, hf_weights *w, const char *name, int64_t rows, int64_t cols, model_mat *out,
                     cj_err *e) {
    const st_tensor *t;
    const st_file *f;
    if (find_shaped(w, name, cols, rows, 0, &t, &f, e)) return -1;
    float *src = malloc((size_t)t->n_elements * sizeof(float)), *dst = model_alloc_f32(m, t->n_elements);
    int rc = -1;
    if (!src || !dst) cj_fail(e, "%s: out of memory for tensor '%s'", f->path, name);
    else if (st_to_f32(f, t, src, e) == 0) {
        for (int64_t i = 0; i < cols; i++)
            for (int64_t o = 0; o < rows; o++) dst[o * cols + i] = src[i * rows + o];
        rc = 0;
    }
    free(src);
    char what[512];
    snprintf(what, sizeof what, "%s: tensor '%s'", f->path, name);
    return rc ? rc : model_set_mat(m, out, dst, (size_t)t->n_elements * sizeof(float), GGML_F32, rows, cols, what, e);
}

/* Role r of layer l (or global) by a's name for it, shaped by arch_shape. */
static int load_role(model *m, hf_weights *w, const arch_desc *a, arch_role r, int l, int optional, cj_err *e) {
    char name[160];
    int64_t rows, cols;
    model_mat *mat;
    const float **vec;
    if (!arch_hf_name(a->hf_names, r, l, name, sizeof name)) return 0;
    arch_shape(&m->hp, r, &rows, &cols);
    arch_slot(m, l >= 0 ? &m->layers[l] : NULL, r, &mat, &vec);
    if (mat) {
        if (a->hf_conv1d & ROLE(r) ? get_mat_t(m, w, name, rows, cols, mat, e)
                                   : get_mat(m, w, name, rows, cols, optional, mat, e))
            return -1;
        w->n_params += mat->data ? rows * cols : 0;
        return 0;
    }
    if (get_tensor(m, w, name, rows, optional, vec, e)) return -1;
    w->n_params += *vec ? rows : 0;
    if (*vec && arch_hf_norm_shift(a) && arch_role_is_norm(r)) {
        /* (1 + w) in float, as transformers' Gemma RMSNorm computes it */
        float *one_plus = model_alloc_f32(m, (uint64_t)rows);
        if (!one_plus) return cj_fail(e, "%s: out of memory for tensor '%s'", w->dir, name);
        for (int64_t i = 0; i < rows; i++) one_plus[i] = 1.0f + (*vec)[i];
        *vec = one_plus;
    }
    return 0;
}

/* Layer l's router, experts (one tensor each) and shared expert. */
static int load_moe(model *m, hf_weights *w, const arch_desc *a, int l, cj_err *e) {
    const model_hparams *hp = &m->hp;
    for (int t = 0; t < MT_COUNT; t++) {
        int stacked = t >= MT_GATE_EXPS && t <= MT_DOWN_EXPS;
        int64_t rows, cols;
        if (!moe_has(hp, (moe_tensor)t)) continue;
        moe_shape(hp, (moe_tensor)t, &rows, &cols);
        model_mat *slot = moe_slot(&m->layers[l], (moe_tensor)t);
        for (int x = 0; x < (stacked ? hp->n_experts : 1); x++) {
            char name[192];
            moe_hf_name(a->name, (moe_tensor)t, l, x, name, sizeof name);
            if (get_mat(m, w, name, rows, cols, 0, &slot[x], e)) return -1;
            w->n_params += rows * cols;
        }
    }
    return 0;
}

static int load_weights(model *m, hf_weights *w, int tied, uint32_t need, const arch_desc *a, cj_err *e) {
    const model_hparams *hp = &m->hp;
    m->layers = cj_xcalloc((size_t)hp->n_layers, sizeof *m->layers);
    if (hp->n_experts) moe_alloc(m);
    for (int r = 0; r < R_FIRST_LAYER; r++)
        if (r != R_OUTPUT && need & ROLE(r) && load_role(m, w, a, (arch_role)r, -1, 0, e)) return -1;
    for (int l = 0; l < hp->n_layers; l++) {
        for (int r = R_FIRST_LAYER; r < R_COUNT; r++)
            if (need & ROLE(r) && load_role(m, w, a, (arch_role)r, l, 0, e)) return -1;
        if (hp->n_experts && load_moe(m, w, a, l, e)) return -1;
    }
    /* Tied: HF ignores any lm_head.weight. Untied but absent: some
     * exporters drop a head equal to the embedding. */
    if (!tied && load_role(m, w, a, R_OUTPUT, -1, 1, e)) return -1;
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
    uint32_t need = 0;
    const arch_desc *a = NULL;
    if (parse_config(dir, m, &tied, &need, &a, e)) return -1;
    hf_weights w = {0};
    w.dir = dir;
    int rc = open_weights(m, &w, dir, e) || load_weights(m, &w, tied, need, a, e) ? -1 : 0;
    if (!rc) {
        m->dtype = cj_xstrdup(dtype_summary(w.dtypes));
        m->n_params = w.n_params;
    }
    weights_free(&w);
    if (rc) return -1;
    /* A folder without tokenizer.json needs an override (model_load). */
    char *tok = cj_path_join(dir, "tokenizer.json");
    if (cj_is_file(tok)) rc = tok_load_hf_json(tok, &m->tok, e);
    free(tok);
    return rc;
}
