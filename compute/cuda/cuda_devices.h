// CUDA device discovery. Safe to call on machines without a GPU or driver: they have 0 devices.
#ifndef ARE_CUDA_DEVICES_H
#define ARE_CUDA_DEVICES_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    char name[256];
    int major, minor;    // compute capability
    size_t memory_bytes; // global memory
    int multiprocessors;
} CudaDeviceInfo;

// Number of usable CUDA devices; 0 when there is no device or no driver.
int cuda_device_count(void);
// Fills info for device i; returns 0, or -1 when i is not a usable device.
int cuda_device_info(int i, CudaDeviceInfo *info);

#ifdef __cplusplus
}
#endif

#endif
