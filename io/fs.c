#include "fs.h"
#include "fail.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PATH_MAX_LEN 4096

int make_dirs(const char *dir, char *err, size_t err_len) {
    char path[PATH_MAX_LEN];
    if (snprintf(path, sizeof(path), "%s", dir) >= (int)sizeof(path)) {
        snprintf(err, err_len, "%.200s...: path too long", dir);
        return -1;
    }
    // Each prefix ending before a '/', then the whole path.
    for (char *p = path + 1;; p++) {
        if (*p && *p != '/') continue;
        char saved = *p;
        *p = 0;
        if (mkdir(path, 0777) < 0 && errno != EEXIST) {
            snprintf(err, err_len, "%s: cannot create the folder: %s", path, strerror(errno));
            return -1;
        }
        *p = saved;
        if (!saved) return 0;
    }
}

int replace_file(const char *path, FileWriter fill, void *ctx, char *err, size_t err_len) {
    size_t tmp_len = strlen(path) + sizeof ".tmp";
    char *tmp = malloc(tmp_len);
    if (!tmp) return fail(err, err_len, "%s: out of memory", path);
    snprintf(tmp, tmp_len, "%s.tmp", path);
    int rc = 0;
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        rc = fail(err, err_len, "%s: cannot write %s: %s", path, tmp, strerror(errno));
    } else {
        errno = 0;
        bool written = fill(f, ctx) == 0 && fflush(f) == 0 && fsync(fileno(f)) == 0;
        int why = errno ? errno : EIO; // a short fwrite need not set errno
        if (fclose(f) != 0 && written) {
            written = false;
            why = errno;
        }
        if (!written)
            rc = fail(err, err_len, "%s: cannot write %s: %s", path, tmp, strerror(why));
        else if (rename(tmp, path) != 0)
            rc = fail(err, err_len, "%s: cannot rename %s to it: %s", path, tmp, strerror(errno));
        if (rc < 0) remove(tmp);
    }
    free(tmp);
    return rc;
}

// Copies the open file in into f, for replace_file.
static int copy_into(FILE *f, void *in) {
    char buf[1 << 16];
    size_t got;
    while ((got = fread(buf, 1, sizeof(buf), in)) > 0)
        if (fwrite(buf, 1, got, f) != got) return -1;
    return ferror(in) ? -1 : 0;
}

int copy_file(const char *src, const char *dir, const char *name, char *err, size_t err_len) {
    char path[PATH_MAX_LEN];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *in = fopen(src, "rb");
    if (!in) {
        snprintf(err, err_len, "%s: cannot open: %s", src, strerror(errno));
        return -1;
    }
    int rc = replace_file(path, copy_into, in, err, err_len);
    fclose(in);
    return rc;
}
