// Causal grouped-query attention on the CUDA backend: the attention_forward, attention_backward
// and attention_cached ops of backend.h. All pointers are device memory; every kernel runs on the
// backend's stream. Training runs batched products over tiles of the packed batch, on the tensor
// cores (bf16 operands) where the backend's matrices are 16-bit (cuda_attention.cu).
#ifndef ARE_CUDA_ATTENTION_H
#define ARE_CUDA_ATTENTION_H

#include "backend.h"

#ifdef __cplusplus
extern "C" {
#endif

void cuda_attention_forward(Backend *be, int T, int Hq, int Hkv, int hd, int max_len,
                            const int *pos, const float *q, const float *k, const float *v,
                            float *out, float *probs);
void cuda_attention_backward(Backend *be, int T, int Hq, int Hkv, int hd, int max_len,
                             const int *pos, const float *q, const float *k, const float *v,
                             const float *probs, const float *dout, float *dscores, float *dq,
                             float *dk, float *dv);
void cuda_attention_cached(Backend *be, int T, int Hq, int Hkv, int hd, int max_len,
                           const int *slot, const int *pos, const float *q, const float *k_cache,
                           const float *v_cache, float *out);
// The bf16 KV cache (backend.h: kv_store_bf16, attention_cached_bf16).
void cuda_kv_store_bf16(Backend *be, int n, int d, const int *rows, const float *src,
                        uint16_t *cache);
void cuda_attention_cached_bf16(Backend *be, int T, int Hq, int Hkv, int hd, int max_len,
                                const int *slot, const int *pos, const float *q,
                                const uint16_t *k_cache, const uint16_t *v_cache, float *out);

// The floating-point operations (2 per multiply-add) that the products of one attention_forward
// over T tokens execute: every query tile against its whole key window. attention_backward
// executes twice that. For the benchmark's expected times; the model's count of the causal
// pairs alone is llama_forward_flops's.
double cuda_attention_flops(int T, int Hq, int hd, int max_len);

#ifdef __cplusplus
}
#endif

#endif
