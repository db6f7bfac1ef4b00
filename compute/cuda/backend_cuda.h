// The CUDA backend: every op of backend.h on one GPU, matrix products on cuBLAS with fp32
// accumulation, the rest in kernels; activations, gradients, LoRA, discriminator and optimiser
// state in fp32, frozen base matrices in fp32, bf16 or fp16 (matrix_type).
#ifndef ARE_BACKEND_CUDA_H
#define ARE_BACKEND_CUDA_H

#include "backend.h"

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

// A backend on CUDA device `device` (0-based) whose frozen matrices are stored as
// matrix_type. Returns NULL with the reason in err (no such device, no driver, out of memory).
// Every op runs in order on one stream of its own; to_host waits for it.
Backend *backend_cuda_create(int device, MatrixType matrix_type, char *err, size_t err_len);

#ifdef __cplusplus
}
#endif

#endif
