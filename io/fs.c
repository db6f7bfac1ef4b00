#include "fs.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

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

int copy_file(const char *src, const char *dir, const char *name, char *err, size_t err_len) {
    char path[PATH_MAX_LEN], tmp[PATH_MAX_LEN + 8];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *in = fopen(src, "rb");
    if (!in) {
        snprintf(err, err_len, "%s: cannot open: %s", src, strerror(errno));
        return -1;
    }
    FILE *out = fopen(tmp, "wb");
    bool ok = out != NULL;
    char buf[1 << 16];
    size_t got;
    while (ok && (got = fread(buf, 1, sizeof(buf), in)) > 0) ok = fwrite(buf, 1, got, out) == got;
    ok = ok && !ferror(in);
    fclose(in);
    if (out) ok = (fclose(out) == 0) && ok;
    if (!ok || rename(tmp, path) < 0) {
        snprintf(err, err_len, "%s: cannot write: %s", path, strerror(errno));
        remove(tmp);
        return -1;
    }
    return 0;
}
