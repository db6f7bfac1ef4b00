// Whether a finished trial file (runs/<name>/trials/<id>.h5, io/trial_store.h has its layout) can
// be trusted, and if not, what is wrong with it in words for people: resume reruns a trial whose
// file fails, and analysis leaves it out, both saying why.
#ifndef ARE_TRIAL_FILE_CHECK_H
#define ARE_TRIAL_FILE_CHECK_H

#include <stddef.h>

typedef enum {
    TRIAL_FILE_OK,
    TRIAL_FILE_MISSING,    // no file at the path
    TRIAL_FILE_UNREADABLE, // there, but cannot be read (permissions, an I/O error, a folder)
    TRIAL_FILE_NOT_HDF5,   // no HDF5 signature at its start: not a trial file at all
    TRIAL_FILE_TRUNCATED,  // shorter than its superblock says: cut off (a full disk, a copy)
    TRIAL_FILE_DAMAGED,    // HDF5, but not a whole finished trial file of this format
} TrialFileState;

// Checks the file at path: present and readable, HDF5, as long as it says, openable, format 1,
// its trial_id attribute trial_id (unless trial_id is NULL), finished (status not "running", an
// end_time), and holding every group and dataset the store creates. Opens objects but reads no
// representations, so it costs milliseconds whatever the file's size. Returns the state; for any
// but TRIAL_FILE_OK, "path: what is wrong" in why.
TrialFileState trial_file_check(const char *path, const char *trial_id, char *why, size_t why_len);

#endif
