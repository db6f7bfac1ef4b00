// A whole file mapped read-only into memory: the readers parse model files in place, and the
// operating system pages in only the tensors that are read.
#ifndef ARE_MAPPED_FILE_H
#define ARE_MAPPED_FILE_H

#include <stddef.h>

typedef struct {
    const unsigned char *data; // NULL for an empty file (there is nothing to map)
    size_t size;
} MappedFile;

// Maps the regular file at path. 0, or -1 with "path: why" in err (cannot open, not a regular
// file, cannot map).
int mapped_file_open(MappedFile *file, const char *path, char *err, size_t err_len);
// Unmaps the file (nothing for an empty or zeroed MappedFile) and zeroes it.
void mapped_file_close(MappedFile *file);

#endif
