// A model's own chat template, recognised; see model_chat_template.h.
#include "model_chat_template.h"

#include "gguf.h"
#include "io_error.h"
#include "json_error.h"
#include "mapped_file.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char families[] =
    "ChatML, Llama-2 [INST] <<SYS>>, Mistral [INST], Llama-3 header ids, "
    "Zephyr <|user|>, Gemma <start_of_turn>";

static bool has(const char *jinja, const char *needle) {
    return strstr(jinja, needle) != NULL;
}

// A newline inside a Jinja string literal: written as the escape \n or as the character itself
// (tokenizer_config.json's "\n" decodes to the latter). Returns what follows it, or NULL.
static const char *after_newline(const char *p) {
    if (p[0] == '\\' && p[1] == 'n') return p + 2;
    return p[0] == '\n' ? p + 1 : NULL;
}

// The concatenation of the NULL-terminated list of strings, as a new string (NULL when out of
// memory).
static char *join(const char *first, ...) {
    va_list ap;
    size_t len = 0;
    va_start(ap, first);
    for (const char *s = first; s; s = va_arg(ap, const char *)) len += strlen(s);
    va_end(ap);
    char *out = malloc(len + 1);
    if (!out) return NULL;
    out[0] = '\0';
    char *end = out;
    va_start(ap, first);
    for (const char *s = first; s; s = va_arg(ap, const char *)) end = stpcpy(end, s);
    va_end(ap);
    return out;
}

// Decodes the Jinja string-literal text [p, end) (escapes \n \t \\ \' \") into a new string.
// Returns NULL for another escape or when out of memory.
static char *unescape_literal(const char *p, const char *end) {
    char *out = malloc((size_t)(end - p) + 1), *o = out;
    if (!out) return NULL;
    for (; p < end; p++) {
        if (*p != '\\') {
            *o++ = *p;
            continue;
        }
        char c = ++p < end ? *p : '\0';
        if (c == 'n' || c == 't')
            *o++ = c == 'n' ? '\n' : '\t';
        else if (c == '\\' || c == '\'' || c == '"')
            *o++ = c;
        else {
            free(out);
            return NULL;
        }
    }
    *o = '\0';
    return out;
}

// The system text a ChatML template inserts when the conversation has none: a literal
// '<|im_start|>system\nTEXT<|im_end|>' written out in the Jinja (a message's own content is an
// expression, so a quote would come before <|im_end|>). Returns 0 with a new string in *text,
// or NULL when the template has none; -1 with err when the text cannot be used.
static int chatml_default_system(const char *jinja, char **text, char *err, size_t err_len) {
    static const char opening[] = "<|im_start|>system";
    *text = NULL;
    for (const char *p = strstr(jinja, opening); p; p = strstr(p + 1, opening)) {
        const char *start = after_newline(p + strlen(opening));
        const char *end = start ? strstr(start, "<|im_end|>") : NULL;
        if (!end || end == start || memchr(start, '\'', (size_t)(end - start)) ||
            memchr(start, '"', (size_t)(end - start)))
            continue;
        if (!(*text = unescape_literal(start, end)))
            return io_error(err, err_len,
                            "its default system text has an escape other than "
                            "\\n, \\t, \\\\, \\' and \\\"");
        if (has(*text, "{prompt}") || has(*text, "{system}")) {
            free(*text);
            *text = NULL;
            return io_error(err, err_len,
                            "its default system text holds {prompt} or {system}, "
                            "which the project's template form would fill in");
        }
        return 0;
    }
    return 0;
}

// The Zephyr user turn with the end of turn as written in zephyr-7b-beta's template: the
// message, eos_token, and the newline after the expression that Jinja keeps.
static bool zephyr_user_turn(const char *jinja) {
    static const char user[] = "<|user|>", rest[] = "' + message['content'] + eos_token }}\n";
    for (const char *p = strstr(jinja, user); p; p = strstr(p + 1, user)) {
        const char *q = after_newline(p + strlen(user));
        if (q && !strncmp(q, rest, strlen(rest))) return true;
    }
    return false;
}

int model_chat_template_recognise(const char *jinja, const ChatSpecialTokens *special,
                                  ModelChatTemplate *out, char *err, size_t err_len) {
    *out = (ModelChatTemplate){0};
    // The BOS a template writes first stays out when the tokenizer adds it (as in llama.cpp).
    const char *bos =
        has(jinja, "bos_token") && !special->adds_bos && special->bos ? special->bos : "";
    char why[256] = "";
    bool system_turn = true;
    if (has(jinja, "<|im_start|>") && !has(jinja, "<|im_sep|>") &&
        !has(jinja, "<end_of_utterance>")) {
        static const char user[] = "<|im_start|>user\n{prompt}<|im_end|>\n<|im_start|>assistant\n";
        char *default_system;
        if (chatml_default_system(jinja, &default_system, why, sizeof why) == 0) {
            out->family = default_system ? "ChatML with a default system text" : "ChatML";
            out->with_system = join(bos, "<|im_start|>system\n{system}<|im_end|>\n", user, NULL);
            out->plain = default_system ? join(bos, "<|im_start|>system\n", default_system,
                                               "<|im_end|>\n", user, NULL)
                                        : join(bos, user, NULL);
            free(default_system);
        }
    } else if (has(jinja, "<|start_header_id|>") && has(jinja, "<|end_header_id|>")) {
        // Llama-3.1 and later write a dated system turn of their own into every conversation.
        if (has(jinja, "Cutting Knowledge Date")) {
            snprintf(why, sizeof why, "a Llama-3 template that writes its own dated system text");
        } else {
            static const char user[] = "<|start_header_id|>user<|end_header_id|>\n\n{prompt}"
                                       "<|eot_id|><|start_header_id|>assistant<|end_header_id|>"
                                       "\n\n";
            out->family = "Llama-3";
            out->with_system =
                join(bos, "<|start_header_id|>system<|end_header_id|>\n\n{system}<|eot_id|>", user,
                     NULL);
            out->plain = join(bos, user, NULL);
        }
    } else if (has(jinja, "[INST]")) {
        // Mistral's v3 and v7 templates put no space before [/INST] and have their own system
        // markup; only the classic " [/INST]" spacing is known here.
        if (has(jinja, "[SYSTEM_PROMPT]") || has(jinja, "[AVAILABLE_TOOLS]") ||
            !has(jinja, " [/INST]")) {
            snprintf(why, sizeof why, "an [INST] template other than Llama-2's or Mistral's v1");
        } else if (has(jinja, "<<SYS>>")) {
            out->family = "Llama-2";
            out->with_system =
                join(bos, "[INST] <<SYS>>\n{system}\n<</SYS>>\n\n{prompt} [/INST]", NULL);
            out->plain = join(bos, "[INST] {prompt} [/INST]", NULL);
        } else {
            out->family = "Mistral";
            system_turn = false;
            out->plain = join(bos, "[INST] {prompt} [/INST]", NULL);
        }
    } else if (zephyr_user_turn(jinja) && has(jinja, "{{ '<|assistant|>' }}\n")) {
        if (!special->eos) {
            snprintf(why, sizeof why,
                     "a Zephyr template, but the model has no EOS token to end "
                     "a turn with");
        } else {
            out->family = "Zephyr";
            system_turn = has(jinja, "<|system|>");
            if (system_turn)
                out->with_system =
                    join(bos, "<|system|>\n{system}", special->eos, "\n<|user|>\n{prompt}",
                         special->eos, "\n<|assistant|>\n", NULL);
            out->plain = join(bos, "<|user|>\n{prompt}", special->eos, "\n<|assistant|>\n", NULL);
        }
    } else if (has(jinja, "<start_of_turn>")) {
        out->family = "Gemma";
        system_turn = false;
        out->plain =
            join(bos, "<start_of_turn>user\n{prompt}<end_of_turn>\n<start_of_turn>model\n", NULL);
    }
    if (!out->family) {
        model_chat_template_free(out);
        return io_error(err, err_len, "a chat template of no family are knows (%s%s%s)",
                        why[0] ? why : families, why[0] ? "; it knows " : "",
                        why[0] ? families : "");
    }
    if (!out->plain || (system_turn && !out->with_system)) {
        model_chat_template_free(out);
        return io_error(err, err_len, "out of memory");
    }
    return 0;
}

void model_chat_template_free(ModelChatTemplate *t) {
    free(t->plain);
    free(t->with_system);
    *t = (ModelChatTemplate){0};
}

static int copy_text(const char *text, char **jinja, char *err, size_t err_len) {
    return (*jinja = strdup(text)) ? 1 : io_error(err, err_len, "out of memory");
}

// tokenizer_config.json's chat_template: a string, or (transformers >= 4.34) a list of
// {name, template} of which "default" is the one apply_chat_template uses.
static int config_template(const json_t *value, const char *where, char **jinja, char *err,
                           size_t err_len) {
    if (json_is_string(value)) return copy_text(json_string_value(value), jinja, err, err_len);
    size_t i;
    const json_t *entry;
    if (json_is_array(value)) {
        json_array_foreach(value, i, entry) {
            const json_t *name = json_object_get(entry, "name");
            const json_t *text = json_object_get(entry, "template");
            if (json_is_string(name) && !strcmp(json_string_value(name), "default") &&
                json_is_string(text))
                return copy_text(json_string_value(text), jinja, err, err_len);
        }
    }
    return io_error(err, err_len,
                    "%s is %s, expected a string or a list of {name, template} "
                    "with one named \"default\"",
                    where, json_type_name(value));
}

// A folder's template: tokenizer_config.json's chat_template, else chat_template.jinja (where
// newer transformers save it).
static int folder_template(const char *dir, char **jinja, char *where, size_t where_len, char *err,
                           size_t err_len) {
    char path[4096];
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    struct stat st;
    if (stat(path, &st) == 0) {
        json_error_t jerr;
        json_t *config = json_load_file(path, JSON_DECODE_INT_AS_REAL, &jerr);
        if (!config) return json_load_error(err, err_len, path, &jerr);
        const json_t *value = json_object_get(config, "chat_template");
        snprintf(where, where_len, "%s: chat_template", path);
        int rc = value ? config_template(value, where, jinja, err, err_len) : 0;
        json_decref(config);
        if (rc != 0) return rc;
    }
    snprintf(path, sizeof path, "%s/chat_template.jinja", dir);
    if (stat(path, &st) != 0) return 0;
    MappedFile file;
    if (mapped_file_open(&file, path, err, err_len) < 0) return -1;
    *jinja = strndup(file.data ? (const char *)file.data : "", file.size);
    mapped_file_close(&file);
    snprintf(where, where_len, "%s", path);
    return *jinja ? 1 : io_error(err, err_len, "out of memory");
}

int model_chat_template_read(const char *path, char **jinja, char *where, size_t where_len,
                             char *err, size_t err_len) {
    *jinja = NULL;
    if (err_len) err[0] = '\0';
    struct stat st;
    if (stat(path, &st) != 0) return io_error(err, err_len, "%s: no such file or folder", path);
    if (S_ISDIR(st.st_mode)) return folder_template(path, jinja, where, where_len, err, err_len);
    Gguf *g = gguf_open(path, err, err_len);
    if (!g) return -1;
    static const char key[] = "tokenizer.chat_template";
    snprintf(where, where_len, "%s: %s", path, key);
    int rc = 0;
    GgufString text;
    if (gguf_has(g, key)) {
        rc = gguf_get_string(g, key, &text, err, err_len) < 0 ? -1 : 1;
        if (rc == 1 && !(*jinja = strndup(text.ptr, text.len)))
            rc = io_error(err, err_len, "out of memory");
    }
    gguf_close(g);
    return rc;
}

// The text of a special token, into buf; NULL when the tokenizer has none.
static const char *token_text(const Tokenizer *tok, int id, char *buf, size_t cap) {
    if (!tok || id < 0) return NULL;
    int len = tokenizer_token_bytes(tok, id, buf, cap);
    return len > 0 && (size_t)len < cap ? buf : NULL;
}

int model_chat_template_load(const char *path, const Tokenizer *tok, ModelChatTemplate *out,
                             char *err, size_t err_len) {
    *out = (ModelChatTemplate){0};
    char *jinja, where[4200], why[512];
    int found = model_chat_template_read(path, &jinja, where, sizeof where, err, err_len);
    if (found <= 0) return found;
    char bos[256], eos[256];
    ChatSpecialTokens special = {token_text(tok, tok ? tokenizer_bos(tok) : -1, bos, sizeof bos),
                                 token_text(tok, tok ? tokenizer_eos(tok) : -1, eos, sizeof eos),
                                 tok && tokenizer_adds_bos(tok)};
    int rc = model_chat_template_recognise(jinja, &special, out, why, sizeof why);
    free(jinja);
    if (rc < 0)
        return io_error(err, err_len,
                        "%s: %s; state the template in the project's form instead (are generate "
                        "--template, a config's template = \"...{prompt}...\")",
                        where, why);
    return 1;
}

char *model_chat_template_resolve(const char *path, const Tokenizer *tok, const char *requested,
                                  bool has_system, char *err, size_t err_len) {
    char *text = NULL;
    if (requested && strcmp(requested, CHAT_TEMPLATE_AUTO)) {
        text = strdup(requested);
    } else {
        ModelChatTemplate t;
        int found = model_chat_template_load(path, tok, &t, err, err_len);
        if (found < 0) return NULL;
        const char *chosen = !found       ? (has_system ? NULL : "{prompt}")
                             : has_system ? t.with_system
                                          : t.plain;
        if (chosen)
            text = strdup(chosen);
        else if (!found)
            io_error(err, err_len,
                     "%s carries no chat template, so a system text has nowhere to "
                     "go: give a template with {system}",
                     path);
        else
            io_error(err, err_len,
                     "%s: the model's chat template (%s) has no system turn: give a "
                     "template with {system} to use a system text",
                     path, t.family);
        if (found) model_chat_template_free(&t);
        if (!chosen) return NULL;
    }
    if (!text) io_error(err, err_len, "out of memory");
    return text;
}
