// The retain loss, beyond the published method: it keeps an edited model answering a set of
// prompts as the base model did. For retain prompts x,
//
//   L_retain = weight * mean_x KL(p_base(x) || p(x)),
//
// with p(x) the model's next-token distribution at x's last token (the first answer token,
// where refusal or compliance is decided and where ARE reads the representation) and p_base
// that of the base model, recorded once. Its gradient flows from the logits down into the
// attached LoRA: each step runs one batch of retain prompts, taken in a seeded shuffled order
// that is drawn anew after every pass over the set.
//
// A Retain owns a workspace planned for logits and LoRA backward (the discriminator's
// workspace stops at the deepest captured layer), the base logits [n, vocab] and the step's
// buffers, each group in one allocation: a step allocates nothing.
#ifndef ARE_RETAIN_H
#define ARE_RETAIN_H

#include "llama.h"

#include <stddef.h>
#include <stdint.h>

typedef struct Retain Retain;

// n retain prompts (len [n], tokens [sum len] packed, host memory, copied) for the model m with
// its LoRA attached, batches of up to batch_size prompts, order from seed. Returns NULL with
// the reason in err (no prompts, a plan that does not fit the model, out of memory).
Retain *retain_create(LlamaModel *m, int n, const int *len, const int *tokens, int batch_size,
                      uint64_t seed, char *err, size_t err_len);
void retain_free(Retain *r);
// Backend memory the retain loss holds (its workspace and buffers).
size_t retain_bytes(const Retain *r);

// Records p_base: the distributions of the model as it is now (a fresh LoRA, B = 0, changes
// nothing). Returns 0, or -1 with the reason in err.
int retain_record_base(Retain *r, char *err, size_t err_len);

// One step on the next batch of k prompts: forward to the logits, then backward of
// weight * mean KL over the batch, accumulated (+=) into the LoRA gradients. Writes that loss
// into *loss. Returns 0, or -1 with the reason in err.
int retain_step(Retain *r, float weight, double *loss, char *err, size_t err_len);

// Mean KL(p_base || p) over every retain prompt, for the model as it is now (no backward).
// Returns 0, or -1 with the reason in err.
int retain_divergence(Retain *r, double *mean_kl, char *err, size_t err_len);

#endif
