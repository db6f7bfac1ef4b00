#include "model_session.h"

#include "chat_template.h"
#include "model_load.h"
#include "peft.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void collect_stop_tokens(ModelSession *s, const char *path) {
    char config[4096], err[256];
    HfConfig hf;
    snprintf(config, sizeof config, "%s/config.json", path);
    if (model_source_format(s->src) == MODEL_FORMAT_HF &&
        hf_config_load(config, &hf, err, sizeof err) == 0)
        for (int i = 0; i < hf.n_eos; i++) s->stop[s->n_stop++] = hf.eos_token_ids[i];
    int eos = tokenizer_eos(s->tok);
    if (eos >= 0 && !model_session_is_stop(s, eos)) s->stop[s->n_stop++] = eos;
}

int model_session_open(ModelSession *s, const char *path, const char *adapter,
                       const DeviceChoice *dev, char *err, size_t err_len) {
    *s = (ModelSession){0};
    if (!(s->be = compute_device_open(dev, s->device, sizeof s->device, err, err_len))) return -1;
    if (!(s->src = model_source_open(path, err, err_len)) ||
        model_load(&s->model, s->src, s->be, s->be->matrix_type, err, err_len) < 0 ||
        !(s->tok = tokenizer_load(path, err, err_len)))
        return -1;
    if (tokenizer_vocab_size(s->tok) > s->model.cfg.vocab_size) {
        snprintf(err, err_len, "%s: the tokenizer has %d tokens, the model's vocabulary only %d",
                 path, tokenizer_vocab_size(s->tok), s->model.cfg.vocab_size);
        return -1;
    }
    if (adapter) {
        PeftAdapter a;
        if (peft_load(adapter, &s->model.cfg, &a, err, err_len) < 0) return -1;
        int rc = model_attach_peft(&s->model, &a, err, err_len);
        peft_adapter_free(&a);
        if (rc < 0) return -1;
    }
    collect_stop_tokens(s, path);
    return 0;
}

void model_session_close(ModelSession *s) {
    if (s->be) {
        lora_free(s->model.lora, s->be);
        embedding_lora_free(s->model.embed_lora, s->be);
        llama_free(&s->model);
        s->be->destroy(s->be);
    }
    model_source_close(s->src);
    tokenizer_free(s->tok);
    *s = (ModelSession){0};
}

int model_session_encode(const ModelSession *s, const char *template_text, const char *prompt,
                         int **ids, int *n, char *err, size_t err_len) {
    *ids = NULL;
    *n = 0;
    char *text = template_text ? chat_template_apply(template_text, NULL, prompt, err, err_len)
                               : strdup(prompt);
    if (!text) {
        if (!template_text) snprintf(err, err_len, "out of memory");
        return -1;
    }
    size_t len = strlen(text);
    bool bos = tokenizer_adds_bos(s->tok);
    int need = tokenizer_encode(s->tok, text, len, bos, NULL, 0);
    int *out = need > 0 ? malloc((size_t)need * sizeof *out) : NULL;
    if (!out || tokenizer_encode(s->tok, text, len, bos, out, need) != need) {
        snprintf(err, err_len,
                 need == 0 ? "the prompt is empty" : "the prompt could not be encoded");
        free(out);
        free(text);
        return -1;
    }
    free(text);
    *ids = out;
    *n = need;
    return 0;
}

size_t model_session_decode(void *ctx, const int *ids, int n, char *out, size_t cap) {
    const ModelSession *s = ctx;
    int len = tokenizer_decode(s->tok, ids, n, out, cap);
    if (len < 0) { // an id outside the vocabulary cannot come out of the model's own head
        if (cap) out[0] = '\0';
        return 0;
    }
    return (size_t)len;
}

bool model_session_is_stop(const ModelSession *s, int token) {
    for (int i = 0; i < s->n_stop; i++)
        if (s->stop[i] == token) return true;
    return false;
}
