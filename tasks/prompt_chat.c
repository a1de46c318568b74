/* prompt_chat — how the parts of a prompt (system prompt, solved shots,
 * the doc's question) become its context, as lm-eval's fewshot_context
 * joins them (lm_eval/api/task.py, 0.4.13):
 *
 *   system  = system_instruction, fewshot_delimiter, description (maybe_delimit:
 *             the delimiter only when neither side has whitespace at the joint)
 *   plain   = system + Σ (q + target_delimiter + a + fewshot_delimiter) + question
 *   chat    = the template over [system] + one user turn holding the plain shots
 *             and the question, or with --fewshot-as-multiturn a user and an
 *             assistant turn per shot, then the question; add_generation_prompt on
 *
 * as_messages gives the chat form's messages as JSON text instead, for a
 * server to render with its own template (/v1/chat/completions).
 *
 * Without a system instruction or a template the plain form is the
 * context task prompts always had. Under a template the answers follow
 * the generation prompt with no target delimiter (lm-eval drops it). */
#include <stdlib.h>
#include <string.h>

#include "task_impl.h"

void prompt_parts_init(prompt_parts *p, const task_chat *chat) {
    memset(p, 0, sizeof *p);
    p->chat = chat && (chat->chat_template || chat->system_instruction || chat->as_messages) ? chat : NULL;
    sb_init(&p->system);
    sb_init(&p->shots);
    p->turns = json_array();
}

void prompt_parts_free(prompt_parts *p) {
    sb_free(&p->system);
    sb_free(&p->shots);
    json_decref(p->turns);
}

static int py_space_at(const char *s, size_t i) { return strchr(" \t\n\r\f\v", s[i]) && s[i]; }

void prompt_parts_system(prompt_parts *p, const char *description, const char *fewshot_delimiter) {
    const char *si = p->chat ? p->chat->system_instruction : NULL;
    if (si && *si) {
        sb_puts(&p->system, si);
        if (*description && !py_space_at(si, strlen(si) - 1) && !py_space_at(description, 0))
            sb_puts(&p->system, fewshot_delimiter);
    }
    sb_puts(&p->system, description);
}

static json_t *message(const char *role, const char *content) {
    return json_pack("{ssss}", "role", role, "content", content);
}

void prompt_parts_shot(prompt_parts *p, const char *q, const char *a, const char *td, const char *fd) {
    sb_puts(&p->shots, q);
    sb_puts(&p->shots, td);
    sb_puts(&p->shots, a);
    sb_puts(&p->shots, fd);
    json_array_append_new(p->turns, message("user", q));
    json_array_append_new(p->turns, message("assistant", a));
}

const char *prompt_target_delimiter(const prompt_parts *p, const char *td) {
    return p->chat && (p->chat->chat_template || p->chat->as_messages) ? "" : td;
}

char *task_chat_render(const task_chat *c, const json_t *messages, cj_err *e) {
    json_t *vars = json_pack("{sOsbssss}", "messages", (json_t *)messages, "add_generation_prompt", 1, "bos_token",
                             c->bos_token ? c->bos_token : "", "eos_token", c->eos_token ? c->eos_token : "");
    json_object_set_new(vars, "tools", json_null());
    json_object_set_new(vars, "documents", json_null());
    sb out;
    sb_init(&out);
    char *r = NULL;
    if (tpl_render_chat(c->chat_template, vars, c->date, &out, e)) cj_wrap(e, "chat template");
    else r = out.s ? sb_take(&out) : cj_xstrdup("");
    sb_free(&out);
    json_decref(vars);
    return r;
}

char *prompt_context(const prompt_parts *p, const char *question, cj_err *e) {
    sb text;
    sb_init(&text);
    if (!p->chat || (!p->chat->chat_template && !p->chat->as_messages)) {
        sb_putn(&text, p->system.s, p->system.len);
        sb_putn(&text, p->shots.s, p->shots.len);
        sb_puts(&text, question);
        return text.s ? sb_take(&text) : cj_xstrdup("");
    }
    json_t *msgs = json_array();
    if (p->system.len) json_array_append_new(msgs, message("system", p->system.s));
    if (p->chat->fewshot_as_multiturn) {
        json_array_extend(msgs, p->turns);
        json_array_append_new(msgs, message("user", question));
    } else {
        sb_putn(&text, p->shots.s, p->shots.len);
        sb_puts(&text, question);
        json_array_append_new(msgs, message("user", text.s ? text.s : ""));
    }
    char *r = p->chat->as_messages ? json_dumps(msgs, JSON_COMPACT) : task_chat_render(p->chat, msgs, e);
    if (!r && p->chat->as_messages) cj_fail(e, "chat messages: not JSON-encodable");
    json_decref(msgs);
    sb_free(&text);
    return r;
}
