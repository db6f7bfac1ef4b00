#include "cuda_devices.h"

#include <cuda_runtime.h>
#include <string.h>

int cuda_device_count(void) {
    int n = 0;
    // No driver or no device is an error from the runtime, and means zero devices here.
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        cudaGetLastError();
        return 0;
    }
    return n;
}

int cuda_device_info(int i, CudaDeviceInfo *info) {
    cudaDeviceProp prop;
    if (i < 0 || i >= cuda_device_count() || cudaGetDeviceProperties(&prop, i) != cudaSuccess)
        return -1;
    memset(info, 0, sizeof(*info));
    memcpy(info->name, prop.name, sizeof(info->name) - 1); // zeroed above: stays terminated
    info->major = prop.major;
    info->minor = prop.minor;
    info->memory_bytes = prop.totalGlobalMem;
    info->multiprocessors = prop.multiProcessorCount;
    return 0;
}
