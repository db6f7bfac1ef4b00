#include "adamw.h"

AdamWConfig adamw_defaults(void) {
    return (AdamWConfig){
        .lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0.01f};
}

int adamw_init(AdamW *opt, const AdamWConfig *cfg, size_t n, Backend *be) {
    *opt = (AdamW){.cfg = *cfg, .n = n};
    if (!n) return 0;
    opt->m = be->alloc(be, 2 * n * sizeof(float)); // zero-filled: m then v
    if (!opt->m) return -1;
    opt->v = opt->m + n;
    return 0;
}

void adamw_free(AdamW *opt, Backend *be) {
    if (opt->m) be->free(be, opt->m);
    opt->m = opt->v = 0;
}

void adamw_reset(AdamW *opt, Backend *be) {
    if (opt->m) be->zero(be, opt->m, 2 * opt->n * sizeof(float));
    opt->step = 0;
}

void adamw_step(AdamW *opt, Backend *be, float *params, const float *grads) {
    if (!opt->n) return;
    opt->step++;
    const AdamWConfig *c = &opt->cfg;
    be->adamw(be, opt->n, c->lr, c->beta1, c->beta2, c->eps, c->weight_decay, opt->step, params,
              grads, opt->m, opt->v);
}
