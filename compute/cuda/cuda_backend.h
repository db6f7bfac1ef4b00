// What the CUDA backend's source files share: the backend object behind a Backend pointer, its
// stream and cuBLAS handle, and how kernels are launched and checked. Internal to compute/cuda.
#ifndef ARE_CUDA_BACKEND_H
#define ARE_CUDA_BACKEND_H

#include "backend.h"

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct {
    Backend base; // first member: a Backend * from backend_cuda_create points at a CudaBackend
    int device;
    cudaStream_t stream; // every op runs on it, in call order
    cublasHandle_t cublas;
    void *cublas_workspace; // cuBLAS's, CUBLAS_WORKSPACE_BYTES (set, so graphs can hold products)
    // Scratch owned by the backend, grown (never shrunk) on first need and reused after: the
    // sizes a model asks for are fixed once its first step ran, so a training step allocates
    // nothing. 16-bit copies of gemm_matrix's activation operand; fp32 staging, one chunk at a
    // time, for the uploads and downloads of frozen matrices.
    void *half_scratch;
    size_t half_scratch_bytes;
    float *fused_scratch; // gemm_matrix_parts's fused output, [rows, N_0 + .. + N_p] fp32
    size_t fused_scratch_bytes;
    float *matrix_staging;
    size_t matrix_staging_bytes;
    // Counts the reallocations of the scratch above: a recording (CUDA graph) made at another
    // count would use freed memory.
    unsigned long long scratch_epoch;
    float *fp16_scale; // MATRIX_F16: the scaled products' partial maxima and scalars, else NULL
    void *attention_scratch; // the training attention's operands, windows and results
    size_t attention_scratch_bytes;
    // Pinned staging of small uploads (cuda_to_device); upload_used bytes of it may still be
    // read by queued copies. NULL when pinned memory could not be had.
    unsigned char *upload_ring;
    size_t upload_used;
} CudaBackend;

static inline CudaBackend *cuda_backend(Backend *be) {
    return (CudaBackend *)be;
}

static inline cudaStream_t cuda_stream(Backend *be) {
    return cuda_backend(be)->stream;
}

// A CUDA or cuBLAS failure inside an op has no caller that could recover (the ops return
// nothing, as on the CPU, and a failed kernel leaves the context unusable): say where and exit.
#define CUDA_CHECK(call)                                                                           \
    do {                                                                                           \
        cudaError_t cuda_check_rc = (call);                                                        \
        if (cuda_check_rc != cudaSuccess) {                                                        \
            fprintf(stderr, "are: CUDA error at %s:%d: %s\n", __FILE__, __LINE__,                  \
                    cudaGetErrorString(cuda_check_rc));                                            \
            exit(3);                                                                               \
        }                                                                                          \
    } while (0)

#define CUBLAS_CHECK(call)                                                                         \
    do {                                                                                           \
        cublasStatus_t cublas_check_rc = (call);                                                   \
        if (cublas_check_rc != CUBLAS_STATUS_SUCCESS) {                                            \
            fprintf(stderr, "are: cuBLAS error at %s:%d: %s\n", __FILE__, __LINE__,                \
                    cublasGetStatusString(cublas_check_rc));                                       \
            exit(3);                                                                               \
        }                                                                                          \
    } while (0)

// After a kernel launch: a bad launch configuration shows up here, not at the next sync.
#define CUDA_LAUNCHED() CUDA_CHECK(cudaGetLastError())

// A scratch buffer of at least `bytes`: `buffer` (capacity *capacity) itself, or a larger one
// replacing it. Scratch only grows, so once a model's first step has run nothing is allocated.
static inline void *scratch(Backend *be, void *buffer, size_t *capacity, size_t bytes) {
    if (bytes <= *capacity) return buffer;
    CUDA_CHECK(cudaStreamSynchronize(cuda_stream(be))); // queued work may still read the old one
    CUDA_CHECK(cudaFree(buffer));
    void *grown = NULL;
    CUDA_CHECK(cudaMalloc(&grown, bytes));
    *capacity = bytes;
    cuda_backend(be)->scratch_epoch++; // a recording made before now reads freed memory
    return grown;
}

// Threads per block of the element-wise and column-wise kernels.
#define ELEMENT_THREADS 256

// Blocks of `threads` to cover n items (n > 0: a launch of zero blocks is an error).
static inline unsigned cuda_blocks(size_t n, unsigned threads) {
    return (unsigned)((n + threads - 1) / threads);
}

#endif
