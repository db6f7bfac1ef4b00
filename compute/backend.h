// The backend: every numeric operation the model needs, on memory the backend owns.
//
// The Llama model, LoRA, AdamW and generation are written once against this table of
// functions; compute/cpu implements it with OpenBLAS and OpenMP (the reference), compute/cuda
// with cuBLAS and kernels. Conventions shared by every op:
//   - All float and int pointers are backend memory (from alloc), never host memory, so a GPU
//     backend never has to upload behind the caller's back. Use to_device / to_host to move.
//   - Row-major, fp32 activations and gradients. Shapes are given as [rows, cols].
//   - Tokens of a batch are packed back to back (no padding): T tokens in total, and pos[t] is
//     the position of token t inside its own sequence, so a new sequence starts where pos == 0.
//   - Backward ops ACCUMULATE (+=) into gradients of inputs that can be reached by more than
//     one path (residual stream, weight gradients) and OVERWRITE the rest; each op says which.
#ifndef ARE_BACKEND_H
#define ARE_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct Backend Backend;

// The most matrices one gemm_matrix_parts call multiplies: q, k and v.
#define MATRIX_PARTS 3

// How frozen base matrices (the projections and an untied LM head, when no gradient of them is
// taken) are stored. 16 bits halve their memory, and on a GPU run them on the tensor cores.
typedef enum {
    MATRIX_F32,
    MATRIX_BF16, // bfloat16: fp32's exponent range, 8 significant bits
    MATRIX_F16,  // IEEE half: 11 significant bits, |x| < 65504
} MatrixType;

// "fp32", "bf16", "fp16": the names configs and reports use.
static inline const char *matrix_type_name(MatrixType t) {
    return t == MATRIX_BF16 ? "bf16" : t == MATRIX_F16 ? "fp16" : "fp32";
}

// The index of x[0..n-1]'s largest entry: the lowest index on ties; a NaN entry never wins (a
// row of NaN gives 0). Greedy decoding's rule, on the host and in every backend's argmax_rows.
static inline int argmax_row(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best] || (x[best] != x[best] && x[i] == x[i])) best = i;
    return best;
}

struct Backend {
    const char *name; // "cpu", "cuda"
    int threads;      // CPU worker threads used by the ops (1 for GPU backends)

    // --- memory -------------------------------------------------------------------------
    void *(*alloc)(Backend *be, size_t bytes); // zero-filled; NULL on failure
    void (*free)(Backend *be, void *ptr);
    void (*to_device)(Backend *be, void *dst, const void *host_src, size_t bytes);
    void (*to_host)(Backend *be, void *host_dst, const void *src, size_t bytes);
    void (*copy)(Backend *be, void *dst, const void *src, size_t bytes);
    void (*zero)(Backend *be, void *dst, size_t bytes);
    // Waits until every op called so far has finished (a GPU runs them asynchronously), so that
    // a clock read after it times them. Not needed for correctness: to_host waits by itself.
    void (*synchronize)(Backend *be);
    void (*destroy)(Backend *be);
    // 16-bit frozen matrices, type matrix_type (MATRIX_F32: the model keeps them in fp32 and
    // these two are unused): dst [n] = host_src [n] rounded to nearest even, and back exactly.
    MatrixType matrix_type;
    void (*matrix_to_device)(Backend *be, uint16_t *dst, const float *host_src, size_t n);
    void (*matrix_to_host)(Backend *be, float *host_dst, const uint16_t *src, size_t n);
    // Sizes now the scratch that the 16-bit products need for up to `rows` rows of activations
    // of up to `width_in` values (M, K) and of outputs of up to `width_out` values (N, the sum
    // over gemm_matrix_parts's parts), so that no later product grows it (a GPU's growth waits
    // for the device and reallocates). llama_workspace_create calls it with its largest batch.
    // An optimisation only: a larger product still grows it. NULL where a backend has no such
    // scratch.
    void (*reserve_matrix_scratch)(Backend *be, int rows, int width_in, int width_out);

    // --- linear algebra -----------------------------------------------------------------
    // C[M,N] = alpha * op(A) @ op(B) + beta * C, op(X) = X or X^T; lda/ldb/ldc are row strides.
    void (*gemm)(Backend *be, bool trans_a, bool trans_b, int M, int N, int K, float alpha,
                 const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc);
    // The same product with B a 16-bit frozen matrix of type be->matrix_type, as stored by
    // matrix_to_device: C[M,N] = alpha * A[M,K] @ op(W) + beta * C, op(W) = W^T for W [N,K]
    // (trans_w) or W for W [K,N]. Accumulation is fp32; a backend may round A to W's type
    // first (cuBLAS multiplies two 16-bit operands), so results match gemm within 16-bit
    // rounding of the activations, not bit for bit.
    void (*gemm_matrix)(Backend *be, bool trans_w, int M, int N, int K, float alpha, const float *A,
                        int lda, const uint16_t *W, int ldw, float beta, float *C, int ldc);
    // The products of one activation with n_parts (<= MATRIX_PARTS) 16-bit frozen matrices
    // stored one after another (a block's q|k|v or gate|up, as llama_weights lays them out; one
    // part for the others): for p < n_parts,
    //   C_p [M, N_p] = A [M,K] W_p^T + beta * C_p,   W_p [N_p, K] at W + (N_0 + .. + N_{p-1}) K.
    // Equals n_parts gemm_matrix calls (trans_w). A backend may run them as one product
    // [M, N_0 + .. + N_{p-1}] and split its output (CUDA, for the few rows of a decoding step,
    // where reading the weights dominates and one wide product fills the device better than
    // several narrow ones). A16 [M,K] (contiguous): A already rounded to matrix_type by
    // rmsnorm_forward16 or swiglu_forward16, read instead of A where activations16; may be NULL.
    void (*gemm_matrix_parts)(Backend *be, int M, int K, const float *A, const uint16_t *A16,
                              const uint16_t *W, int n_parts, const int *N, float *const *C,
                              float beta);
    // Set where gemm_matrix rounds its activation operand to matrix_type before it multiplies
    // (cuBLAS multiplies two 16-bit operands) and the rounding needs nothing but the value (bf16;
    // an fp16 product scales its operand first): rmsnorm_forward16 and swiglu_forward16 then
    // write that 16-bit copy in the same pass as their fp32 output, and gemm_matrix_parts reads
    // it. The normalised input of a block is so rounded once, not once per product (q, k, v),
    // and no separate rounding pass runs. Unset (the CPU multiplies fp32 activations): the
    // 16-bit arguments are ignored and may be NULL, and the results are gemm_matrix's.
    bool activations16;
    // y[n] += a * x[n]
    void (*axpy)(Backend *be, int n, float a, const float *x, float *y);
    // out[n] = a[n] + b[n]   (out may alias a or b)
    void (*add)(Backend *be, int n, const float *a, const float *b, float *out);

    // --- rows -----------------------------------------------------------------------------
    // dst[i*ld_dst + c] = src[rows[i]*ld_src + c]   for i < n, c < d
    void (*gather_rows)(Backend *be, int n, int d, const int *rows, const float *src, int ld_src,
                        float *dst, int ld_dst);
    // dst[rows[i]*ld_dst + c] (+)= src[i*ld_src + c]; rows must be distinct
    void (*scatter_rows)(Backend *be, int n, int d, const int *rows, const float *src, int ld_src,
                         float *dst, int ld_dst, bool accumulate);

    // --- embedding ------------------------------------------------------------------------
    // out[T,d] = table[tokens[t], :]
    void (*embedding_forward)(Backend *be, int T, int d, const int *tokens, const float *table,
                              float *out);
    // dtable[V,d] += dout rows scattered by token (repeated tokens add up)
    void (*embedding_backward)(Backend *be, int T, int d, const int *tokens, const float *dout,
                               float *dtable);

    // --- RMSNorm: out = x / sqrt(mean(x^2) + eps) * w ------------------------------------
    // x,out [T,d]; w [d]; rstd [T] saved for backward (1 / sqrt(mean(x^2) + eps))
    void (*rmsnorm_forward)(Backend *be, int T, int d, float eps, const float *x, const float *w,
                            float *out, float *rstd);
    // The same, and out16 [T,d] = out rounded to matrix_type where activations16 and out16 is
    // not NULL (the input of gemm_matrix_parts, rounded once for all its parts).
    void (*rmsnorm_forward16)(Backend *be, int T, int d, float eps, const float *x, const float *w,
                              float *out, uint16_t *out16, float *rstd);
    // dx [T,d] +=; dw [d] += (skipped when NULL)
    void (*rmsnorm_backward)(Backend *be, int T, int d, const float *dout, const float *x,
                             const float *w, const float *rstd, float *dx, float *dw);

    // --- rotary embedding, Hugging Face rotate-half convention ---------------------------
    // x [T, H, hd] rotated in place: for i < hd/2, angle = pos[t] * theta^(-2i/hd),
    //   x[i] <- x[i] cos - x[i+hd/2] sin,  x[i+hd/2] <- x[i+hd/2] cos + x[i] sin
    void (*rope_forward)(Backend *be, int T, int H, int hd, float theta, const int *pos, float *x);
    // dx [T, H, hd] rotated back in place (the transpose of the forward rotation)
    void (*rope_backward)(Backend *be, int T, int H, int hd, float theta, const int *pos,
                          float *dx);

    // --- causal self-attention with grouped KV heads over packed sequences --------------
    // q [T, Hq*hd], k,v [T, Hkv*hd]; query head h reads kv head h / (Hq/Hkv).
    // Token t attends to tokens t-pos[t] .. t (its own sequence, causal), scale 1/sqrt(hd).
    // out [T, Hq*hd]; probs [T, Hq, max_len]: softmax row of (t, h) at [t, h, 0..pos[t]]
    // (entries past pos[t] unused). Requires pos[t] < max_len.
    void (*attention_forward)(Backend *be, int T, int Hq, int Hkv, int hd, int max_len,
                              const int *pos, const float *q, const float *k, const float *v,
                              float *out, float *probs);
    // dq, dk, dv overwritten. dscores [T, Hq, max_len] is scratch.
    void (*attention_backward)(Backend *be, int T, int Hq, int Hkv, int hd, int max_len,
                               const int *pos, const float *q, const float *k, const float *v,
                               const float *probs, const float *dout, float *dscores, float *dq,
                               float *dk, float *dv);
    // Attention over a KV cache (generation): k_cache, v_cache [slots, max_len, Hkv*hd].
    // Token t (query q[t]) attends to cache rows slot[t]*max_len + 0 .. pos[t], which the
    // caller has already written (its own key and value included). out [T, Hq*hd].
    void (*attention_cached)(Backend *be, int T, int Hq, int Hkv, int hd, int max_len,
                             const int *slot, const int *pos, const float *q, const float *k_cache,
                             const float *v_cache, float *out);

    // --- SwiGLU: h = silu(gate) * up, silu(x) = x / (1 + exp(-x)) ------------------------
    void (*swiglu_forward)(Backend *be, int n, const float *gate, const float *up, float *h);
    // The same, and h16 [n] = h rounded to matrix_type where activations16 and h16 is not NULL.
    void (*swiglu_forward16)(Backend *be, int n, const float *gate, const float *up, float *h,
                             uint16_t *h16);
    // dgate, dup overwritten
    void (*swiglu_backward)(Backend *be, int n, const float *gate, const float *up, const float *dh,
                            float *dgate, float *dup);

    // --- softmax cross-entropy over logits [T, V] -----------------------------------------
    // Rows with targets[t] < 0 are ignored. Writes loss[t] (0 for ignored rows) and
    // dlogits[t] = scale * (softmax(logits[t]) - onehot(targets[t])) (0 for ignored rows).
    // dlogits may alias logits. dlogits may be NULL (loss only).
    void (*cross_entropy)(Backend *be, int T, int V, const float *logits, const int *targets,
                          float scale, float *loss, float *dlogits);

    // --- AdamW, PyTorch's update rule (torch.optim.AdamW, amsgrad off) --------------------
    // p -= lr*wd*p; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
    // p -= (lr / (1-b1^step)) * m / (sqrt(v) / sqrt(1-b2^step) + eps);  step counts from 1
    void (*adamw)(Backend *be, size_t n, float lr, float beta1, float beta2, float eps,
                  float weight_decay, int step, float *params, const float *grads, float *m,
                  float *v);

    // --- the discriminator's small dense network: biases, ReLU, feature standardisation ------
    // x [n,d] += bias [d] on every row
    void (*bias_forward)(Backend *be, int n, int d, const float *bias, float *x);
    // dbias [d] += the column sums of dout [n,d]
    void (*bias_backward)(Backend *be, int n, int d, const float *dout, float *dbias);
    // out [n] = max(x, 0), NaN passed through (out may alias x)
    void (*relu_forward)(Backend *be, int n, const float *x, float *out);
    // dx [n] = dout where the forward's output out > 0, else 0; overwritten (may alias dout)
    void (*relu_backward)(Backend *be, int n, const float *out, const float *dout, float *dx);
    // Per column of x [n,d], over its n rows: mean [d] and inv_std [d] = 1 / std, with the
    // population std (divided by n, as scikit-learn's StandardScaler). A column whose std is at
    // most min_std is constant for practical purposes and gets inv_std = 1 (centred, not scaled):
    // dividing by a tiny std would blow its rounding noise, and its gradient, up to any size.
    void (*feature_stats)(Backend *be, int n, int d, const float *x, float min_std, float *mean,
                          float *inv_std);
    // out [n,d] = (x - mean) * inv_std, column by column (out may alias x)
    void (*standardize_forward)(Backend *be, int n, int d, const float *x, const float *mean,
                                const float *inv_std, float *out);
    // dx [n,d] = dout * inv_std, column by column; overwritten (may alias dout)
    void (*standardize_backward)(Backend *be, int n, int d, const float *dout, const float *inv_std,
                                 float *dx);

    // --- KL divergence to a reference distribution (the generator's retain loss) ------------
    // Rows i < n of ref_logits [n, V] and logits [n, V], p = softmax(ref_logits[i]) and
    // q = softmax(logits[i]): writes loss[i] = KL(p || q) = sum_v p_v (log p_v - log q_v) and
    // dlogits[i] = scale * (q - p), the gradient of scale * loss[i] with respect to logits[i].
    // The reference comes as logits so that a probability too small for fp32 still has its
    // log. dlogits may alias logits, and may be NULL (loss only).
    void (*kl_divergence)(Backend *be, int n, int V, const float *ref_logits, const float *logits,
                          float scale, float *loss, float *dlogits);

    // --- the KV cache in bf16 (generation) ----------------------------------------------------
    // Set by a backend that keeps the KV cache in bf16: half the memory of an fp32 one (which
    // reaches tens of GB for a batch of long answers on a 7B model) and half the bytes that
    // every decoding step reads. NULL: the cache is fp32 (scatter_rows, attention_cached).
    // cache [*, d]: cache[rows[i], c] = src[i, c] rounded to bf16 (nearest even), i < n, c < d;
    // rows distinct.
    void (*kv_store_bf16)(Backend *be, int n, int d, const int *rows, const float *src,
                          uint16_t *cache);
    // attention_cached over k_cache, v_cache in bf16 (widened exactly as they are read).
    void (*attention_cached_bf16)(Backend *be, int T, int Hq, int Hkv, int hd, int max_len,
                                  const int *slot, const int *pos, const float *q,
                                  const uint16_t *k_cache, const uint16_t *v_cache, float *out);

    // --- recorded steps (CUDA graphs) ----------------------------------------------------------
    // Between begin_recording and end_recording the ops are recorded instead of run; none of
    // them may upload, download, synchronise or grow a buffer. end_recording returns the
    // recording, or NULL when the device refused it (the ops did not run: run them again, and
    // record no more: begin_recording is NULL from then on). run_recording replays it, the same
    // ops on the same buffers with the same arguments, at the cost of one launch, and returns
    // false without running anything when the backend has since moved a buffer the recording
    // uses (record again). A decoding step is a few hundred small launches, each costing the host
    // microseconds; replayed, they cost one. NULL where a backend records nothing (the CPU).
    void (*begin_recording)(Backend *be);
    void *(*end_recording)(Backend *be);
    bool (*run_recording)(Backend *be, void *recording);
    void (*free_recording)(Backend *be, void *recording);

    // --- greedy decoding -----------------------------------------------------------------
    // out[i] = argmax_row(x + i*V, V) for rows i < n of x [n, V]; out [n]. A greedy decoding
    // step then moves n ints to the host instead of n rows of logits.
    void (*argmax_rows)(Backend *be, int n, int V, const float *x, int *out);
};

#endif
