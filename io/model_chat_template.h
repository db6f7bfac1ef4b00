// A model's own chat template: the Jinja text a GGUF file (tokenizer.chat_template) or a
// Hugging Face folder (tokenizer_config.json's chat_template) carries, recognised as one of the
// common families by distinctive substrings, as llama.cpp does, and turned into the project's
// template form (chat_template.h: a string with {prompt} and {system}). The Jinja is never run:
// a template of no known family is refused, and the user states the template instead.
//
// Families: ChatML (with the default system text some templates insert when no system message
// is given: Qwen2.5's "You are Qwen, ...", SmolLM2's), Llama-2 ([INST] with <<SYS>>), Mistral
// ([INST] without a system turn), Llama-3 (header ids), Zephyr (<|user|> ... eos), Gemma
// (<start_of_turn>, no system turn). The prompt goes in as given; several of these templates
// trim the message, which changes nothing for prompts without surrounding whitespace.
#ifndef ARE_MODEL_CHAT_TEMPLATE_H
#define ARE_MODEL_CHAT_TEMPLATE_H

#include "chat_template.h"
#include "tokenizer.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    const char *family; // "ChatML", "Llama-3", ... (static)
    // The template for a prompt without a system text: {prompt} only, the template's default
    // system text already in where it has one.
    char *plain;
    // The template for a prompt with a system text ({system} and {prompt}); NULL when the
    // family has no system turn.
    char *with_system;
} ModelChatTemplate;

// What the Jinja text refers to as bos_token and eos_token, and whether the tokenizer puts
// BOS first itself (then the template leaves it out, so it is not there twice).
typedef struct {
    const char *bos, *eos; // token texts; NULL when the model has none
    bool adds_bos;
} ChatSpecialTokens;

// Recognises jinja. Returns 0 with *out filled (free with model_chat_template_free), or -1 with
// the reason in err.
int model_chat_template_recognise(const char *jinja, const ChatSpecialTokens *special,
                                  ModelChatTemplate *out, char *err, size_t err_len);
void model_chat_template_free(ModelChatTemplate *t);

// The Jinja chat template of the model at path (a .gguf file or a folder) as a new string in
// *jinja, and where it was found (for messages) in where. Returns 1, 0 when the model has none,
// or -1 with the reason in err.
int model_chat_template_read(const char *path, char **jinja, char *where, size_t where_len,
                             char *err, size_t err_len);

// Reads and recognises the model's template, its bos/eos texts from tok (NULL: none). Returns 1
// with *out filled, 0 when the model has none, or -1 (unreadable, or of no known family: err
// then asks for an explicit template).
int model_chat_template_load(const char *path, const Tokenizer *tok, ModelChatTemplate *out,
                             char *err, size_t err_len);

// The template prompts for the model at path go in: requested as it is when it is a template,
// else (NULL or "auto") the model's own, with {system} when has_system; for a model without a
// chat template, "{prompt}" (the prompt as it is). A new string to free, or NULL with err.
char *model_chat_template_resolve(const char *path, const Tokenizer *tok, const char *requested,
                                  bool has_system, char *err, size_t err_len);

#endif
