// Training text for `are pretrain`: a JSONL file, one JSON object per line with a string
// field "text" holding one document (other fields are ignored; blank lines are skipped).
#ifndef ARE_TEXT_CORPUS_H
#define ARE_TEXT_CORPUS_H

#include <stddef.h>

typedef struct {
    int n_docs;
    char **docs;  // [n_docs] NUL-terminated UTF-8, views into one allocation
    size_t *lens; // [n_docs] bytes of each document
    char *text;   // the allocation the documents live in
} TextCorpus;

// Reads every document of path. Returns 0, or -1 with file:line and the reason in err.
int text_corpus_load(const char *path, TextCorpus *c, char *err, size_t err_len);
void text_corpus_free(TextCorpus *c);

// The whole file at path, NUL-terminated, in a new allocation (size bytes before the NUL), or
// NULL with the reason in err.
char *text_file_read(const char *path, size_t *size, char *err, size_t err_len);

#endif
