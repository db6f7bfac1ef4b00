#include "trial_summary.h"

#include "fail.h"
#include "hdf5_util.h"
#include "trial_file_names.h"

#include <hdf5.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    TrialSummary *s;
    const char *prefix; // "" or "<model>.<set>."
    bool failed;
} Collect;

// H5Aiterate2 callback: appends a numeric scalar attribute as prefix + name.
static herr_t collect_attr(hid_t loc, const char *name, const H5A_info_t *info, void *data) {
    (void)info;
    Collect *c = data;
    hid_t attr = H5Aopen(loc, name, H5P_DEFAULT);
    hid_t type = attr >= 0 ? H5Aget_type(attr) : H5I_INVALID_HID;
    H5T_class_t cls = type >= 0 ? H5Tget_class(type) : H5T_NO_CLASS;
    if ((cls == H5T_FLOAT || cls == H5T_INTEGER) && c->s->n < TRIAL_SUMMARY_MAX) {
        double value;
        if (H5Aread(attr, H5T_NATIVE_DOUBLE, &value) < 0) {
            c->failed = true;
        } else {
            snprintf(c->s->names[c->s->n], TRIAL_SUMMARY_NAME_MAX, "%s%s", c->prefix, name);
            c->s->values[c->s->n++] = value;
        }
    }
    hdf5_release(type);
    hdf5_release(attr);
    return c->failed ? -1 : 0;
}

static int collect_group_attrs(hid_t file, const char *group_path, const char *prefix,
                               TrialSummary *s) {
    hid_t group = H5Gopen2(file, group_path, H5P_DEFAULT);
    if (group < 0) return -1;
    Collect c = {.s = s, .prefix = prefix};
    hsize_t at = 0;
    herr_t rc = H5Aiterate2(group, H5_INDEX_NAME, H5_ITER_INC, &at, collect_attr, &c);
    H5Gclose(group);
    return rc < 0 || c.failed ? -1 : 0;
}

typedef struct {
    hid_t file;
    TrialSummary *s;
    const char *model; // NULL while iterating over models
    bool failed;
} Walk;

// H5Literate callback over /evaluation (models) and /evaluation/<model> (sets).
static herr_t walk_evaluation(hid_t loc, const char *name, const H5L_info_t *info, void *data) {
    (void)info;
    Walk *w = data;
    H5O_info_t object;
    if (H5Oget_info_by_name(loc, name, &object, H5P_DEFAULT) < 0) return -1;
    if (object.type != H5O_TYPE_GROUP) return 0; // evaluation/refusal_markers
    if (!w->model) {
        hid_t group = H5Gopen2(loc, name, H5P_DEFAULT);
        if (group < 0) return -1;
        Walk sets = {.file = w->file, .s = w->s, .model = name};
        hsize_t at = 0;
        herr_t rc = H5Literate(group, H5_INDEX_NAME, H5_ITER_INC, &at, walk_evaluation, &sets);
        H5Gclose(group);
        return rc < 0 || sets.failed ? -1 : 0;
    }
    char path[512], prefix[256];
    snprintf(path, sizeof path, "/" TRIAL_EVALUATION "/%s/%s", w->model, name);
    snprintf(prefix, sizeof prefix, "%s.%s.", w->model, name);
    return collect_group_attrs(w->file, path, prefix, w->s) < 0 ? -1 : 0;
}

int trial_summary_read(const char *path, TrialSummary *s, char *err, size_t err_len) {
    s->n = 0;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t fapl = hdf5_file_access();
    hid_t file = fapl >= 0 ? H5Fopen(path, H5F_ACC_RDONLY, fapl) : H5I_INVALID_HID;
    hdf5_release(fapl);
    if (file < 0) return fail(err, err_len, "%s: cannot open the trial file", path);
    int rc = collect_group_attrs(file, "/" TRIAL_RESULT, "", s);
    hid_t evaluation =
        rc == 0 ? H5Gopen2(file, "/" TRIAL_EVALUATION, H5P_DEFAULT) : H5I_INVALID_HID;
    if (evaluation >= 0) {
        Walk w = {.file = file, .s = s};
        hsize_t at = 0;
        rc = H5Literate(evaluation, H5_INDEX_NAME, H5_ITER_INC, &at, walk_evaluation, &w) < 0 ? -1
                                                                                              : 0;
        H5Gclose(evaluation);
    } else {
        rc = -1;
    }
    H5Fclose(file);
    if (rc < 0)
        return fail(err, err_len,
                    "%s: no readable /" TRIAL_RESULT " and /" TRIAL_EVALUATION
                    " (not a finished trial file?)",
                    path);
    return 0;
}
