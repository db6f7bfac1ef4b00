#include "text_corpus.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *text_file_read(const char *path, size_t *size, char *err, size_t err_len) {
    FILE *f = fopen(path, "rb");
    char *data = NULL;
    long n = -1;
    if (f && fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (data = malloc((size_t)n + 1)) && fread(data, 1, (size_t)n, f) == (size_t)n) {
        data[n] = 0;
        *size = (size_t)n;
        fclose(f);
        return data;
    }
    snprintf(err, err_len, "%s: cannot read: %s", path, data || !f ? strerror(errno) : "no memory");
    free(data);
    if (f) fclose(f);
    return NULL;
}

int text_corpus_load(const char *path, TextCorpus *c, char *err, size_t err_len) {
    *c = (TextCorpus){0};
    size_t size;
    char *file = text_file_read(path, &size, err, err_len);
    if (!file) return -1;
    // A decoded document is never longer than its line, so the file's size (plus a NUL per
    // line) bounds the text.
    int max_docs = 1;
    for (size_t i = 0; i < size; i++) max_docs += file[i] == '\n';
    c->docs = malloc((size_t)max_docs * sizeof(*c->docs));
    c->lens = malloc((size_t)max_docs * sizeof(*c->lens));
    c->text = malloc(size + (size_t)max_docs);
    if (!c->docs || !c->lens || !c->text) {
        snprintf(err, err_len, "%s: out of memory", path);
        goto fail;
    }
    size_t used = 0;
    int line_no = 0;
    for (char *line = file; line <= file + size;) {
        char *end = strchr(line, '\n');
        if (!end) end = file + size;
        line_no++;
        size_t len = (size_t)(end - line);
        if (strspn(line, " \t\r") < len) {
            json_error_t jerr;
            json_t *row = json_loadb(line, len, 0, &jerr);
            json_t *text = row ? json_object_get(row, "text") : NULL;
            if (!row || !json_is_string(text)) {
                snprintf(err, err_len, "%s:%d: %s", path, line_no,
                         !row                   ? jerr.text
                         : !json_is_object(row) ? "expected a JSON object {\"text\": ...}"
                                                : "expected a string field \"text\"");
                json_decref(row);
                goto fail;
            }
            size_t n = json_string_length(text);
            memcpy(c->text + used, json_string_value(text), n + 1);
            c->lens[c->n_docs] = n;
            c->docs[c->n_docs++] = c->text + used;
            used += n + 1;
            json_decref(row);
        }
        line = end + 1;
    }
    free(file);
    if (!c->n_docs) {
        snprintf(err, err_len, "%s: no documents (expected JSONL lines {\"text\": ...})", path);
        text_corpus_free(c);
        return -1;
    }
    return 0;
fail:
    free(file);
    text_corpus_free(c);
    return -1;
}

void text_corpus_free(TextCorpus *c) {
    free(c->docs);
    free(c->lens);
    free(c->text);
    *c = (TextCorpus){0};
}
