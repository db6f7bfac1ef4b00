// Writing a model as a Hugging Face folder: config.json for LlamaForCausalLM and one
// model.safetensors (F32) with the HF tensor names, the inverse of what model_source reads.
#ifndef ARE_HF_WRITER_H
#define ARE_HF_WRITER_H

#include "llama_config.h"
#include "model_source.h"

#include <stddef.h>

// Host fp32 data of one parameter tensor in its param_shape (layer ignored for whole-model
// kinds); valid until hf_write_folder returns.
typedef const float *(*HfParamFn)(void *ctx, ParamKind kind, int layer);

// Creates dir (and its parents) when missing and writes config.json and model.safetensors into
// it, each through a temporary file renamed into place. bos / eos are token ids or -1 for none.
// Returns 0, or -1 with the file and reason in err.
int hf_write_folder(const char *dir, const LlamaConfig *cfg, int bos, int eos, HfParamFn param,
                    void *ctx, char *err, size_t err_len);

#endif
