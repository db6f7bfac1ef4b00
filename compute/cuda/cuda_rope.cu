// Rotary embedding, Hugging Face's rotate-half convention: forward and its transpose.
#include "cuda_backend.h"
#include "cuda_ops.h"
#include "cuda_reduce.cuh"

#include <assert.h>

// x [T, H, hd]: one thread per (token t, pair i < hd/2) rotates pair (i, i + hd/2) of every head
// by angle = direction * pos[t] * theta^(-2i/hd).
//
// The inverse frequency and the angle are rounded to fp32 as Hugging Face (and the CPU
// reference) compute them, but pow, cos and sin run in double and are then rounded: that gives
// the correctly rounded fp32 value, as glibc's powf, cosf and sinf do (within half an ulp),
// while CUDA's fp32 versions are off by up to 2 ulp, and a 1-ulp error in inv_freq moves the
// angle of a token thousands of positions in by far more than an ulp of its cosine.
static __global__ void rope_kernel(int T, int H, int hd, float theta, const int *pos, float *x,
                                   float direction) {
    int half = hd / 2;
    size_t idx = thread_index();
    if (idx >= (size_t)T * half) return;
    size_t t = idx / half;
    int i = (int)(idx % half);
    float inv_freq = 1.0f / (float)pow((double)theta, (double)((float)(2 * i) / (float)hd));
    float angle = (float)pos[t] * inv_freq;
    float c = (float)cos((double)angle), s = direction * (float)sin((double)angle);
    float *xt = x + t * H * hd;
    for (int h = 0; h < H; h++) {
        float *xh = xt + (size_t)h * hd;
        float a = xh[i], b = xh[i + half];
        xh[i] = a * c - b * s;
        xh[i + half] = b * c + a * s;
    }
}

static void rope(Backend *be, int T, int H, int hd, float theta, const int *pos, float *x,
                 float direction) {
    assert(hd % 2 == 0);
    size_t pairs = (size_t)T * (hd / 2);
    if (pairs == 0 || H <= 0) return;
    rope_kernel<<<cuda_blocks(pairs, ELEMENT_THREADS), ELEMENT_THREADS, 0, cuda_stream(be)>>>(
        T, H, hd, theta, pos, x, direction);
    CUDA_LAUNCHED();
}

void cuda_rope_forward(Backend *be, int T, int H, int hd, float theta, const int *pos, float *x) {
    rope(be, T, H, hd, theta, pos, x, 1.0f);
}

// A rotation's transpose is the rotation by the opposite angle.
void cuda_rope_backward(Backend *be, int T, int H, int hd, float theta, const int *pos, float *dx) {
    rope(be, T, H, hd, theta, pos, dx, -1.0f);
}
