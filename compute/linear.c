#include "linear.h"

void linear_forward(Backend *be, const Linear *lin, int T, const float *x, float *ax, float *y,
                    bool accumulate) {
    // y [T,out] (+)= x [T,in] W^T
    float beta = accumulate ? 1.0f : 0.0f;
    if (lin->W16)
        be->gemm_matrix(be, true, T, lin->out, lin->in, 1.0f, x, lin->in, lin->W16, lin->in, beta,
                        y, lin->out);
    else
        be->gemm(be, false, true, T, lin->out, lin->in, 1.0f, x, lin->in, lin->W, lin->in, beta, y,
                 lin->out);
    linear_lora_forward(be, lin, T, x, ax, y);
}

void linear_lora_forward(Backend *be, const Linear *lin, int T, const float *x, float *ax,
                         float *y) {
    if (!lin->A) return;
    // ax [T,r] = x A^T;  y += scale * ax B^T
    be->gemm(be, false, true, T, lin->rank, lin->in, 1.0f, x, lin->in, lin->A, lin->in, 0.0f, ax,
             lin->rank);
    be->gemm(be, false, true, T, lin->out, lin->rank, lin->scale, ax, lin->rank, lin->B, lin->rank,
             1.0f, y, lin->out);
}

void linear_backward(Backend *be, const Linear *lin, int T, const float *x, const float *ax,
                     const float *dy, float *dax, float *dx, bool accumulate) {
    // dx [T,in] (+)= dy [T,out] W
    float beta = accumulate ? 1.0f : 0.0f;
    if (dx && lin->W16)
        be->gemm_matrix(be, false, T, lin->in, lin->out, 1.0f, dy, lin->out, lin->W16, lin->in,
                        beta, dx, lin->in);
    else if (dx)
        be->gemm(be, false, false, T, lin->in, lin->out, 1.0f, dy, lin->out, lin->W, lin->in, beta,
                 dx, lin->in);
    // dW [out,in] += dy^T x
    if (lin->dW)
        be->gemm(be, true, false, lin->out, lin->in, T, 1.0f, dy, lin->out, x, lin->in, 1.0f,
                 lin->dW, lin->in);
    if (!lin->A) return;
    // dB [out,r] += scale * dy^T ax;  dax [T,r] = scale * dy B
    be->gemm(be, true, false, lin->out, lin->rank, T, lin->scale, dy, lin->out, ax, lin->rank, 1.0f,
             lin->dB, lin->rank);
    be->gemm(be, false, false, T, lin->rank, lin->out, lin->scale, dy, lin->out, lin->B, lin->rank,
             0.0f, dax, lin->rank);
    // dA [r,in] += dax^T x;  dx += dax A
    be->gemm(be, true, false, lin->rank, lin->in, T, 1.0f, dax, lin->rank, x, lin->in, 1.0f,
             lin->dA, lin->in);
    if (dx)
        be->gemm(be, false, false, T, lin->in, lin->rank, 1.0f, dax, lin->rank, lin->A, lin->in,
                 1.0f, dx, lin->in);
}
