// A model ready to run: the backend (CPU or GPU), the weights (with an optional PEFT adapter
// attached), the tokenizer and the tokens generation stops at. Shared by every command that
// runs a model, so they all load, template and encode prompts the same way.
#ifndef ARE_MODEL_SESSION_H
#define ARE_MODEL_SESSION_H

#include "compute_device.h"
#include "hf_config.h"
#include "llama.h"
#include "model_source.h"
#include "tokenizer.h"

#include <stdbool.h>
#include <stddef.h>

#define MODEL_SESSION_MAX_STOP (HF_CONFIG_MAX_EOS + 1)

typedef struct {
    Backend *be;
    char device[32]; // what be is: "cpu", "cuda:0"
    ModelSource *src;
    LlamaModel model;
    Tokenizer *tok;
    // config.json's eos_token_id (what transformers' generate() stops at) and the tokenizer's
    // EOS.
    int stop[MODEL_SESSION_MAX_STOP];
    int n_stop;
} ModelSession;

// Loads the model at path (HF folder or .gguf) on the backend dev resolves to, with the PEFT
// adapter folder attached when adapter is not NULL. Returns 0, or -1 with the reason in err;
// model_session_close releases what was loaded either way.
int model_session_open(ModelSession *s, const char *path, const char *adapter,
                       const DeviceChoice *dev, char *err, size_t err_len);
void model_session_close(ModelSession *s);

// The prompt inside the template (NULL: the prompt alone) as token ids, BOS first when the
// tokenizer adds one: a new array in *ids of *n ids. Returns 0, or -1 with the reason in err.
int model_session_encode(const ModelSession *s, const char *template_text, const char *prompt,
                         int **ids, int *n, char *err, size_t err_len);

// Text of the ids (special tokens dropped), as evaluate.h's DecodeFn wants it; ctx is the
// session.
size_t model_session_decode(void *ctx, const int *ids, int n, char *out, size_t cap);

bool model_session_is_stop(const ModelSession *s, int token);

#endif
