// Chat templates as config strings; see chat_template.h.
#include "chat_template.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char prompt_field[] = "{prompt}";
static const char system_field[] = "{system}";
_Static_assert(sizeof(prompt_field) == sizeof(system_field), "fill() skips either by one length");

int chat_template_check(const char *template_text, bool has_system, char *err, size_t err_len) {
    if (!strstr(template_text, prompt_field)) {
        snprintf(err, err_len, "chat template \"%s\" has no {prompt}", template_text);
        return -1;
    }
    if (has_system && !strstr(template_text, system_field)) {
        snprintf(err, err_len,
                 "chat template \"%s\" has no {system}, so a system text has nowhere to go",
                 template_text);
        return -1;
    }
    return 0;
}

// Writes the filled-in template into out (when not NULL) and returns its length. Inserted text
// is not scanned again, so a prompt that contains "{system}" stays as it is.
static size_t fill(const char *t, const char *system, const char *prompt, char *out) {
    size_t n = 0;
    while (*t) {
        const char *insert = NULL;
        if (!strncmp(t, prompt_field, strlen(prompt_field)))
            insert = prompt;
        else if (!strncmp(t, system_field, strlen(system_field)))
            insert = system ? system : "";
        if (insert) {
            size_t len = strlen(insert);
            if (out) memcpy(out + n, insert, len);
            n += len;
            t += strlen(prompt_field);
        } else {
            if (out) out[n] = *t;
            n++;
            t++;
        }
    }
    if (out) out[n] = '\0';
    return n;
}

char *chat_template_apply(const char *template_text, const char *system, const char *prompt,
                          char *err, size_t err_len) {
    if (chat_template_check(template_text, system != NULL, err, err_len) < 0) return NULL;
    char *text = malloc(fill(template_text, system, prompt, NULL) + 1);
    if (!text) {
        snprintf(err, err_len, "out of memory applying the chat template");
        return NULL;
    }
    fill(template_text, system, prompt, text);
    return text;
}
