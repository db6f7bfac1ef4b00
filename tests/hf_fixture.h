// Helpers shared by the tests of model folders and adapters (test_hf_model, test_peft): paths
// of the fixtures tests/ref/make_hf_fixtures.py made, scratch folders for the broken copies
// the tests write, and the fixtures' expected values (compared with check_against_reference).
#ifndef ARE_TEST_HF_FIXTURE_H
#define ARE_TEST_HF_FIXTURE_H

#include "check.h"
#include "read_file.h"
#include "safetensors.h"

#include <dirent.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// path of tests/ref/fixtures/<name> (run from the source tree or with ARE_SOURCE_DIR set).
static inline void fixture_path(char *path, size_t len, const char *name) {
    const char *src = getenv("ARE_SOURCE_DIR") ? getenv("ARE_SOURCE_DIR") : ".";
    snprintf(path, len, "%s/tests/ref/fixtures/%s", src, name);
}

static inline void join(char *path, size_t len, const char *dir, const char *name) {
    if (snprintf(path, len, "%s/%s", dir, name) >= (int)len) {
        fprintf(stderr, "path too long: %s/%s\n", dir, name);
        exit(2);
    }
}

static inline void write_file(const char *path, const void *bytes, size_t n) {
    FILE *out = fopen(path, "wb");
    if (!out || fwrite(bytes, 1, n, out) != n || fclose(out) != 0) {
        perror(path);
        exit(2);
    }
}

static inline void write_text(const char *path, const char *text) {
    write_file(path, text, strlen(text));
}

static inline void copy_file(const char *from, const char *to) {
    size_t n;
    char *bytes = read_file(from, &n);
    if (!bytes) {
        perror(from);
        exit(2);
    }
    write_file(to, bytes, n);
    free(bytes);
}

// Copies the named files of folder from into folder to.
static inline void copy_files(const char *from, const char *to, const char *const *names,
                              int n_names) {
    for (int i = 0; i < n_names; i++) {
        char src[4096], dst[4096];
        join(src, sizeof(src), from, names[i]);
        join(dst, sizeof(dst), to, names[i]);
        copy_file(src, dst);
    }
}

// Copies every file of folder from into folder to.
static inline void copy_dir(const char *from, const char *to) {
    DIR *d = opendir(from);
    if (!d) {
        perror(from);
        exit(2);
    }
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        copy_files(from, to, (const char *const[]){e->d_name}, 1);
    }
    closedir(d);
}

static inline int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw) {
    (void)st, (void)type, (void)ftw;
    return remove(path);
}

// A new empty folder under /tmp named after what (its path in dir, size 4096).
static inline void make_temp_dir(char *dir, const char *what) {
    snprintf(dir, 4096, "/tmp/are_%s_XXXXXX", what);
    if (!mkdtemp(dir)) {
        perror(dir);
        exit(2);
    }
}

static inline void remove_dir(const char *dir) {
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

// Reads "1 2 3\n" into ids (at most max); returns the count, or -1 when unreadable.
static inline int read_ids(const char *path, int *ids, int max) {
    FILE *in = fopen(path, "r");
    if (!in) return -1;
    int n = 0;
    while (n < max && fscanf(in, "%d", &ids[n]) == 1) n++;
    fclose(in);
    return n;
}

// Tensor name of n floats from f into a new array, or NULL (a failed check).
static inline float *read_expected(const SafetensorsFile *f, const char *name, size_t n) {
    const SafetensorsTensor *t = safetensors_find(f, name);
    char err[512] = "no such tensor";
    float *values = malloc(n * sizeof(float));
    if (!t || safetensors_read_f32(f, t, values, n, err, sizeof(err)) < 0) {
        CHECK(0, "%s: %s: %s", safetensors_path(f), name, err);
        free(values);
        return NULL;
    }
    return values;
}

#endif
