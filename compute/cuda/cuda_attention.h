// Causal grouped-query attention on the CUDA backend: the attention_forward, attention_backward
// and attention_cached ops of backend.h. All pointers are device memory; every kernel runs on the
// backend's stream.
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

#ifdef __cplusplus
}
#endif

#endif
