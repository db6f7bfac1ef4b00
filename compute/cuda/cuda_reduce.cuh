// Deterministic reductions for the row-wise kernels, which give each row to one thread block.
// Each thread first folds its strided share of the row in index order; the block then combines
// the per-thread values in a fixed tree (warp butterflies, then one warp over the warp results).
// So a result depends only on the inputs and the block size, never on scheduling, and no
// reduction needs atomics. Every thread of the block must call them; all get the same bits.
#ifndef ARE_CUDA_REDUCE_CUH
#define ARE_CUDA_REDUCE_CUH

#include <math.h>

#define WARP_SIZE 32

struct ReduceSum {
    template <typename T> __device__ T operator()(T a, T b) const { return a + b; }
};

struct ReduceMax {
    // fmaxf ignores a NaN operand, as the CPU reference's fmaxf does.
    __device__ float operator()(float a, float b) const { return fmaxf(a, b); }
};

// Combines the 32 lanes of a warp. A butterfly: each step combines lanes i and i^m in both, and
// the combine is commutative, so every lane ends with the same bits.
template <typename T, typename Combine> __device__ inline T warp_reduce(T v, Combine combine) {
    for (int m = WARP_SIZE / 2; m > 0; m /= 2) v = combine(v, __shfl_xor_sync(0xffffffffu, v, m));
    return v;
}

// Combines v over the block; blockDim.x must be a multiple of 32 (at most 1024). identity pads
// the lanes past the last warp.
template <typename T, typename Combine>
__device__ inline T block_reduce(T v, Combine combine, T identity) {
    __shared__ T warp_results[WARP_SIZE];
    int warp = threadIdx.x / WARP_SIZE, lane = threadIdx.x % WARP_SIZE;
    v = warp_reduce(v, combine);
    __syncthreads(); // a previous call's readers are done with warp_results
    if (lane == 0) warp_results[warp] = v;
    __syncthreads();
    v = lane < (int)(blockDim.x / WARP_SIZE) ? warp_results[lane] : identity;
    return warp_reduce(v, combine);
}

template <typename T> __device__ inline T block_sum(T v) {
    return block_reduce(v, ReduceSum(), T(0));
}

__device__ inline float block_max(float v) {
    return block_reduce(v, ReduceMax(), -INFINITY);
}

// The global index of this thread in a one-dimensional grid, in size_t: n * d elements may
// exceed an int.
__device__ inline size_t thread_index() {
    return blockIdx.x * (size_t)blockDim.x + threadIdx.x;
}

#endif
