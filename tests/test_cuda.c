// CUDA device discovery. Where the build has no CUDA, or the machine no GPU, the checks are
// reported as skipped, never as passed.
#include "check.h"
#ifdef ARE_HAVE_CUDA
#include "cuda_devices.h"
#endif

int main(void) {
#ifdef ARE_HAVE_CUDA
    int n = cuda_device_count();
    if (n == 0) {
        SKIP("no CUDA device on this machine");
        return check_summary();
    }
    for (int i = 0; i < n; i++) {
        CudaDeviceInfo d;
        CHECK(cuda_device_info(i, &d) == 0, "device %d: no properties", i);
        CHECK(d.name[0] != '\0', "device %d: empty name", i);
        CHECK(d.memory_bytes > 0 && d.multiprocessors > 0, "device %d: no memory or SMs", i);
        printf("gpu %d: %s, sm_%d%d\n", i, d.name, d.major, d.minor);
    }
    CudaDeviceInfo d;
    CHECK(cuda_device_info(n, &d) == -1, "device %d does not exist", n);
#else
    SKIP("built without CUDA");
#endif
    return check_summary();
}
