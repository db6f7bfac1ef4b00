// A whole file read into memory, for tests that compare or edit file contents.
#ifndef ARE_TEST_READ_FILE_H
#define ARE_TEST_READ_FILE_H

#include <stdio.h>
#include <stdlib.h>

// The whole file in a new NUL-terminated buffer (*len bytes before the NUL, when len is not
// NULL); NULL when it cannot be read.
static inline char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *data = malloc((size_t)size + 1);
    if (data && fread(data, 1, (size_t)size, f) != (size_t)size) {
        free(data);
        data = NULL;
    }
    fclose(f);
    if (data) data[size] = '\0';
    if (len) *len = (size_t)size;
    return data;
}

#endif
