// Reading back what io/ wrote, with the HDF5 C API, for the tests of the trial and sweep files.
#ifndef ARE_TEST_H5_READ_H
#define ARE_TEST_H5_READ_H

#include <hdf5.h>
#include <stdlib.h>
#include <string.h>

// The files' string type; HDF5 converts no string between ASCII and UTF-8.
static inline hid_t utf8_type(void) {
    hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, H5T_VARIABLE);
    H5Tset_cset(type, H5T_CSET_UTF8);
    return type;
}

// A string attribute of obj as a malloc'ed copy, or NULL when missing or unreadable.
static inline char *read_string_attr(hid_t obj, const char *name) {
    hid_t attr = H5Aopen(obj, name, H5P_DEFAULT), type = utf8_type();
    char *value = NULL, *copy = NULL;
    if (attr >= 0 && H5Aread(attr, type, &value) >= 0 && value) copy = strdup(value);
    H5free_memory(value);
    H5Tclose(type);
    if (attr >= 0) H5Aclose(attr);
    return copy;
}

#endif
