// Chat templates as config strings: "[INST] {prompt} [/INST]" for Llama-2-chat, with an
// optional {system} for the system text. Every {prompt} and {system} is replaced; all other
// text (braces included) is kept as written. This is not Jinja: a model folder's Jinja
// chat_template is not run: the user states the template, or asks for the model's own (auto),
// which model_chat_template.h recognises among the common families.
#ifndef ARE_CHAT_TEMPLATE_H
#define ARE_CHAT_TEMPLATE_H

#include <stdbool.h>
#include <stddef.h>

// The value of --template and of a config's template that means "the model's own".
#define CHAT_TEMPLATE_AUTO "auto"

// Checks that template has a {prompt} (and a {system} when system text will be given).
// Returns 0, or -1 with the reason in err.
int chat_template_check(const char *template_text, bool has_system, char *err, size_t err_len);

// Returns the template with prompt and system (NULL: none, {system} becomes empty) filled in,
// as a new string to free, or NULL with the reason in err (no {prompt}, a system text for a
// template without {system}, out of memory).
char *chat_template_apply(const char *template_text, const char *system, const char *prompt,
                          char *err, size_t err_len);

#endif
