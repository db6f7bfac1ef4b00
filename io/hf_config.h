// The config.json of a Hugging Face LlamaForCausalLM / MistralForCausalLM / Qwen2ForCausalLM
// checkpoint. Qwen2 is a Llama with biases on q/k/v_proj (LlamaConfig.qkv_bias).
//
// Fields absent from the file take transformers' defaults (num_key_value_heads =
// num_attention_heads, head_dim = hidden_size / num_attention_heads, rope_theta 10000, read at
// the top level or, as transformers 5 writes it, in rope_parameters; rms_norm_eps 1e-6,
// max_position_embeddings 2048 (Qwen2: 32768), tie_word_embeddings false). Anything the engine
// does not implement (another architecture, rope_scaling, a sliding attention window shorter
// than the context, Qwen2's use_sliding_window, layer_types other than full_attention, Llama's
// attention_bias / mlp_bias, an activation other than SiLU) is refused by name rather than run
// with different numerics.
#ifndef ARE_HF_CONFIG_H
#define ARE_HF_CONFIG_H

#include "llama_config.h"

#include <stddef.h>

#define HF_CONFIG_MAX_EOS 8

typedef struct {
    LlamaConfig cfg;
    char architecture[64]; // architectures[0], or derived from model_type when absent
    int bos_token_id;      // -1 when the config names none
    int n_eos;             // eos_token_id may be one id or a list (Llama-3)
    int eos_token_ids[HF_CONFIG_MAX_EOS];
} HfConfig;

// The module path of each projection inside a block, as HF names it ("self_attn.q_proj", ...,
// "mlp.down_proj"): model.layers.N.<path>.weight holds its weight.
extern const char *const hf_projection_paths[PROJ_COUNT];

// Parses the len bytes of text (the contents of a config.json; name labels the messages).
// Returns 0, or -1 with "name:line:column: ..." or "name: field 'x' ..." in err.
int hf_config_parse(const char *text, size_t len, const char *name, HfConfig *out, char *err,
                    size_t err_len);

// Reads and parses the file at path.
int hf_config_load(const char *path, HfConfig *out, char *err, size_t err_len);

#endif
