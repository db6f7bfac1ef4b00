// Which backend a command computes on: the config's `device` ("auto", "cpu", "cuda") and
// `base_weights` ("auto", "fp32", "bf16", "fp16") resolved against what this node has.
#ifndef ARE_COMPUTE_DEVICE_H
#define ARE_COMPUTE_DEVICE_H

#include "backend.h"

#include <stddef.h>

typedef struct {
    const char *device;       // "auto": a GPU when the build has CUDA and the node a GPU
    const char *base_weights; // "auto": bf16 on a GPU, fp32 on the CPU
    int threads;              // CPU threads (0: every core); a GPU backend ignores it
    int gpu;                  // the GPU picked by node-local rank (placement); -1: GPU 0
} DeviceChoice;

// The backend for choice, its matrix_type set from base_weights, and in label (e.g. "cpu",
// "cuda:1") what it is. Returns NULL with the reason in err: cuda asked for where the build
// has no CUDA or the node no GPU, a device that fails to start, an unknown name.
Backend *compute_device_open(const DeviceChoice *choice, char *label, size_t label_len, char *err,
                             size_t err_len);

// The storage type named by base_weights for a backend called backend_name; -1 if unknown.
int compute_device_matrix_type(const char *base_weights, const char *backend_name);

#endif
