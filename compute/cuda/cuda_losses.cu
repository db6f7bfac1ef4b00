// The losses over logit rows: softmax cross-entropy (the language-model loss) and the KL
// divergence to a reference distribution (the retain loss). One block per row; the max and the
// sums are block reductions, the sums of exponentials in double as on the CPU.
#include "cuda_backend.h"
#include "cuda_ops.h"
#include "cuda_reduce.cuh"

// Threads per row: vocabularies run from 32k to 128k+ logits.
#define LOSS_THREADS 512

// --- softmax cross-entropy -----------------------------------------------------------------------

// Row t of logits, dlogits [T,V]: loss[t] = logsumexp(row) - row[target],
// drow = scale * (softmax(row) - onehot(target)); zeros for an ignored row (target < 0).
static __global__ void __launch_bounds__(LOSS_THREADS)
    cross_entropy_kernel(int V, const float *logits, const int *targets, float scale, float *loss,
                         float *dlogits) {
    size_t t = blockIdx.x;
    const float *row = logits + t * V;
    float *drow = dlogits ? dlogits + t * V : NULL;
    int target = targets[t]; // the same for the whole block, so are the branches on it
    if (target < 0) {
        if (threadIdx.x == 0) loss[t] = 0;
        if (drow)
            for (int i = threadIdx.x; i < V; i += blockDim.x) drow[i] = 0;
        return;
    }
    // drow may alias row: every thread reads the target's logit before the barriers in
    // block_max, and the writes start after them, each thread to the slots it alone reads.
    float target_logit = row[target], max = -INFINITY;
    for (int i = threadIdx.x; i < V; i += blockDim.x) max = fmaxf(max, row[i]);
    max = block_max(max);
    double sum = 0; // of V terms in (0, 1]: double keeps the log exact to fp32
    for (int i = threadIdx.x; i < V; i += blockDim.x) {
        float e = expf(row[i] - max);
        if (drow) drow[i] = e;
        sum += e;
    }
    sum = block_sum(sum);
    if (threadIdx.x == 0) loss[t] = (float)(max + log(sum) - target_logit);
    if (!drow) return;
    float inv_sum = (float)(1.0 / sum);
    for (int i = threadIdx.x; i < V; i += blockDim.x)
        drow[i] = scale * (drow[i] * inv_sum - (i == target));
}

void cuda_cross_entropy(Backend *be, int T, int V, const float *logits, const int *targets,
                        float scale, float *loss, float *dlogits) {
    if (T <= 0) return;
    cross_entropy_kernel<<<T, LOSS_THREADS, 0, cuda_stream(be)>>>(V, logits, targets, scale, loss,
                                                                  dlogits);
    CUDA_LAUNCHED();
}

// --- KL divergence to a reference distribution ---------------------------------------------------

// log(sum(exp(row))) over V logits, the sum in double as in the cross-entropy. Called by the
// whole block; every thread gets the result.
static __device__ double log_sum_exp(const float *row, int V) {
    float max = -INFINITY;
    for (int i = threadIdx.x; i < V; i += blockDim.x) max = fmaxf(max, row[i]);
    max = block_max(max);
    double sum = 0;
    for (int i = threadIdx.x; i < V; i += blockDim.x) sum += expf(row[i] - max);
    return max + log(block_sum(sum));
}

// Row r: p = softmax(ref), q = softmax(row); loss[r] = sum_v p_v (log p_v - log q_v),
// drow = scale * (q - p), in double from the log-probabilities so that a p too small for fp32
// still counts through its log.
static __global__ void __launch_bounds__(LOSS_THREADS)
    kl_divergence_kernel(int V, const float *ref_logits, const float *logits, float scale,
                         float *loss, float *dlogits) {
    size_t r = blockIdx.x;
    const float *ref = ref_logits + r * V, *row = logits + r * V;
    float *drow = dlogits ? dlogits + r * V : NULL;
    double ref_lse = log_sum_exp(ref, V), lse = log_sum_exp(row, V), kl = 0;
    // drow may alias row: the reads for lse ended at the barriers in log_sum_exp, and from here
    // each thread reads and writes only its own slots.
    for (int i = threadIdx.x; i < V; i += blockDim.x) {
        double log_p = ref[i] - ref_lse, log_q = row[i] - lse, p = exp(log_p);
        kl += p * (log_p - log_q);
        if (drow) drow[i] = scale * (float)(exp(log_q) - p);
    }
    kl = block_sum(kl);
    if (threadIdx.x == 0) loss[r] = (float)kl;
}

void cuda_kl_divergence(Backend *be, int n, int V, const float *ref_logits, const float *logits,
                        float scale, float *loss, float *dlogits) {
    if (n <= 0) return;
    kl_divergence_kernel<<<n, LOSS_THREADS, 0, cuda_stream(be)>>>(V, ref_logits, logits, scale,
                                                                  loss, dlogits);
    CUDA_LAUNCHED();
}
