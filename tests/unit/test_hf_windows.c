/* The config keys of windowed and soft-capped HF models, each read as
 * transformers reads it: Mistral's sliding_window, Gemma's layer types,
 * soft-caps and RoPE bases under their defaults and older spellings. The
 * refusals are in test_model.c (test_hf_config_new_archs). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/fileio.h"
#include "../../common/sb.h"
#include "../../runners/transformer/formats/model.h"
#include "../check.h"
#include "hf_fixtures.h"

static char *g_tmp;

/* The folder tests/golden/arch/<name>, staged with the first `from` of its
 * config replaced by `to`, loaded; NULL if it does not load. */
static model *load_edited(const char *name, const char *from, const char *to) {
    char *src = cj_path_join("tests/golden/arch", name), *dst = cj_path_join(g_tmp, name), *cfg = NULL;
    char *cfg_path = cj_path_join(dst, "config.json");
    size_t n;
    const char *at = NULL;
    model *m = NULL;
    if (stage_folder(src, dst, &cfg, &n) == 0) at = strstr(cfg, from);
    CHECKF(at != NULL, "%s: no '%s' in its config", name, from);
    if (at) {
        sb s;
        sb_init(&s);
        sb_putn(&s, cfg, (size_t)(at - cfg));
        sb_puts(&s, to);
        sb_puts(&s, at + strlen(from));
        CHECK(write_file(cfg_path, s.s, s.len) == 0);
        sb_free(&s);
        m = load(dst, NULL);
    }
    free(cfg);
    free(cfg_path);
    free(src);
    free(dst);
    return m;
}

/* Mistral's sliding_window: null is none, absent is MistralConfig's 4096. */
static void test_hf_mistral_window(void) {
    const char *edits[] = {"\"sliding_window\": null,", ""};
    int want[] = {0, 4096};
    for (int i = 0; i < 2; i++) {
        model *m = load_edited("mistral-swa16-f32", "\"sliding_window\": 16,", edits[i]);
        CHECKF(m && m->hp.sliding_window == want[i], "\"%s\": window %d", edits[i], m ? m->hp.sliding_window : -1);
        model_free(m);
    }
}

/* Gemma's config keys under their defaults and older spellings: each edit
 * loads with the values given (theta, local_theta < 0: not checked). */
static void test_hf_gemma_config(void) {
    static const struct {
        const char *name, *from, *to;
        int period, window;
        float attn_cap, final_cap, theta, local_theta;
    } cases[] = {
        {"gemma3-swa-f32", "\"vocab_size\"", "\"vocab_size\"", 6, 10, 0, 4, 1e6f, 1e4f},
        {"gemma3-swa-f32", "\"layer_types\"", "\"sliding_window_pattern\": 3, \"layer_typez\"", 3, 10, 0, 4, -1, -1},
        {"gemma3-swa-f32", "\"rope_parameters\"",
         "\"rope_local_base_freq\": 20000.0, \"rope_theta\": 50000.0, \"rope_parameterz\"", 6, 10, 0, 4, 5e4f, 2e4f},
        {"gemma3-swa-f32", "\"rope_parameters\"", "\"rope_parameterz\"", 6, 10, 0, 4, 1e6f, 1e4f},
        {"gemma3-swa-f32", "\"attn_logit_softcapping\": null", "\"attn_logit_softcapping\": 7.5", 6, 10, 7.5f, 4, -1, -1},
        {"gemma3-swa-f32", "\"sliding_window\": 10", "\"sliding_window\": null", 6, 0, 0, 4, -1, -1},
        {"gemma2-swa-f32", "\"attn_logit_softcapping\": 5.0", "\"attn_logit_softcapping\": null", 2, 12, 0, 3, 1e4f, 0},
        {"gemma2-swa-f32", "\"attn_logit_softcapping\": 5.0,", "", 2, 12, 50, 3, -1, -1},
        {"gemma2-swa-f32", "\"layer_types\"", "\"layer_typez\"", 2, 12, 5, 3, -1, -1},
        {"gemma2-swa-f32", "\"sliding_window\": 12,", "", 2, 4096, 5, 3, -1, -1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        model *m = load_edited(cases[i].name, cases[i].from, cases[i].to);
        const model_hparams *hp = m ? &m->hp : &(model_hparams){.swa_period = -1};
        CHECKF(hp->swa_period == cases[i].period && hp->sliding_window == cases[i].window &&
                   hp->attn_softcap == cases[i].attn_cap && hp->final_softcap == cases[i].final_cap &&
                   (cases[i].theta < 0 || hp->rope_theta == cases[i].theta) &&
                   (cases[i].local_theta < 0 || hp->rope_local_theta == cases[i].local_theta),
               "case %zu: period %d window %d caps %g %g theta %g local %g", i, hp->swa_period, hp->sliding_window,
               (double)hp->attn_softcap, (double)hp->final_softcap, (double)hp->rope_theta,
               (double)hp->rope_local_theta);
        model_free(m);
    }
}

int main(void) {
    g_tmp = fixture_tmpdir("hf-windows");
    if (!g_tmp) return 1;
    RUN(test_hf_mistral_window);
    RUN(test_hf_gemma_config);
    rm_tree(g_tmp);
    free(g_tmp);
    return check_summary_();
}
