#include "trial_steering.h"

#include "hdf5_util.h"
#include "trial_file_names.h"

#include <hdf5.h>
#include <math.h>
#include <stdlib.h>

#define STEERING TRIAL_DIRECTION "/" TRIAL_DIRECTION_STEERING // for messages

static int read_vector(Hdf5Ctx *c, hid_t group, TrialSteering *s) {
    hid_t set = H5Dopen2(group, TRIAL_DIRECTION_STEERING, H5P_DEFAULT);
    if (set < 0) return hdf5_fail(c, "no " STEERING ": not a trial of method activation_addition");
    hid_t space = H5Dget_space(set);
    hsize_t dims[2] = {0, 0};
    int rank = space >= 0 ? H5Sget_simple_extent_ndims(space) : -1;
    if (rank == 1) H5Sget_simple_extent_dims(space, dims, NULL);
    int rc = 0;
    if (rank != 1 || dims[0] < 1 || dims[0] > (1u << 20))
        rc = hdf5_fail(c, STEERING ": a vector of 1 to 2^20 floats expected");
    else if (!(s->steer = malloc(dims[0] * sizeof *s->steer)))
        rc = hdf5_fail(c, "out of memory");
    else if (H5Dread(set, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, s->steer) < 0)
        rc = hdf5_fail_cause(c, "reading " STEERING);
    s->dim = (int)dims[0];
    for (int j = 0; rc == 0 && j < s->dim; j++)
        if (!isfinite(s->steer[j])) rc = hdf5_fail(c, STEERING "[%d] is not a finite number", j);
    hdf5_release(space);
    hdf5_release(set);
    return rc;
}

int trial_steering_read(const char *path, TrialSteering *s, char *err, size_t err_len) {
    *s = (TrialSteering){0};
    Hdf5Ctx c = {.path = path, .err = err, .err_len = err_len, .transfer = H5P_DEFAULT};
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t fapl = hdf5_file_access();
    hid_t file = fapl >= 0 ? H5Fopen(path, H5F_ACC_RDONLY | H5F_ACC_SWMR_READ, fapl) : -1;
    int rc = file < 0 ? hdf5_fail_cause(&c, "not a readable trial file") : 0;
    hdf5_release(fapl);
    hid_t group = -1;
    if (rc == 0 && (group = H5Gopen2(file, TRIAL_DIRECTION, H5P_DEFAULT)) < 0)
        rc = hdf5_fail(&c, "no group " TRIAL_DIRECTION ": not a trial of a baseline method");
    if (rc == 0)
        rc = hdf5_read_number_attr(&c, group, TRIAL_DIRECTION_LAYER, H5T_NATIVE_INT, &s->layer) ? -1
                                                                                                : 0;
    if (rc == 0) rc = read_vector(&c, group, s);
    hdf5_release(group);
    hdf5_release(file);
    if (rc) trial_steering_free(s);
    return rc;
}

void trial_steering_free(TrialSteering *s) {
    free(s->steer);
    *s = (TrialSteering){0};
}
