// What the HDF5 files of io share: trial_store.c, sweep_store.c and trial_summary.c were written
// side by side and each grew the same helpers (error messages with HDF5's own cause, closing
// ids, UTF-8 string datasets and attributes, file locking, ISO-8601 times, the final rename);
// they live here once, so that the trial and sweep files keep writing strings and times alike.
#ifndef ARE_HDF5_UTIL_H
#define ARE_HDF5_UTIL_H

#include <hdf5.h>
#include <stddef.h>
#include <time.h>

#define HDF5_TIME_LEN 32 // room for an ISO-8601 UTC time and its NUL

// Where the functions below report failures ("path: message" into err) and what they write
// strings and datasets with.
typedef struct {
    const char *path; // the file that messages name
    char *err;
    size_t err_len;
    hid_t strings;  // variable-length UTF-8 strings (hdf5_string_type)
    hid_t transfer; // dataset transfer properties: H5P_DEFAULT, or a smaller conversion buffer
} Hdf5Ctx;

// io_error with "path: " before the message. Returns -1.
int hdf5_fail(Hdf5Ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

// hdf5_fail with ": " and what went wrong deepest inside HDF5 after the message. Call it right
// after the failed HDF5 call: every HDF5 call clears the error stack.
int hdf5_fail_cause(Hdf5Ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

// Closes a file, dataspace, property list, datatype, attribute, group or dataset, if open (id >=
// 0), with the close function of its kind, so that no id outlives a close that failed.
void hdf5_release(hid_t id);

// Variable-length UTF-8 strings, or H5I_INVALID_HID.
hid_t hdf5_string_type(void);

// File access properties with file locks where the file system has them, but none where it has
// not (Lustre and NFS are often mounted without); H5I_INVALID_HID when HDF5 fails.
hid_t hdf5_file_access(void);

// Writes a scalar attribute of obj, creating it or overwriting it.
int hdf5_write_attr(Hdf5Ctx *c, hid_t obj, const char *name, hid_t file_type, hid_t mem_type,
                    const void *value);

// Copies s to out (room for 3 * strlen(s) + 1 bytes) with each byte that does not belong to
// well-formed UTF-8 replaced by U+FFFD, as the functions below write every string. Returns the
// length written, NUL excluded.
size_t hdf5_utf8_repair(const char *s, char *out);

// A string attribute (NULL counts as ""), each byte that does not belong to well-formed UTF-8
// replaced by U+FFFD (a generation cut inside a character): the type promises readers UTF-8.
int hdf5_write_string_attr(Hdf5Ctx *c, hid_t obj, const char *name, const char *value);

// A new dataset of shape dims[rank] and file_type, written from values of mem_type through
// c->transfer (nothing is read from values when the shape holds no element).
int hdf5_write_dataset(Hdf5Ctx *c, hid_t loc, const char *name, hid_t file_type, hid_t mem_type,
                       int rank, const hsize_t *dims, const void *values);

// A new dataset [n] of strings, NULL and invalid UTF-8 treated as by hdf5_write_string_attr.
int hdf5_write_strings(Hdf5Ctx *c, hid_t loc, const char *name, const char *const *strings, int n);

// Reads the scalar attribute name of obj as mem_type into out. A missing attribute or one that
// holds more than one value is an error naming it.
int hdf5_read_number_attr(Hdf5Ctx *c, hid_t obj, const char *name, hid_t mem_type, void *out);

// A malloc'd copy of the scalar string attribute name of obj in *out ("" for a NULL string).
int hdf5_read_string_attr(Hdf5Ctx *c, hid_t obj, const char *name, char **out);

// when as the stores write times: ISO-8601 UTC, "2024-05-01T12:00:00Z".
void hdf5_time_text(time_t when, char out[HDF5_TIME_LEN]);

// Unix seconds of a time that hdf5_time_text wrote, NaN for any other text ("" included).
double hdf5_time_parse(const char *text);

// Renames the finished, fsynced c->path to path and then fsyncs path's folder, so that a crash
// leaves either no file or the whole file under path. Returns 0, or -1 when the rename fails.
int hdf5_publish(Hdf5Ctx *c, const char *path);

#endif
