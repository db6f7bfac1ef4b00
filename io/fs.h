// Filesystem helpers every layer uses for its output folders and files.
#ifndef ARE_FS_H
#define ARE_FS_H

#include <stddef.h>

// Creates dir and its missing parents. 0, or -1 with err.
int make_dirs(const char *dir, char *err, size_t err_len);

// Copies the file src to dir/name through a temporary file renamed into place, so dir/name is
// either the old file or a whole copy. 0, or -1 with err.
int copy_file(const char *src, const char *dir, const char *name, char *err, size_t err_len);

#endif
