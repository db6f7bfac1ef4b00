// The check of a finished trial file; see trial_file_check.h.
#include "trial_file_check.h"

#include "fail.h"
#include "hdf5_util.h"
#include "trial_file_names.h"

#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SUPERBLOCK_READ 64 // bytes enough for every superblock version's end-of-file address

static const char signature[8] = {'\x89', 'H', 'D', 'F', '\r', '\n', '\x1a', '\n'};

// The objects trial_store_create makes, which every finished file has.
static const char *const required[] = {TRIAL_METRICS,         TRIAL_METRICS "/" TRIAL_METRICS_ROUND,
                                       TRIAL_REPRESENTATIONS, TRIAL_STORED_ROUNDS,
                                       TRIAL_LABELS,          TRIAL_IS_TEST,
                                       TRIAL_LAYERS,          TRIAL_EVALUATION,
                                       TRIAL_RESULT};

static uint64_t little_endian(const unsigned char *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

// The file size the superblock at the start of head (have bytes of it) records: base address
// plus end-of-file address. 0 when the superblock is not one this reads (HDF5 then judges).
static uint64_t recorded_size(const unsigned char *head, size_t have) {
    if (have < 16) return 0;
    int version = head[8], offsets;
    size_t base_at; // where the base address is; the end-of-file address is two addresses on
    if (version >= 2) {
        offsets = head[9];
        base_at = 12;
    } else {
        offsets = head[13];
        base_at = version == 1 ? 28 : 24;
    }
    if (offsets != 2 && offsets != 4 && offsets != 8) return 0;
    size_t eof_at = base_at + 2 * (size_t)offsets;
    if (eof_at + (size_t)offsets > have) return 0;
    return little_endian(head + base_at, offsets) + little_endian(head + eof_at, offsets);
}

// Present, readable, HDF5 and whole as far as its first bytes tell.
static TrialFileState check_bytes(const char *path, char *why, size_t why_len) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        TrialFileState state = errno == ENOENT ? TRIAL_FILE_MISSING : TRIAL_FILE_UNREADABLE;
        fail(why, why_len, "%s: %s", path, errno == ENOENT ? "missing" : strerror(errno));
        return state;
    }
    struct stat st;
    unsigned char head[SUPERBLOCK_READ];
    ssize_t have = -1;
    TrialFileState state = TRIAL_FILE_OK;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
        (have = pread(fd, head, sizeof head, 0)) < 0) {
        state = TRIAL_FILE_UNREADABLE;
        fail(why, why_len, "%s: %s", path,
             have < 0 && errno ? strerror(errno) : "not a regular file");
    } else if (st.st_size == 0) {
        state = TRIAL_FILE_TRUNCATED;
        fail(why, why_len, "%s: truncated: empty", path);
    } else if ((size_t)have < sizeof signature || memcmp(head, signature, sizeof signature)) {
        state = TRIAL_FILE_NOT_HDF5;
        fail(why, why_len, "%s: not an HDF5 file (no HDF5 signature at its start)", path);
    } else {
        uint64_t want = recorded_size(head, (size_t)have);
        if (want > (uint64_t)st.st_size) {
            state = TRIAL_FILE_TRUNCATED;
            fail(why, why_len, "%s: truncated: %lld bytes of the %llu its superblock records", path,
                 (long long)st.st_size, (unsigned long long)want);
        }
    }
    close(fd);
    return state;
}

// Format, trial id, finished, every object there.
static int check_contents(Hdf5Ctx *c, hid_t file, const char *trial_id) {
    int format = 0;
    char *id = NULL, *status = NULL, *end_time = NULL;
    int rc = hdf5_read_number_attr(c, file, TRIAL_ATTR_FORMAT_VERSION, H5T_NATIVE_INT, &format);
    if (rc == 0 && format != TRIAL_FORMAT_VERSION)
        rc = hdf5_fail(c, TRIAL_ATTR_FORMAT_VERSION " is %d, expected %d", format,
                       TRIAL_FORMAT_VERSION);
    if (rc == 0)
        rc = hdf5_read_string_attr(c, file, TRIAL_ATTR_TRIAL_ID, &id) ||
                     hdf5_read_string_attr(c, file, TRIAL_ATTR_STATUS, &status) ||
                     hdf5_read_string_attr(c, file, TRIAL_ATTR_END_TIME, &end_time)
                 ? -1
                 : 0;
    if (rc == 0 && trial_id && strcmp(id, trial_id) != 0)
        rc = hdf5_fail(c, TRIAL_ATTR_TRIAL_ID " is \"%.40s\", expected %s", id, trial_id);
    if (rc == 0 && (!strcmp(status, TRIAL_STATUS_RUNNING) || !end_time[0]))
        rc = hdf5_fail(c,
                       TRIAL_ATTR_STATUS " \"%.40s\" and no " TRIAL_ATTR_END_TIME
                                         ": the trial never finished",
                       status);
    for (size_t i = 0; rc == 0 && i < sizeof required / sizeof required[0]; i++) {
        hid_t object = H5Oopen(file, required[i], H5P_DEFAULT);
        if (object < 0) rc = hdf5_fail_cause(c, "%s", required[i]);
        hdf5_release(object);
    }
    free(id);
    free(status);
    free(end_time);
    return rc;
}

TrialFileState trial_file_check(const char *path, const char *trial_id, char *why, size_t why_len) {
    TrialFileState state = check_bytes(path, why, why_len);
    if (state != TRIAL_FILE_OK) return state;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    Hdf5Ctx c = {.path = path, .err = why, .err_len = why_len, .transfer = H5P_DEFAULT};
    c.strings = hdf5_string_type();
    hid_t fapl = hdf5_file_access(), file = H5I_INVALID_HID;
    if (c.strings >= 0 && fapl >= 0) file = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    int rc = file < 0 ? hdf5_fail_cause(&c, "HDF5 cannot open it") : 0;
    hdf5_release(fapl);
    if (rc == 0) rc = check_contents(&c, file, trial_id);
    hdf5_release(file);
    hdf5_release(c.strings);
    return rc == 0 ? TRIAL_FILE_OK : TRIAL_FILE_DAMAGED;
}
