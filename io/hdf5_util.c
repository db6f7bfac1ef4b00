// Helpers of the HDF5 files; see hdf5_util.h.
#include "hdf5_util.h"

#include "io_error.h"
#include "unicode.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CAUSE_MAX   512 // HDF5's description of an error
#define TIME_FORMAT "%Y-%m-%dT%H:%M:%SZ"

int hdf5_fail(Hdf5Ctx *c, const char *fmt, ...) {
    char message[768];
    va_list args;
    va_start(args, fmt);
    vsnprintf(message, sizeof(message), fmt, args);
    va_end(args);
    return io_error(c->err, c->err_len, "%s: %s", c->path, message);
}

// The innermost error's description. A failed read or write of the file driver describes itself
// over several lines ("file write failed: time = ..., errno = 28, error message = 'No space left
// on device', buf = ..."): of that, only what failed and the system's message.
static herr_t keep_innermost(unsigned n, const H5E_error2_t *e, void *cause) {
    if (n != 0) return 0;
    const char *colon = strchr(e->desc, ':'), *message = strstr(e->desc, "error message = '");
    const char *end = message ? strchr(message + 17, '\'') : NULL;
    if (colon && end)
        snprintf(cause, CAUSE_MAX, "%.*s: %.*s", (int)(colon - e->desc), e->desc,
                 (int)(end - message - 17), message + 17);
    else
        snprintf(cause, CAUSE_MAX, "%s", e->desc);
    return 0;
}

int hdf5_fail_cause(Hdf5Ctx *c, const char *fmt, ...) {
    char what[256], cause[CAUSE_MAX] = "no HDF5 error message";
    va_list args;
    va_start(args, fmt);
    vsnprintf(what, sizeof(what), fmt, args);
    va_end(args);
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, keep_innermost, cause);
    return hdf5_fail(c, "%s: %s", what, cause);
}

// Each kind's own close: when closing fails (a dataset whose cached chunks cannot be flushed to a
// full disk), H5Dclose and its kin still drop the id, but H5Idec_ref keeps an id whose object is
// already freed, and HDF5's exit handler then crashes closing it again.
void hdf5_release(hid_t id) {
    if (id < 0) return;
    switch (H5Iget_type(id)) {
    case H5I_FILE:
        H5Fclose(id);
        break;
    case H5I_GROUP:
        H5Gclose(id);
        break;
    case H5I_DATATYPE:
        H5Tclose(id);
        break;
    case H5I_DATASPACE:
        H5Sclose(id);
        break;
    case H5I_DATASET:
        H5Dclose(id);
        break;
    case H5I_ATTR:
        H5Aclose(id);
        break;
    case H5I_GENPROP_LST:
        H5Pclose(id);
        break;
    default:
        H5Idec_ref(id);
    }
}

hid_t hdf5_string_type(void) {
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t >= 0 && (H5Tset_size(t, H5T_VARIABLE) < 0 || H5Tset_cset(t, H5T_CSET_UTF8) < 0)) {
        hdf5_release(t);
        return H5I_INVALID_HID;
    }
    return t;
}

hid_t hdf5_file_access(void) {
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl >= 0 && H5Pset_file_locking(fapl, true, true) < 0) {
        hdf5_release(fapl);
        return H5I_INVALID_HID;
    }
    return fapl;
}

int hdf5_write_attr(Hdf5Ctx *c, hid_t obj, const char *name, hid_t file_type, hid_t mem_type,
                    const void *value) {
    hid_t space = H5Screate(H5S_SCALAR), attr = H5I_INVALID_HID;
    htri_t exists = space < 0 ? -1 : H5Aexists(obj, name);
    if (exists > 0) attr = H5Aopen(obj, name, H5P_DEFAULT);
    if (exists == 0) attr = H5Acreate2(obj, name, file_type, space, H5P_DEFAULT, H5P_DEFAULT);
    bool ok = attr >= 0 && H5Awrite(attr, mem_type, value) >= 0;
    if (!ok) hdf5_fail_cause(c, "writing attribute %s", name);
    hdf5_release(attr);
    hdf5_release(space);
    return ok ? 0 : -1;
}

size_t hdf5_utf8_repair(const char *s, char *out) {
    size_t len = strlen(s), n = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        int k = utf8_decode(s + i, len - i, &cp);
        if (cp == UNICODE_INVALID) {
            memcpy(out + n, "\xEF\xBF\xBD", 3);
            n += 3;
        } else {
            memcpy(out + n, s + i, (size_t)k);
            n += (size_t)k;
        }
        i += (size_t)k;
    }
    out[n] = '\0';
    return n;
}

int hdf5_write_string_attr(Hdf5Ctx *c, hid_t obj, const char *name, const char *value) {
    if (!value) value = "";
    char *text = malloc(3 * strlen(value) + 1);
    if (!text) return hdf5_fail(c, "out of memory writing attribute %s", name);
    hdf5_utf8_repair(value, text);
    int rc = hdf5_write_attr(c, obj, name, c->strings, c->strings, &text);
    free(text);
    return rc;
}

int hdf5_write_dataset(Hdf5Ctx *c, hid_t loc, const char *name, hid_t file_type, hid_t mem_type,
                       int rank, const hsize_t *dims, const void *values) {
    hid_t space = H5Screate_simple(rank, dims, NULL), d = H5I_INVALID_HID;
    if (space >= 0)
        d = H5Dcreate2(loc, name, file_type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    bool empty = space >= 0 && H5Sget_simple_extent_npoints(space) == 0;
    bool ok =
        d >= 0 && (empty || H5Dwrite(d, mem_type, H5S_ALL, H5S_ALL, c->transfer, values) >= 0);
    if (!ok) hdf5_fail_cause(c, "writing %s", name);
    hdf5_release(d);
    hdf5_release(space);
    return ok ? 0 : -1;
}

int hdf5_write_strings(Hdf5Ctx *c, hid_t loc, const char *name, const char *const *strings, int n) {
    size_t bytes = 0;
    for (int i = 0; i < n; i++) bytes += 3 * strlen(strings[i] ? strings[i] : "") + 1;
    char **texts = malloc((size_t)n * sizeof(char *) + bytes + 1); // [n] pointers, then the text
    if (!texts) return hdf5_fail(c, "out of memory writing %s", name);
    char *at = (char *)(texts + n);
    for (int i = 0; i < n; i++) {
        texts[i] = at;
        at += hdf5_utf8_repair(strings[i] ? strings[i] : "", at) + 1;
    }
    hsize_t dims[1] = {(hsize_t)n};
    int rc = hdf5_write_dataset(c, loc, name, c->strings, c->strings, 1, dims, texts);
    free(texts);
    return rc;
}

void hdf5_time_text(time_t when, char out[HDF5_TIME_LEN]) {
    struct tm utc;
    gmtime_r(&when, &utc);
    strftime(out, HDF5_TIME_LEN, TIME_FORMAT, &utc);
}

double hdf5_time_parse(const char *text) {
    struct tm utc = {0};
    const char *end = strptime(text, TIME_FORMAT, &utc);
    return end && *end == '\0' ? (double)timegm(&utc) : NAN;
}

// Best effort: a rename lost in a crash only means that work is done again (the trial runs
// again; a sweep runs its last trials again).
static void sync_folder_of(const char *path) {
    const char *slash = strrchr(path, '/');
    char *folder = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
    int fd = folder ? open(folder, O_RDONLY | O_DIRECTORY) : -1;
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(folder);
}

int hdf5_publish(Hdf5Ctx *c, const char *path) {
    if (rename(c->path, path) != 0)
        return hdf5_fail(c, "renaming to %s: %s", path, strerror(errno));
    sync_folder_of(path);
    return 0;
}

// Opens attribute name of obj, which must hold one value.
static hid_t open_scalar_attr(Hdf5Ctx *c, hid_t obj, const char *name) {
    hid_t attr = H5Aopen(obj, name, H5P_DEFAULT);
    if (attr < 0) {
        hdf5_fail_cause(c, "attribute %s", name);
        return H5I_INVALID_HID;
    }
    hid_t space = H5Aget_space(attr);
    hssize_t n = space < 0 ? -1 : H5Sget_simple_extent_npoints(space);
    hdf5_release(space);
    if (n != 1) {
        hdf5_release(attr);
        hdf5_fail(c, "attribute %s holds %lld values, expected 1", name, (long long)n);
        return H5I_INVALID_HID;
    }
    return attr;
}

int hdf5_read_number_attr(Hdf5Ctx *c, hid_t obj, const char *name, hid_t mem_type, void *out) {
    hid_t attr = open_scalar_attr(c, obj, name);
    if (attr < 0) return -1;
    int rc =
        H5Aread(attr, mem_type, out) < 0 ? hdf5_fail_cause(c, "reading attribute %s", name) : 0;
    hdf5_release(attr);
    return rc;
}

int hdf5_read_string_attr(Hdf5Ctx *c, hid_t obj, const char *name, char **out) {
    hid_t attr = open_scalar_attr(c, obj, name);
    if (attr < 0) return -1;
    char *value = NULL;
    int rc = H5Aread(attr, c->strings, &value) < 0
                 ? hdf5_fail_cause(c, "reading attribute %s", name)
                 : 0;
    if (rc == 0 && !(*out = strdup(value ? value : "")))
        rc = hdf5_fail(c, "out of memory reading attribute %s", name);
    H5free_memory(value);
    hdf5_release(attr);
    return rc;
}
