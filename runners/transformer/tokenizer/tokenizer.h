/* tokenizer — SentencePiece-style BPE (scores, byte fallback) and byte-level
 * BPE (merge ranks, GPT-2 / Llama 3 / Qwen2-DeepSeek pre-tokenizer splits).
 *
 * Loaders: from GGUF metadata (tokenizer.ggml.*), from an HF tokenizer.json,
 * from a llama2.c tokenizer.bin. Encoding follows llama.cpp (c392e50)
 * llama_tokenize(add_special, parse_special = false) id for id: control
 * tokens written in the text (e.g. "<s>") are not parsed, user-defined ones
 * (GGUF token type 4, tokenizer.json added tokens with special = false) are;
 * SPM vocabularies prepend "▁" to the text (the "add dummy prefix" rule) and
 * replace spaces by "▁"; byte fallback emits <0xXX> tokens for bytes with no
 * piece. An HF tokenizer.json is encoded the same way; its SentencePiece-style
 * vocabularies merge by merge rank, as HF's BPE model does.
 *
 * Every loader treats its file as untrusted: a malformed file gives -1 and a
 * message naming the file and the field. tok_encode takes any bytes.
 *
 * Ownership: a tokenizer owns all its tables; tok_free releases it. Arrays
 * returned by tok_encode are malloc'd and freed by the caller. A loaded
 * tokenizer is read-only: any number of threads may encode and decode with it
 * at once. */
#ifndef CJ_TOKENIZER_H
#define CJ_TOKENIZER_H

#include <stddef.h>

#include "../../../common/err.h"
#include "../../../common/sb.h"

typedef struct tokenizer tokenizer;
struct gguf_ctx;

typedef enum { TOK_SPM = 1, TOK_BPE = 2 } tok_kind;

int tok_load_gguf(const struct gguf_ctx *g, tokenizer **out, cj_err *e);
int tok_load_hf_json(const char *path, tokenizer **out, cj_err *e);
/* tok_load_gguf copies what it needs: g may be closed afterwards.
 * tok_load_hf_json also reads tokenizer_config.json beside the file, if
 * present, for bos_token / eos_token / add_bos_token.
 * tok_load_llama2c: vocab_size comes from the model header (the file does not
 * store it); ids 0/1/2 become <unk>/<s>/</s>, spaces in pieces become "▁". */
int tok_load_llama2c(const char *path, int vocab_size, tokenizer **out, cj_err *e);
void tok_free(tokenizer *t);

/* Encodes len bytes of UTF-8 (invalid bytes included: they never crash; SPM
 * byte-falls them back, BPE reads them as U+FFFD as llama.cpp does). add_bos:
 * prepend BOS when the vocabulary has one (pass tok_add_bos(t) for llama.cpp's
 * add_special = true); EOS is never appended. *ids is malloc'd (caller frees,
 * non-NULL even when *n is 0). -1 only for texts over 64 MiB or a regex
 * engine failure. */
int tok_encode(const tokenizer *t, const char *text, size_t len, int add_bos, int **ids, int *n, cj_err *e);
/* tok_encode, and with parse_special the control tokens written in the text
 * (<|im_start|>, <|eot_id|>, <s>) become those tokens, as llama.cpp's
 * parse_special and HF tokenizers do (a chat template's rendering). */
int tok_encode_ex(const tokenizer *t, const char *text, size_t len, int add_bos, int parse_special, int **ids, int *n,
                  cj_err *e);

/* Appends the text of ids[0..n) to out: the concatenation of llama.cpp's
 * token_to_piece(special = false) (byte tokens become bytes, "▁" becomes a
 * space, GPT-2 characters become their bytes, control tokens render as
 * nothing; no clean-up of spaces). If strip_leading_space, one leading space
 * of the first token that renders any text is dropped (so a leading BOS is
 * skipped over), as llama2.c does after BOS: encode then decode with it set
 * gives an SPM text back. Ids out of range are skipped. */
void tok_decode(const tokenizer *t, const int *ids, int n, int strip_leading_space, sb *out);

/* The raw vocabulary string of id (NULL if out of range). */
const char *tok_piece(const tokenizer *t, int id);

int tok_n_vocab(const tokenizer *t);
int tok_bos(const tokenizer *t);      /* -1 if none */
int tok_eos(const tokenizer *t);      /* -1 if none */
/* 1 if id ends a generation: EOS, the file's end-of-turn ids (GGUF
 * tokenizer.ggml.eot_token_id / eom_token_id, HF generation_config.json's
 * eos_token_id list) or a special token chat models end a turn with
 * (<|eot_id|>, <|im_end|>, <end_of_turn>, ...). */
int tok_is_eog(const tokenizer *t, int id);
int tok_add_bos(const tokenizer *t);  /* the vocabulary's default for add_bos */
tok_kind tok_get_kind(const tokenizer *t);
/* e.g. "spm 32000 (ggml-vocab-llama-spm.gguf)"; owned by t. */
const char *tok_describe(const tokenizer *t);

#endif
