// AdamW over one flat parameter vector (PyTorch's torch.optim.AdamW rule, see backend.h).
// Moments live in one backend allocation; a new optimiser starts from zero moments, step 0.
#ifndef ARE_ADAMW_H
#define ARE_ADAMW_H

#include "backend.h"

#include <stddef.h>

typedef struct {
    float lr, beta1, beta2, eps, weight_decay;
} AdamWConfig;

typedef struct {
    AdamWConfig cfg;
    size_t n;
    int step;
    float *m; // [n] first moment, backend memory
    float *v; // [n] second moment, same allocation as m
} AdamW;

// PyTorch's defaults: lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight_decay 0.01.
AdamWConfig adamw_defaults(void);
int adamw_init(AdamW *opt, const AdamWConfig *cfg, size_t n, Backend *be); // 0 or -1 (memory)
void adamw_free(AdamW *opt, Backend *be);
void adamw_reset(AdamW *opt, Backend *be); // zero moments, step 0 (a "new optimiser")
void adamw_step(AdamW *opt, Backend *be, float *params, const float *grads);

#endif
