// The CUDA backend's ops other than memory, the matrix products and attention, one file per
// concept. Each has exactly the signature of its Backend member (backend.h says what it
// computes); backend_cuda.cu puts them into the table. All run on the backend's stream, in
// call order, and return without waiting for the device.
#ifndef ARE_CUDA_OPS_H
#define ARE_CUDA_OPS_H

#include "backend.h"

// cuda_pointwise.cu: element by element, and the bias of a dense layer
void cuda_axpy(Backend *be, int n, float a, const float *x, float *y);
void cuda_add(Backend *be, int n, const float *a, const float *b, float *out);
void cuda_swiglu_forward(Backend *be, int n, const float *gate, const float *up, float *h);
void cuda_swiglu_forward16(Backend *be, int n, const float *gate, const float *up, float *h,
                           uint16_t *h16);
void cuda_swiglu_backward(Backend *be, int n, const float *gate, const float *up, const float *dh,
                          float *dgate, float *dup);
void cuda_relu_forward(Backend *be, int n, const float *x, float *out);
void cuda_relu_backward(Backend *be, int n, const float *out, const float *dout, float *dx);
void cuda_bias_forward(Backend *be, int n, int d, const float *bias, float *x);
void cuda_bias_backward(Backend *be, int n, int d, const float *dout, float *dbias);

// cuda_rows.cu: row copies and the embedding
void cuda_gather_rows(Backend *be, int n, int d, const int *rows, const float *src, int ld_src,
                      float *dst, int ld_dst);
void cuda_scatter_rows(Backend *be, int n, int d, const int *rows, const float *src, int ld_src,
                       float *dst, int ld_dst, bool accumulate);
void cuda_embedding_forward(Backend *be, int T, int d, const int *tokens, const float *table,
                            float *out);
void cuda_embedding_backward(Backend *be, int T, int d, const int *tokens, const float *dout,
                             float *dtable);

// cuda_rmsnorm.cu
void cuda_rmsnorm_forward(Backend *be, int T, int d, float eps, const float *x, const float *w,
                          float *out, float *rstd);
void cuda_rmsnorm_forward16(Backend *be, int T, int d, float eps, const float *x, const float *w,
                            float *out, uint16_t *out16, float *rstd);
void cuda_rmsnorm_backward(Backend *be, int T, int d, const float *dout, const float *x,
                           const float *w, const float *rstd, float *dx, float *dw);

// cuda_rope.cu
void cuda_rope_forward(Backend *be, int T, int H, int hd, float theta, const int *pos, float *x);
void cuda_rope_backward(Backend *be, int T, int H, int hd, float theta, const int *pos, float *dx);

// cuda_losses.cu
void cuda_cross_entropy(Backend *be, int T, int V, const float *logits, const int *targets,
                        float scale, float *loss, float *dlogits);
void cuda_kl_divergence(Backend *be, int n, int V, const float *ref_logits, const float *logits,
                        float scale, float *loss, float *dlogits);

// cuda_argmax.cu: greedy decoding
void cuda_argmax_rows(Backend *be, int n, int V, const float *x, int *out);

// cuda_adamw.cu
void cuda_adamw(Backend *be, size_t n, float lr, float beta1, float beta2, float eps,
                float weight_decay, int step, float *params, const float *grads, float *m,
                float *v);

// cuda_features.cu: feature standardisation of the discriminator
void cuda_feature_stats(Backend *be, int n, int d, const float *x, float min_std, float *mean,
                        float *inv_std);
void cuda_standardize_forward(Backend *be, int n, int d, const float *x, const float *mean,
                              const float *inv_std, float *out);
void cuda_standardize_backward(Backend *be, int n, int d, const float *dout, const float *inv_std,
                               float *dx);

#endif
