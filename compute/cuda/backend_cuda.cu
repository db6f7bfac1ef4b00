// The CUDA backend object: creation, the table of ops, memory, the matrix products on cuBLAS,
// and the 16-bit frozen matrices. The other ops live in one file per concept (cuda_ops.h),
// attention in cuda_attention.cu.
//
// One backend per process: backend_cuda_create selects its device with cudaSetDevice and no op
// selects it again, so every op must run on the thread that created the backend (or one that
// selected the same device). Each MPI rank creates one backend on its own GPU.
#include "backend_cuda.h"
#include "cuda_attention.h"
#include "cuda_backend.h"
#include "cuda_ops.h"
#include "cuda_reduce.cuh"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdarg.h>
#include <string.h>

// Frozen matrices are uploaded (and read back) through an fp32 staging buffer of at most this
// many floats (32 MiB), so a 7B-parameter model needs no staging buffer its size.
#define MATRIX_CHUNK ((size_t)8 << 20)

// Pinned host memory for small uploads (cuda_to_device): 4 MiB holds thousands of decoding
// steps' tokens and positions between two waits.
#define UPLOAD_RING_BYTES ((size_t)4 << 20)

// cuBLAS's workspace: the size its documentation recommends for Hopper (4 MiB elsewhere).
#define CUBLAS_WORKSPACE_BYTES ((size_t)32 << 20)

// --- memory --------------------------------------------------------------------------------------

static void *cuda_alloc(Backend *be, size_t bytes) {
    void *ptr = NULL;
    // cudaMalloc(0) gives NULL, which means failure here: a zero-byte request gets a byte.
    if (cudaMalloc(&ptr, bytes ? bytes : 1) != cudaSuccess) {
        cudaGetLastError(); // out of memory does not break the context: clear it for later checks
        return NULL;
    }
    if (bytes) CUDA_CHECK(cudaMemsetAsync(ptr, 0, bytes, cuda_stream(be)));
    return ptr;
}

// cudaFree waits for the device, so memory that queued work still uses is not freed under it.
static void cuda_free(Backend *be, void *ptr) {
    (void)be;
    if (ptr) CUDA_CHECK(cudaFree(ptr));
}

// The caller may reuse host_src as soon as this returns. An upload that fits the pinned ring
// is copied into the ring's next free bytes and queued from there, so it returns without
// waiting for the device (a decoding step's few small uploads then cost no stream drain each);
// the ring's bytes are reused only after a wrap has waited for every copy queued before it.
// Larger uploads (a model's tokens at the start of a trial) copy straight and wait.
static void cuda_to_device(Backend *be, void *dst, const void *host_src, size_t bytes) {
    if (!bytes) return;
    CudaBackend *cb = cuda_backend(be);
    if (!cb->upload_ring || bytes > UPLOAD_RING_BYTES) {
        CUDA_CHECK(cudaMemcpyAsync(dst, host_src, bytes, cudaMemcpyHostToDevice, cb->stream));
        CUDA_CHECK(cudaStreamSynchronize(cb->stream));
        return;
    }
    if (cb->upload_used + bytes > UPLOAD_RING_BYTES) {
        CUDA_CHECK(cudaStreamSynchronize(cb->stream)); // the queued copies have read the ring
        cb->upload_used = 0;
    }
    unsigned char *staged = cb->upload_ring + cb->upload_used;
    memcpy(staged, host_src, bytes);
    CUDA_CHECK(cudaMemcpyAsync(dst, staged, bytes, cudaMemcpyHostToDevice, cb->stream));
    cb->upload_used += (bytes + 255) / 256 * 256; // each upload 256-byte aligned in the ring
}

// Waits for every op queued before it, then for the copy. The ring's queued uploads are done
// then too.
static void cuda_to_host(Backend *be, void *host_dst, const void *src, size_t bytes) {
    if (!bytes) return;
    CUDA_CHECK(cudaMemcpyAsync(host_dst, src, bytes, cudaMemcpyDeviceToHost, cuda_stream(be)));
    CUDA_CHECK(cudaStreamSynchronize(cuda_stream(be)));
    cuda_backend(be)->upload_used = 0;
}

static void cuda_copy(Backend *be, void *dst, const void *src, size_t bytes) {
    if (!bytes) return;
    CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, cuda_stream(be)));
}

static void cuda_synchronize(Backend *be) {
    CUDA_CHECK(cudaStreamSynchronize(cuda_stream(be)));
}

static void cuda_zero(Backend *be, void *dst, size_t bytes) {
    if (!bytes) return;
    CUDA_CHECK(cudaMemsetAsync(dst, 0, bytes, cuda_stream(be)));
}

// --- 16-bit frozen matrices ----------------------------------------------------------------------

template <typename Half> static __device__ Half round_to_half(float x);
template <> __device__ __nv_bfloat16 round_to_half<__nv_bfloat16>(float x) {
    return __float2bfloat16_rn(x);
}
template <> __device__ __half round_to_half<__half>(float x) {
    return __float2half_rn(x);
}

// dst [rows, cols] (contiguous) = src [rows, cols] (row stride ld) times *scale (1 when scale
// is NULL), rounded to nearest even. Columns over the threads of blockIdx.x, rows over
// blockIdx.y in steps of gridDim.y: no division per element.
template <typename Half>
static __global__ void round_kernel(size_t rows, int cols, const float *src, size_t ld,
                                    const float *scale, Half *dst) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= cols) return;
    float factor = scale ? *scale : 1.0f;
    for (size_t r = blockIdx.y; r < rows; r += gridDim.y)
        dst[r * cols + c] = round_to_half<Half>(src[r * ld + c] * factor);
}

// --- fp16 products, scaled -----------------------------------------------------------------------

// fp16 holds |x| < 65504 and flushes |x| < 2^-24 to zero: activations of large models exceed
// the one, gradients fall below the other. So an fp16 product scales its activation operand A
// by a power of two s first, which puts the largest |A| in [2^14, 2^15), and multiplies the
// product by alpha / s: both exact, so A keeps fp16's 11 significant bits wherever |A| is within
// 2^-28 of its largest. The scalars stay on the device (cuBLAS's device pointer mode): no
// product waits for the host. Blocks of the first pass, each the max over rows of A:
#define SCALE_BLOCKS  256
#define SCALE_THREADS 256

// partial[blockIdx.x] = the largest |A| over rows blockIdx.x, + gridDim.x, ... (NaN ignored).
static __global__ void __launch_bounds__(SCALE_THREADS)
    abs_max_kernel(int rows, int cols, const float *A, int ld, float *partial) {
    float largest = 0;
    for (int r = blockIdx.x; r < rows; r += gridDim.x)
        for (int c = threadIdx.x; c < cols; c += blockDim.x)
            largest = fmaxf(largest, fabsf(A[(size_t)r * ld + c]));
    largest = block_max(largest);
    if (threadIdx.x == 0) partial[blockIdx.x] = largest;
}

// scalars [3] = {s, alpha / s, beta} from the n partial maxima; s = 1 when A is all zeros or
// holds an infinity (which no scale brings into range).
static __global__ void __launch_bounds__(SCALE_THREADS)
    product_scale_kernel(int n, const float *partial, float alpha, float beta, float *scalars) {
    float largest = 0;
    for (int i = threadIdx.x; i < n; i += blockDim.x) largest = fmaxf(largest, partial[i]);
    largest = block_max(largest);
    if (threadIdx.x != 0) return;
    float s = 1;
    if (largest > 0 && largest <= 3.4028235e38f) {
        int e;
        frexpf(largest, &e); // largest in [2^(e-1), 2^e)
        int shift = 15 - e;  // within fp32's normal exponents
        s = ldexpf(1.0f, shift < -126 ? -126 : shift > 127 ? 127 : shift);
    }
    scalars[0] = s;
    scalars[1] = alpha / s;
    scalars[2] = beta;
}

// dst [n] = src [n] widened to fp32, exactly.
static __global__ void widen_kernel(size_t n, const __nv_bfloat16 *src, float *dst) {
    size_t i = thread_index();
    if (i < n) dst[i] = __bfloat162float(src[i]);
}

static __global__ void widen_kernel(size_t n, const __half *src, float *dst) {
    size_t i = thread_index();
    if (i < n) dst[i] = __half2float(src[i]);
}

// The frozen matrices' type for cuBLAS. With MATRIX_F32 the model keeps them in fp32 and never
// calls a 16-bit op: a call is a bug in the caller.
static cudaDataType matrix_data_type(Backend *be) {
    switch (be->matrix_type) {
    case MATRIX_BF16:
        return CUDA_R_16BF;
    case MATRIX_F16:
        return CUDA_R_16F;
    default:
        fprintf(stderr, "are: 16-bit matrix op on a CUDA backend with fp32 matrices\n");
        exit(3);
    }
}

// dst [rows, cols] (16-bit, contiguous) = src [rows, cols] (fp32, row stride ld) times *scale
// (device memory; NULL: 1), rounded.
static void round_to_matrix(Backend *be, size_t rows, int cols, const float *src, size_t ld,
                            const float *scale, void *dst) {
    dim3 grid(cuda_blocks((size_t)cols, ELEMENT_THREADS), rows < 65535 ? (unsigned)rows : 65535);
    if (matrix_data_type(be) == CUDA_R_16BF)
        round_kernel<<<grid, ELEMENT_THREADS, 0, cuda_stream(be)>>>(rows, cols, src, ld, scale,
                                                                    (__nv_bfloat16 *)dst);
    else
        round_kernel<<<grid, ELEMENT_THREADS, 0, cuda_stream(be)>>>(rows, cols, src, ld, scale,
                                                                    (__half *)dst);
    CUDA_LAUNCHED();
}

// host fp32 -> staging (a chunk at a time) -> rounded into dst. The staging buffer is reused
// for the next chunk only after the rounding kernel read it: both run in order on the stream.
static void cuda_matrix_to_device(Backend *be, uint16_t *dst, const float *host_src, size_t n) {
    if (!n) return;
    CudaBackend *cb = cuda_backend(be);
    size_t chunk = n < MATRIX_CHUNK ? n : MATRIX_CHUNK;
    cb->matrix_staging =
        (float *)scratch(be, cb->matrix_staging, &cb->matrix_staging_bytes, chunk * sizeof(float));
    for (size_t done = 0; done < n; done += chunk) {
        size_t count = n - done < chunk ? n - done : chunk;
        CUDA_CHECK(cudaMemcpyAsync(cb->matrix_staging, host_src + done, count * sizeof(float),
                                   cudaMemcpyHostToDevice, cb->stream));
        round_to_matrix(be, 1, (int)count, cb->matrix_staging, count, NULL, dst + done);
    }
    CUDA_CHECK(cudaStreamSynchronize(cb->stream)); // host_src is the caller's again
}

// dst -> widened into staging (a chunk at a time) -> host.
static void cuda_matrix_to_host(Backend *be, float *host_dst, const uint16_t *src, size_t n) {
    if (!n) return;
    CudaBackend *cb = cuda_backend(be);
    size_t chunk = n < MATRIX_CHUNK ? n : MATRIX_CHUNK;
    cb->matrix_staging =
        (float *)scratch(be, cb->matrix_staging, &cb->matrix_staging_bytes, chunk * sizeof(float));
    bool bf16 = matrix_data_type(be) == CUDA_R_16BF;
    for (size_t done = 0; done < n; done += chunk) {
        size_t count = n - done < chunk ? n - done : chunk;
        unsigned blocks = cuda_blocks(count, ELEMENT_THREADS);
        if (bf16)
            widen_kernel<<<blocks, ELEMENT_THREADS, 0, cb->stream>>>(
                count, (const __nv_bfloat16 *)(src + done), cb->matrix_staging);
        else
            widen_kernel<<<blocks, ELEMENT_THREADS, 0, cb->stream>>>(
                count, (const __half *)(src + done), cb->matrix_staging);
        CUDA_LAUNCHED();
        CUDA_CHECK(cudaMemcpyAsync(host_dst + done, cb->matrix_staging, count * sizeof(float),
                                   cudaMemcpyDeviceToHost, cb->stream));
    }
    CUDA_CHECK(cudaStreamSynchronize(cb->stream));
}

// --- matrix products -----------------------------------------------------------------------------

// C [M,N] (row stride ldc) = beta * C, with BLAS's rule that beta == 0 writes zeros whatever C
// held (NaN included): the product of an empty sum (K == 0).
static __global__ void scale_kernel(int M, int N, float beta, float *C, int ldc) {
    size_t idx = thread_index();
    if (idx >= (size_t)M * N) return;
    float *c = C + idx / N * ldc + idx % N;
    *c = beta == 0 ? 0 : beta * *c;
}

static void scale(Backend *be, int M, int N, float beta, float *C, int ldc) {
    size_t count = (size_t)M * N;
    scale_kernel<<<cuda_blocks(count, ELEMENT_THREADS), ELEMENT_THREADS, 0, cuda_stream(be)>>>(
        M, N, beta, C, ldc);
    CUDA_LAUNCHED();
}

static cublasOperation_t op(bool trans) {
    return trans ? CUBLAS_OP_T : CUBLAS_OP_N;
}

// cuBLAS is column-major, and a row-major matrix read column-major is its transpose. So the
// row-major C = op(A) op(B) is computed as the column-major C^T = op(B)^T op(A)^T: the operands
// swap places and keep their transpose flags and strides.
static void cuda_gemm(Backend *be, bool trans_a, bool trans_b, int M, int N, int K, float alpha,
                      const float *A, int lda, const float *B, int ldb, float beta, float *C,
                      int ldc) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) { // an empty sum: C = beta * C
        scale(be, M, N, beta, C, ldc);
        return;
    }
    CUBLAS_CHECK(cublasSgemm(cuda_backend(be)->cublas, op(trans_b), op(trans_a), N, M, K, &alpha, B,
                             ldb, A, lda, &beta, C, ldc));
}

// C [M,N] = alpha * A [M,K] op(W) + beta * C with W 16-bit: A is rounded to W's type into a
// contiguous scratch copy (cuBLAS multiplies two operands of one type; fp16 scaled first, see
// product_scale_kernel), or read as A16 [M,K] where the op that made A rounded it already (bf16
// only: activations16), then the product runs on the tensor cores with fp32 accumulation,
// mapped to column-major as in cuda_gemm.
static void matrix_product(Backend *be, bool trans_w, int M, int N, int K, float alpha,
                           const float *A, const uint16_t *A16, int lda, const uint16_t *W, int ldw,
                           float beta, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) { // an empty sum: C = beta * C
        scale(be, M, N, beta, C, ldc);
        return;
    }
    CudaBackend *cb = cuda_backend(be);
    cudaDataType type = matrix_data_type(be);
    if (type == CUDA_R_16BF) { // bf16 has fp32's range: rounded as it is
        if (!A16 || !be->activations16) {
            cb->half_scratch = scratch(be, cb->half_scratch, &cb->half_scratch_bytes,
                                       (size_t)M * K * sizeof(uint16_t));
            round_to_matrix(be, M, K, A, lda, NULL, cb->half_scratch); // A16 [M,K], row stride K
            A16 = (const uint16_t *)cb->half_scratch;
        }
        CUBLAS_CHECK(cublasGemmEx(cb->cublas, op(trans_w), CUBLAS_OP_N, N, M, K, &alpha, W, type,
                                  ldw, A16, type, K, &beta, C, CUDA_R_32F, ldc, CUBLAS_COMPUTE_32F,
                                  CUBLAS_GEMM_DEFAULT));
        return;
    }
    cb->half_scratch =
        scratch(be, cb->half_scratch, &cb->half_scratch_bytes, (size_t)M * K * sizeof(uint16_t));
    float *partial = cb->fp16_scale, *scalars = cb->fp16_scale + SCALE_BLOCKS;
    int blocks = M < SCALE_BLOCKS ? M : SCALE_BLOCKS;
    abs_max_kernel<<<blocks, SCALE_THREADS, 0, cb->stream>>>(M, K, A, lda, partial);
    CUDA_LAUNCHED();
    product_scale_kernel<<<1, SCALE_THREADS, 0, cb->stream>>>(blocks, partial, alpha, beta,
                                                              scalars);
    CUDA_LAUNCHED();
    round_to_matrix(be, M, K, A, lda, &scalars[0], cb->half_scratch);
    CUBLAS_CHECK(cublasSetPointerMode(cb->cublas, CUBLAS_POINTER_MODE_DEVICE));
    CUBLAS_CHECK(cublasGemmEx(cb->cublas, op(trans_w), CUBLAS_OP_N, N, M, K, &scalars[1], W, type,
                              ldw, cb->half_scratch, type, K, &scalars[2], C, CUDA_R_32F, ldc,
                              CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    CUBLAS_CHECK(cublasSetPointerMode(cb->cublas, CUBLAS_POINTER_MODE_HOST));
}

static void cuda_gemm_matrix(Backend *be, bool trans_w, int M, int N, int K, float alpha,
                             const float *A, int lda, const uint16_t *W, int ldw, float beta,
                             float *C, int ldc) {
    matrix_product(be, trans_w, M, N, K, alpha, A, NULL, lda, W, ldw, beta, C, ldc);
}

// --- fused products ------------------------------------------------------------------------------

// Up to this many rows, gemm_matrix_parts runs one product over all its parts and splits its
// output. A decoding step's few rows make each product a thin pass over its weights whose N
// columns give cuBLAS few tiles to spread over the SMs (k and v of a grouped-query model: 256
// columns, two tiles), so one wide product fills the GPU where two or three narrow ones do not;
// the split's 8 bytes per output value are 4 M / K of the 2 K bytes of weights per output
// column (12% at M = 128, K = 4096; 100 answers decode at M = 100). A larger batch (prefill,
// training) runs each part as its own product: each fills the GPU already, and the split's
// traffic grows with M. 128 is a judgment from these counts, for the first GPU run to measure.
#define FUSED_MAX_ROWS 128

// Where the parts' outputs go: part p takes columns offset[p] .. offset[p+1]-1 of the fused
// product. Passed by value (kernel parameters): no upload.
typedef struct {
    int offset[MATRIX_PARTS + 1];
    float *C[MATRIX_PARTS];
} PartOutputs;

// C_p [M, N_p] = fused [M, total] columns of part p (+ beta * C_p): one thread per column of
// the fused row, rows over blockIdx.y in steps of gridDim.y. The sum's order matches cuBLAS's
// beta * C + alpha * A B with alpha 1, so a split product equals a direct one.
static __global__ void split_parts_kernel(int M, int total, const float *fused, PartOutputs parts,
                                          float beta) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= total) return;
    int p = 0;
    while (c >= parts.offset[p + 1]) p++;
    int width = parts.offset[p + 1] - parts.offset[p];
    for (int r = blockIdx.y; r < M; r += gridDim.y) {
        float v = fused[(size_t)r * total + c];
        float *out = parts.C[p] + (size_t)r * width + (c - parts.offset[p]);
        *out = beta == 0 ? v : beta * *out + v;
    }
}

static void cuda_gemm_matrix_parts(Backend *be, int M, int K, const float *A, const uint16_t *A16,
                                   const uint16_t *W, int n_parts, const int *N, float *const *C,
                                   float beta) {
    if (M <= 0 || n_parts <= 0) return;
    if (n_parts > MATRIX_PARTS) {
        fprintf(stderr, "are: gemm_matrix_parts with %d parts, at most %d\n", n_parts,
                MATRIX_PARTS);
        exit(3);
    }
    PartOutputs parts = {{0}, {NULL}};
    for (int p = 0; p < n_parts; p++) {
        parts.offset[p + 1] = parts.offset[p] + N[p];
        parts.C[p] = C[p];
    }
    int total = parts.offset[n_parts];
    if (n_parts == 1 || M > FUSED_MAX_ROWS || K <= 0 || total <= 0) {
        for (int p = 0; p < n_parts; p++)
            matrix_product(be, true, M, N[p], K, 1.0f, A, A16, K, W + (size_t)parts.offset[p] * K,
                           K, beta, C[p], N[p]);
        return;
    }
    CudaBackend *cb = cuda_backend(be);
    cb->fused_scratch = (float *)scratch(be, cb->fused_scratch, &cb->fused_scratch_bytes,
                                         (size_t)M * total * sizeof(float));
    matrix_product(be, true, M, total, K, 1.0f, A, A16, K, W, K, 0.0f, cb->fused_scratch, total);
    dim3 grid(cuda_blocks((size_t)total, ELEMENT_THREADS), (unsigned)M); // M <= FUSED_MAX_ROWS
    split_parts_kernel<<<grid, ELEMENT_THREADS, 0, cb->stream>>>(M, total, cb->fused_scratch, parts,
                                                                 beta);
    CUDA_LAUNCHED();
}

// The 16-bit copy of an activation operand, and the fused output of up to FUSED_MAX_ROWS rows.
static void cuda_reserve_matrix_scratch(Backend *be, int rows, int width_in, int width_out) {
    CudaBackend *cb = cuda_backend(be);
    if (rows <= 0) return;
    size_t fused_rows = rows < FUSED_MAX_ROWS ? (size_t)rows : FUSED_MAX_ROWS;
    cb->half_scratch = scratch(be, cb->half_scratch, &cb->half_scratch_bytes,
                               (size_t)rows * (size_t)width_in * sizeof(uint16_t));
    cb->fused_scratch = (float *)scratch(be, cb->fused_scratch, &cb->fused_scratch_bytes,
                                         fused_rows * (size_t)width_out * sizeof(float));
}

// --- recorded steps (CUDA graphs) ----------------------------------------------------------------

typedef struct {
    cudaGraphExec_t exec;
    unsigned long long scratch_epoch; // the scratch it uses, by CudaBackend.scratch_epoch
} Recording;

static void cuda_begin_recording(Backend *be) {
    CUDA_CHECK(cudaStreamBeginCapture(cuda_stream(be), cudaStreamCaptureModeGlobal));
}

// A capture the device refused (a driver that cannot capture an op) turns recording off for
// the backend: the run goes on without graphs, one launch per op.
static void *recording_refused(Backend *be, const char *what, cudaError_t rc) {
    cudaGetLastError();
    fprintf(stderr, "are: CUDA graphs off: %s: %s\n", what, cudaGetErrorString(rc));
    be->begin_recording = NULL;
    return NULL;
}

static void *cuda_end_recording(Backend *be) {
    CudaBackend *cb = cuda_backend(be);
    cudaGraph_t graph = NULL;
    cudaError_t rc = cudaStreamEndCapture(cb->stream, &graph);
    if (rc != cudaSuccess) return recording_refused(be, "stream capture", rc);
    cudaGraphExec_t exec = NULL;
    rc = cudaGraphInstantiateWithFlags(&exec, graph, 0);
    CUDA_CHECK(cudaGraphDestroy(graph));
    if (rc != cudaSuccess) return recording_refused(be, "graph instantiation", rc);
    Recording *recording = (Recording *)malloc(sizeof *recording);
    if (!recording) {
        CUDA_CHECK(cudaGraphExecDestroy(exec));
        fprintf(stderr, "are: out of host memory\n");
        exit(3);
    }
    recording->exec = exec;
    recording->scratch_epoch = cb->scratch_epoch;
    return recording;
}

static bool cuda_run_recording(Backend *be, void *recording) {
    Recording *r = (Recording *)recording;
    if (r->scratch_epoch != cuda_backend(be)->scratch_epoch) return false;
    CUDA_CHECK(cudaGraphLaunch(r->exec, cuda_stream(be)));
    return true;
}

static void cuda_free_recording(Backend *be, void *recording) {
    (void)be;
    if (!recording) return;
    CUDA_CHECK(cudaGraphExecDestroy(((Recording *)recording)->exec));
    free(recording);
}

// --- the backend ---------------------------------------------------------------------------------

static void cuda_destroy(Backend *be) {
    CudaBackend *cb = cuda_backend(be);
    CUDA_CHECK(cudaStreamSynchronize(cb->stream));
    CUDA_CHECK(cudaFree(cb->half_scratch));
    CUDA_CHECK(cudaFree(cb->fused_scratch));
    CUDA_CHECK(cudaFree(cb->matrix_staging));
    CUDA_CHECK(cudaFree(cb->fp16_scale));
    CUDA_CHECK(cudaFree(cb->attention_scratch));
    CUDA_CHECK(cudaFreeHost(cb->upload_ring));
    CUBLAS_CHECK(cublasDestroy(cb->cublas));
    CUDA_CHECK(cudaFree(cb->cublas_workspace));
    CUDA_CHECK(cudaStreamDestroy(cb->stream));
    free(cb);
}

// snprintf into err (when there is one), then NULL: create's failures report and return in one
// statement.
static Backend *create_failed(char *err, size_t err_len, const char *fmt, ...) {
    if (err && err_len) {
        va_list args;
        va_start(args, fmt);
        vsnprintf(err, err_len, fmt, args);
        va_end(args);
    }
    return NULL;
}

// Every Backend member: the table a CudaBackend answers with.
static void set_ops(Backend *be) {
    be->name = "cuda";
    be->threads = 1;
    be->alloc = cuda_alloc;
    be->free = cuda_free;
    be->to_device = cuda_to_device;
    be->to_host = cuda_to_host;
    be->copy = cuda_copy;
    be->zero = cuda_zero;
    be->synchronize = cuda_synchronize;
    be->destroy = cuda_destroy;
    be->matrix_to_device = cuda_matrix_to_device;
    be->matrix_to_host = cuda_matrix_to_host;
    be->reserve_matrix_scratch = cuda_reserve_matrix_scratch;
    be->gemm = cuda_gemm;
    be->gemm_matrix = cuda_gemm_matrix;
    be->gemm_matrix_parts = cuda_gemm_matrix_parts;
    be->axpy = cuda_axpy;
    be->add = cuda_add;
    be->gather_rows = cuda_gather_rows;
    be->scatter_rows = cuda_scatter_rows;
    be->embedding_forward = cuda_embedding_forward;
    be->embedding_backward = cuda_embedding_backward;
    be->rmsnorm_forward = cuda_rmsnorm_forward;
    be->rmsnorm_forward16 = cuda_rmsnorm_forward16;
    be->rmsnorm_backward = cuda_rmsnorm_backward;
    be->rope_forward = cuda_rope_forward;
    be->rope_backward = cuda_rope_backward;
    be->attention_forward = cuda_attention_forward;
    be->attention_backward = cuda_attention_backward;
    be->attention_cached = cuda_attention_cached;
    be->swiglu_forward = cuda_swiglu_forward;
    be->swiglu_forward16 = cuda_swiglu_forward16;
    be->swiglu_backward = cuda_swiglu_backward;
    be->cross_entropy = cuda_cross_entropy;
    be->argmax_rows = cuda_argmax_rows;
    be->begin_recording = cuda_begin_recording;
    be->end_recording = cuda_end_recording;
    be->run_recording = cuda_run_recording;
    be->free_recording = cuda_free_recording;
    be->adamw = cuda_adamw;
    be->bias_forward = cuda_bias_forward;
    be->bias_backward = cuda_bias_backward;
    be->relu_forward = cuda_relu_forward;
    be->relu_backward = cuda_relu_backward;
    be->feature_stats = cuda_feature_stats;
    be->standardize_forward = cuda_standardize_forward;
    be->standardize_backward = cuda_standardize_backward;
    be->kl_divergence = cuda_kl_divergence;
}

Backend *backend_cuda_create(int device, MatrixType matrix_type, char *err, size_t err_len) {
    int count = 0;
    cudaError_t rc = cudaGetDeviceCount(&count);
    if (rc != cudaSuccess) {
        cudaGetLastError();
        return create_failed(err, err_len, "no CUDA device: %s", cudaGetErrorString(rc));
    }
    if (device < 0 || device >= count)
        return create_failed(err, err_len, "CUDA device %d does not exist (%d device%s: 0..%d)",
                             device, count, count == 1 ? "" : "s", count - 1);
    if (matrix_type != MATRIX_F32 && matrix_type != MATRIX_BF16 && matrix_type != MATRIX_F16)
        return create_failed(err, err_len, "unknown matrix type %d", (int)matrix_type);
    if ((rc = cudaSetDevice(device)) != cudaSuccess) {
        cudaGetLastError();
        return create_failed(err, err_len, "CUDA device %d: %s", device, cudaGetErrorString(rc));
    }

    CudaBackend *cb = (CudaBackend *)calloc(1, sizeof *cb);
    if (!cb) return create_failed(err, err_len, "out of host memory");
    cb->device = device;
    if ((rc = cudaStreamCreate(&cb->stream)) != cudaSuccess) {
        cudaGetLastError();
        free(cb);
        return create_failed(err, err_len, "CUDA device %d: cannot create a stream: %s", device,
                             cudaGetErrorString(rc));
    }
    cublasStatus_t status = cublasCreate(&cb->cublas);
    if (status == CUBLAS_STATUS_SUCCESS) status = cublasSetStream(cb->cublas, cb->stream);
    // No TF32 (nor any other reduced precision) in the fp32 products: they must match the CPU.
    if (status == CUBLAS_STATUS_SUCCESS)
        status = cublasSetMathMode(cb->cublas, CUBLAS_DEFAULT_MATH);
    if (status != CUBLAS_STATUS_SUCCESS) {
        if (cb->cublas) cublasDestroy(cb->cublas);
        cudaStreamDestroy(cb->stream);
        free(cb);
        return create_failed(err, err_len, "CUDA device %d: cuBLAS: %s", device,
                             cublasGetStatusString(status));
    }
    set_ops(&cb->base);
    cb->base.matrix_type = matrix_type;
    // bf16 rounds an activation by its value alone; fp16 products scale theirs first.
    cb->base.activations16 = matrix_type == MATRIX_BF16;
    // With 16-bit matrices the KV cache is bf16 too; fp32 matrices keep everything in fp32.
    if (matrix_type != MATRIX_F32) {
        cb->base.kv_store_bf16 = cuda_kv_store_bf16;
        cb->base.attention_cached_bf16 = cuda_attention_cached_bf16;
    }
    // Without pinned memory (a locked-memory limit) uploads copy straight and wait.
    if (cudaMallocHost(&cb->upload_ring, UPLOAD_RING_BYTES) != cudaSuccess) {
        cudaGetLastError();
        cb->upload_ring = NULL;
    }
    // fp16 products' partial maxima and scalars (product_scale_kernel), allocated once.
    if (matrix_type == MATRIX_F16 &&
        (rc = cudaMalloc(&cb->fp16_scale, (SCALE_BLOCKS + 3) * sizeof(float))) != cudaSuccess) {
        cudaGetLastError();
        cuda_destroy(&cb->base);
        return create_failed(err, err_len, "CUDA device %d: out of memory", device);
    }
    // cuBLAS's workspace, given rather than left to cuBLAS: a product captured into a CUDA graph
    // must find it allocated.
    if ((rc = cudaMalloc(&cb->cublas_workspace, CUBLAS_WORKSPACE_BYTES)) != cudaSuccess ||
        (status = cublasSetWorkspace(cb->cublas, cb->cublas_workspace, CUBLAS_WORKSPACE_BYTES)) !=
            CUBLAS_STATUS_SUCCESS) {
        cudaGetLastError();
        cuda_destroy(&cb->base);
        return create_failed(err, err_len, "CUDA device %d: %s", device,
                             rc != cudaSuccess ? "out of memory" : cublasGetStatusString(status));
    }
    return &cb->base;
}
