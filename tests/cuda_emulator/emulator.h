// A CPU emulation of the part of the CUDA runtime, of cuBLAS and of the 16-bit float types that
// compute/cuda uses, so that the CUDA backend's own kernels run where there is no GPU (CI).
// README.md beside this file says what a pass proves and what it cannot.
//
// rewrite_launches.py turns compute/cuda/*.cu into C++ that includes this header (as nvcc
// includes cuda_runtime.h implicitly) and launches kernels through cuda_emulator_launch; the
// fake cuda_runtime.h, cublas_v2.h, cuda_bf16.h and cuda_fp16.h beside it include it too.
// Device memory is host memory; a launch runs its blocks one after another, each block's
// threads as fibers that switch only at __syncthreads and warp shuffles. One host thread only.
#ifndef ARE_CUDA_EMULATOR_H
#define ARE_CUDA_EMULATOR_H

#include <functional>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#ifndef __cplusplus
#error "the CUDA emulator compiles the CUDA sources as C++"
#endif

// --- kernel code ---------------------------------------------------------------------------------

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
// Blocks run one at a time, so a static is each block's own __shared__ array (its values carry
// over from the previous block, where a GPU's would be undefined).
#define __shared__ static
#define __restrict__ __restrict
// A register budget for nvcc; the emulator's threads have no registers to budget.
#define __launch_bounds__(...)

struct uint3 {
    unsigned x, y, z;
};

struct dim3 {
    unsigned x, y, z;
    dim3(unsigned x = 1, unsigned y = 1, unsigned z = 1) : x(x), y(y), z(z) {}
};

namespace cuda_emulator {
extern uint3 thread_index, block_index;
extern dim3 block_dim, grid_dim;
} // namespace cuda_emulator

// Read-only for kernels, as on a GPU.
inline const uint3 &threadIdx = cuda_emulator::thread_index;
inline const uint3 &blockIdx = cuda_emulator::block_index;
inline const dim3 &blockDim = cuda_emulator::block_dim;
inline const dim3 &gridDim = cuda_emulator::grid_dim;

// A float's bits as an unsigned int (CUDA's reinterpretation intrinsic).
inline unsigned __float_as_uint(float x) {
    unsigned bits;
    memcpy(&bits, &x, sizeof bits);
    return bits;
}

// Waits until every thread of the block has called it. All threads must call it equally often:
// the emulator stops the program when one exits while others still wait, as a GPU may hang.
void __syncthreads(void);

// Ends the launch with cudaErrorLaunchFailure, which stays (sticky) for every later call.
[[noreturn]] void __trap(void);

namespace cuda_emulator {
// The block's dynamic shared memory (the launch's shared_bytes), NaN-filled for each block.
void *dynamic_shared_memory(void);
// Exchanges 64 bits with lane (this lane ^ lane_mask) of the warp; every lane must take part.
uint64_t shuffle_xor(unsigned mask, uint64_t bits, int lane_mask, int width);
} // namespace cuda_emulator

template <typename T> T __shfl_xor_sync(unsigned mask, T value, int lane_mask, int width = 32) {
    static_assert(sizeof(T) <= sizeof(uint64_t), "a shuffle moves at most 64 bits");
    uint64_t bits = 0;
    memcpy(&bits, &value, sizeof value);
    bits = cuda_emulator::shuffle_xor(mask, bits, lane_mask, width);
    memcpy(&value, &bits, sizeof value);
    return value;
}

// --- runtime -------------------------------------------------------------------------------------

typedef enum {
    cudaSuccess = 0,
    cudaErrorInvalidValue = 1,
    cudaErrorMemoryAllocation = 2,
    cudaErrorInvalidConfiguration = 9,
    cudaErrorNoDevice = 100,
    cudaErrorInvalidDevice = 101,
    cudaErrorLaunchFailure = 719,
    cudaErrorIllegalState = 401,             // stream capture and graphs
    cudaErrorStreamCaptureUnsupported = 900, // stream capture and graphs
    cudaErrorStreamCaptureInvalidated = 901, // stream capture and graphs
} cudaError_t;

typedef enum {
    cudaMemcpyHostToHost = 0,
    cudaMemcpyHostToDevice = 1,
    cudaMemcpyDeviceToHost = 2,
    cudaMemcpyDeviceToDevice = 3,
    cudaMemcpyDefault = 4,
} cudaMemcpyKind;

typedef struct CUstream_st *cudaStream_t;

typedef enum { cudaDevAttrMaxSharedMemoryPerBlockOptin = 97 } cudaDeviceAttr;
typedef enum { cudaFuncAttributeMaxDynamicSharedMemorySize = 8 } cudaFuncAttribute;

struct cudaDeviceProp {
    char name[256];
    size_t totalGlobalMem;
    int major, minor;
    int multiProcessorCount;
    size_t sharedMemPerBlockOptin;
};

typedef enum { CUDA_R_32F = 0, CUDA_R_16F = 2, CUDA_R_16BF = 14 } cudaDataType;

cudaError_t cudaGetDeviceCount(int *count);
cudaError_t cudaSetDevice(int device);
cudaError_t cudaGetDevice(int *device);
cudaError_t cudaGetDeviceProperties(cudaDeviceProp *prop, int device);
cudaError_t cudaDeviceGetAttribute(int *value, cudaDeviceAttr attr, int device);
cudaError_t cudaFuncSetAttribute(const void *kernel, cudaFuncAttribute attr, int value);
// The fields compute/cuda reads. sharedSizeBytes, the kernel's static __shared__ arrays, is 0
// here: they are host statics (see __shared__), whose sizes the emulator cannot see.
struct cudaFuncAttributes {
    size_t sharedSizeBytes;
    int maxDynamicSharedSizeBytes; // 48 KiB, or the cudaFuncSetAttribute opt-in
    int maxThreadsPerBlock;
};
cudaError_t cudaFuncGetAttributes(cudaFuncAttributes *attributes, const void *kernel);

cudaError_t cudaGetLastError(void);
cudaError_t cudaPeekAtLastError(void);
const char *cudaGetErrorString(cudaError_t error);

cudaError_t cudaMalloc(void **ptr, size_t bytes);
template <typename T> cudaError_t cudaMalloc(T **ptr, size_t bytes) {
    return cudaMalloc((void **)ptr, bytes);
}
cudaError_t cudaFree(void *ptr);
// Page-locked host memory: plain host memory here, tracked so that cudaFreeHost frees only it.
cudaError_t cudaMallocHost(void **ptr, size_t bytes);
template <typename T> cudaError_t cudaMallocHost(T **ptr, size_t bytes) {
    return cudaMallocHost((void **)ptr, bytes);
}
cudaError_t cudaFreeHost(void *ptr);
// Streams are synchronous here: every call has finished when it returns.
cudaError_t cudaMemcpy(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind);
cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind,
                            cudaStream_t stream = 0);
cudaError_t cudaMemset(void *dst, int value, size_t bytes);
cudaError_t cudaMemsetAsync(void *dst, int value, size_t bytes, cudaStream_t stream = 0);
cudaError_t cudaStreamCreate(cudaStream_t *stream);
cudaError_t cudaStreamDestroy(cudaStream_t stream);
cudaError_t cudaStreamSynchronize(cudaStream_t stream);
cudaError_t cudaDeviceSynchronize(void);

// --- launches ------------------------------------------------------------------------------------

namespace cuda_emulator {
// Runs thread(context) once for every thread of every block, threadIdx and blockIdx set. kernel
// identifies the kernel for cudaFuncSetAttribute's shared memory opt-in (NULL: launched without
// dynamic shared memory); name is for messages.
void launch(const char *name, const void *kernel, dim3 grid, dim3 block, size_t shared_bytes,
            cudaStream_t stream, void (*thread)(void *), void *context);
} // namespace cuda_emulator

// --- stream capture and graphs (CUDA graphs) ----------------------------------------------------
//
// Between cudaStreamBeginCapture and cudaStreamEndCapture the stream's kernel launches, async
// copies and memsets and cuBLAS products are recorded (a launch's configuration is checked then,
// as CUDA checks it; the rest when it runs) instead of run; cudaGraphLaunch runs them again
// in order, with the arguments they were recorded with (cuBLAS's host scalars as they were at
// capture, device ones as they are at replay). What a global-mode capture refuses (a
// synchronisation, cudaMalloc, cudaFree, a synchronous copy) returns
// cudaErrorStreamCaptureUnsupported and invalidates the capture, whose end then returns
// cudaErrorStreamCaptureInvalidated.

typedef struct CUgraph_st *cudaGraph_t;
typedef struct CUgraphExec_st *cudaGraphExec_t;
typedef enum {
    cudaStreamCaptureModeGlobal = 0,
    cudaStreamCaptureModeThreadLocal = 1,
    cudaStreamCaptureModeRelaxed = 2,
} cudaStreamCaptureMode;

cudaError_t cudaStreamBeginCapture(cudaStream_t stream, cudaStreamCaptureMode mode);
cudaError_t cudaStreamEndCapture(cudaStream_t stream, cudaGraph_t *graph);
cudaError_t cudaGraphInstantiate(cudaGraphExec_t *exec, cudaGraph_t graph,
                                 unsigned long long flags = 0);
cudaError_t cudaGraphInstantiateWithFlags(cudaGraphExec_t *exec, cudaGraph_t graph,
                                          unsigned long long flags = 0);
cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t stream);
cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec);
cudaError_t cudaGraphDestroy(cudaGraph_t graph);

namespace cuda_emulator {
bool capturing(); // a stream capture is open: record, do not run
// Appends op (named what, for messages) to the open capture; at replay it returns its error.
void record(const char *what, std::function<cudaError_t()> op);
void record_launch(const char *what, std::function<void()> launch); // a kernel launch
// The launch configuration checks of launch(), with their errors; true when it may run.
bool launch_valid(const char *name, const void *kernel, dim3 grid, dim3 block, size_t shared_bytes);
} // namespace cuda_emulator

// name<<<grid, block, shared_bytes, stream>>>(args) as rewrite_launches.py writes it: body is
// [=] { name(args); }, so the arguments are copied once at the launch, as CUDA copies them.
template <typename Body>
void cuda_emulator_launch(const char *name, const void *kernel, dim3 grid, dim3 block,
                          size_t shared_bytes, cudaStream_t stream, Body body) {
    if (cuda_emulator::capturing()) { // stream capture and graphs: recorded, run at replay
        if (!cuda_emulator::launch_valid(name, kernel, grid, block, shared_bytes)) return;
        cuda_emulator::record_launch(name, [=]() mutable {
            cuda_emulator::launch(
                name, kernel, grid, block, shared_bytes, stream,
                [](void *context) { (*static_cast<Body *>(context))(); }, &body);
        });
        return;
    }
    cuda_emulator::launch(
        name, kernel, grid, block, shared_bytes, stream,
        [](void *context) { (*static_cast<Body *>(context))(); }, &body);
}

// --- 16-bit floats -------------------------------------------------------------------------------

struct __nv_bfloat16 {
    uint16_t bits;
};
struct __half {
    uint16_t bits;
};

// Round to nearest even (subnormals and overflow to infinity included); NaN becomes 0x7fff.
__nv_bfloat16 __float2bfloat16_rn(float x);
__half __float2half_rn(float x);
// Exact.
float __bfloat162float(__nv_bfloat16 x);
float __half2float(__half x);

// --- cuBLAS --------------------------------------------------------------------------------------

typedef struct cublasContext *cublasHandle_t;

typedef enum {
    CUBLAS_STATUS_SUCCESS = 0,
    CUBLAS_STATUS_NOT_INITIALIZED = 1,
    CUBLAS_STATUS_INVALID_VALUE = 7,
    CUBLAS_STATUS_NOT_SUPPORTED = 15,
} cublasStatus_t;

typedef enum { CUBLAS_OP_N = 0, CUBLAS_OP_T = 1, CUBLAS_OP_C = 2 } cublasOperation_t;

typedef enum {
    CUBLAS_DEFAULT_MATH = 0,
    CUBLAS_TENSOR_OP_MATH = 1,
    CUBLAS_PEDANTIC_MATH = 2,
    CUBLAS_TF32_TENSOR_OP_MATH = 3,
} cublasMath_t;

typedef enum { CUBLAS_COMPUTE_32F = 68, CUBLAS_COMPUTE_32F_FAST_TF32 = 77 } cublasComputeType_t;
typedef enum { CUBLAS_POINTER_MODE_HOST = 0, CUBLAS_POINTER_MODE_DEVICE = 1 } cublasPointerMode_t;
typedef enum { CUBLAS_GEMM_DEFAULT = -1 } cublasGemmAlgo_t;

cublasStatus_t cublasCreate(cublasHandle_t *handle);
cublasStatus_t cublasDestroy(cublasHandle_t handle);
cublasStatus_t cublasSetStream(cublasHandle_t handle, cudaStream_t stream);
// Only the full-precision modes (default, pedantic): the emulator has no TF32.
cublasStatus_t cublasSetMathMode(cublasHandle_t handle, cublasMath_t mode);
const char *cublasGetStatusString(cublasStatus_t status);
// Where the products' alpha and beta live: host memory (the default) or device memory, which
// the products check.
cublasStatus_t cublasSetPointerMode(cublasHandle_t handle, cublasPointerMode_t mode);

// Column-major C = alpha op(A) op(B) + beta C, as cuBLAS; each element a sum in k order in fp32.
cublasStatus_t cublasSgemm(cublasHandle_t handle, cublasOperation_t transa,
                           cublasOperation_t transb, int m, int n, int k, const float *alpha,
                           const float *A, int lda, const float *B, int ldb, const float *beta,
                           float *C, int ldc);
// The same with A and B of one type (fp32, bf16 or fp16, widened exactly), C and the scalars
// fp32, computeType CUBLAS_COMPUTE_32F.
cublasStatus_t cublasGemmEx(cublasHandle_t handle, cublasOperation_t transa,
                            cublasOperation_t transb, int m, int n, int k, const void *alpha,
                            const void *A, cudaDataType Atype, int lda, const void *B,
                            cudaDataType Btype, int ldb, const void *beta, void *C,
                            cudaDataType Ctype, int ldc, cublasComputeType_t computeType,
                            cublasGemmAlgo_t algo);

// --- cuBLAS batched products (compute/cuda/cuda_attention.cu) ------------------------------------

// batchCount products as cublasGemmEx computes one, product i on A + i * strideA, B + i *
// strideB and C + i * strideC (strides in elements of each matrix's type), one after another.
// Products whose C overlap would race on a GPU: the emulator stops the program instead.
cublasStatus_t cublasGemmStridedBatchedEx(cublasHandle_t handle, cublasOperation_t transa,
                                          cublasOperation_t transb, int m, int n, int k,
                                          const void *alpha, const void *A, cudaDataType Atype,
                                          int lda, long long int strideA, const void *B,
                                          cudaDataType Btype, int ldb, long long int strideB,
                                          const void *beta, void *C, cudaDataType Ctype, int ldc,
                                          long long int strideC, int batchCount,
                                          cublasComputeType_t computeType, cublasGemmAlgo_t algo);

// --- stream capture and graphs: cuBLAS's workspace ------------------------------------------

// The workspace cuBLAS uses instead of allocating its own (which a graph capture would refuse):
// checked to lie inside one device allocation.
cublasStatus_t cublasSetWorkspace(cublasHandle_t handle, void *workspace, size_t bytes);

#endif
