// Filesystem helpers every layer uses for its output folders and files.
#ifndef ARE_FS_H
#define ARE_FS_H

#include <stddef.h>
#include <stdio.h>

// Creates dir and its missing parents. 0, or -1 with err.
int make_dirs(const char *dir, char *err, size_t err_len);

// Fills a file that replace_file opened: 0, or -1 with errno saying why (EIO when unset).
typedef int (*FileWriter)(FILE *f, void *ctx);

// Writes path whole or not at all: fill(f, ctx) writes path.tmp, which is flushed, synced to
// disk and renamed over path, so that a reader or a crash finds the old file or the whole new
// one, never part of one. path.tmp is removed when anything fails (and left alone when it
// cannot be created, e.g. a folder of that name). 0, or -1 with err naming path, path.tmp and
// the cause.
int replace_file(const char *path, FileWriter fill, void *ctx, char *err, size_t err_len);

// Copies the file src to dir/name with replace_file: dir/name is either the old file or a whole
// copy. 0, or -1 with err.
int copy_file(const char *src, const char *dir, const char *name, char *err, size_t err_len);

#endif
