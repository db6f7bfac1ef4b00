#include "compute_device.h"

#include "backend_cpu.h"
#ifdef ARE_HAVE_CUDA
#include "backend_cuda.h"
#include "cuda_devices.h"
#endif

#include <stdio.h>
#include <string.h>

int compute_device_matrix_type(const char *base_weights, const char *backend_name) {
    if (!strcmp(base_weights, "auto"))
        return strcmp(backend_name, "cpu") ? MATRIX_BF16 : MATRIX_F32;
    if (!strcmp(base_weights, "fp32")) return MATRIX_F32;
    if (!strcmp(base_weights, "bf16")) return MATRIX_BF16;
    if (!strcmp(base_weights, "fp16")) return MATRIX_F16;
    return -1;
}

static int gpu_count(void) {
#ifdef ARE_HAVE_CUDA
    return cuda_device_count();
#else
    return 0;
#endif
}

Backend *compute_device_open(const DeviceChoice *choice, char *label, size_t label_len, char *err,
                             size_t err_len) {
    const char *device = choice->device;
    bool cuda = !strcmp(device, "cuda") || (!strcmp(device, "auto") && gpu_count() > 0);
    if (!cuda && strcmp(device, "cpu") && strcmp(device, "auto")) {
        snprintf(err, err_len, "device '%s': expected auto, cpu or cuda", device);
        return NULL;
    }
    int matrices = compute_device_matrix_type(choice->base_weights, cuda ? "cuda" : "cpu");
    if (matrices < 0) {
        snprintf(err, err_len, "base_weights '%s': expected auto, fp32, bf16 or fp16",
                 choice->base_weights);
        return NULL;
    }
    Backend *be = NULL;
    if (!cuda) {
        if (!(be = backend_cpu_create(choice->threads))) {
            snprintf(err, err_len, "out of memory creating the CPU backend");
            return NULL;
        }
        be->matrix_type = (MatrixType)matrices;
        snprintf(label, label_len, "cpu");
        return be;
    }
#ifdef ARE_HAVE_CUDA
    int n = gpu_count(), gpu = choice->gpu >= 0 ? choice->gpu : 0;
    if (n == 0) {
        snprintf(err, err_len, "device cuda: no CUDA device on this node (or no driver)");
        return NULL;
    }
    if (!(be = backend_cuda_create(gpu % n, (MatrixType)matrices, err, err_len))) return NULL;
    snprintf(label, label_len, "cuda:%d", gpu % n);
#else
    snprintf(err, err_len,
             "device cuda: this build of are has no CUDA backend (no nvcc when it "
             "was configured)");
#endif
    return be;
}
