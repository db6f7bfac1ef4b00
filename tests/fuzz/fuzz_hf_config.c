// libFuzzer harness for config.json parsing: any bytes must parse or be refused with a
// message, and whatever parses must be a config the engine can size its tensors from.
#include "hf_config.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    HfConfig hf;
    char err[512];
    if (hf_config_parse((const char *)data, size, "config.json", &hf, err, sizeof(err)) < 0)
        return 0;
    const LlamaConfig *c = &hf.cfg;
    if (c->vocab_size <= 0 || c->dim <= 0 || c->ffn_dim <= 0 || c->n_layers <= 0 ||
        c->n_heads <= 0 || c->n_kv_heads <= 0 || c->n_heads % c->n_kv_heads != 0 ||
        c->head_dim <= 0 || c->head_dim % 2 != 0 || c->max_seq_len <= 0 || !(c->rms_eps > 0) ||
        !(c->rope_theta > 0) || hf.n_eos < 0 || hf.n_eos > HF_CONFIG_MAX_EOS ||
        hf.bos_token_id >= c->vocab_size)
        __builtin_trap();
    for (int p = 0; p < PROJ_COUNT; p++) {
        int out, in;
        projection_shape(c, (Projection)p, &out, &in);
        if (out <= 0 || in <= 0) __builtin_trap();
    }
    for (int i = 0; i < hf.n_eos; i++)
        if (hf.eos_token_ids[i] < 0 || hf.eos_token_ids[i] >= c->vocab_size) __builtin_trap();
    return 0;
}
