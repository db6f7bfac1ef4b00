// AdamW, PyTorch's update rule (torch.optim.AdamW, amsgrad off), one thread per parameter.
#include "cuda_backend.h"
#include "cuda_ops.h"
#include "cuda_reduce.cuh"

#include <assert.h>
#include <math.h>

// p -= lr*wd*p; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
// p -= step_size * m / (sqrt(v) / bias_correction2_sqrt + eps), in the CPU reference's order.
static __global__ void adamw_kernel(size_t n, float lr, float beta1, float beta2, float eps,
                                    float weight_decay, float step_size,
                                    float bias_correction2_sqrt, float *params, const float *grads,
                                    float *m, float *v) {
    size_t i = thread_index();
    if (i >= n) return;
    float g = grads[i], p = params[i];
    p -= lr * weight_decay * p;
    float mi = beta1 * m[i] + (1.0f - beta1) * g;
    float vi = beta2 * v[i] + (1.0f - beta2) * g * g;
    m[i] = mi;
    v[i] = vi;
    params[i] = p - step_size * mi / (sqrtf(vi) / bias_correction2_sqrt + eps);
}

void cuda_adamw(Backend *be, size_t n, float lr, float beta1, float beta2, float eps,
                float weight_decay, int step, float *params, const float *grads, float *m,
                float *v) {
    assert(step >= 1);
    if (n == 0) return;
    // The bias corrections on the host in double, exactly as the CPU reference computes them.
    float step_size = (float)(lr / (1.0 - pow(beta1, step)));
    float bias_correction2_sqrt = (float)sqrt(1.0 - pow(beta2, step));
    adamw_kernel<<<cuda_blocks(n, ELEMENT_THREADS), ELEMENT_THREADS, 0, cuda_stream(be)>>>(
        n, lr, beta1, beta2, eps, weight_decay, step_size, bias_correction2_sqrt, params, grads, m,
        v);
    CUDA_LAUNCHED();
}
