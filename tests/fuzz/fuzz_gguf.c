// libFuzzer harness for the GGUF reader: any bytes must open or be refused with a message,
// and whatever opens must answer every query without reading outside the file.
#include "gguf.h"
#include "gguf_model.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

// gguf_open takes a path: each input goes through one file per process.
static const char *input_path(void) {
    static char path[64];
    if (!path[0]) snprintf(path, sizeof(path), "/tmp/fuzz_gguf_%d.gguf", (int)getpid());
    return path;
}

// The metadata queries a tokenizer and the model loader make.
static void query_metadata(const Gguf *g) {
    char err[256];
    static const char *const keys[] = {"tokenizer.ggml.tokens", "tokenizer.ggml.scores",
                                       "tokenizer.ggml.token_type", "tokenizer.ggml.merges",
                                       "t.grid"};
    for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
        GgufType type;
        uint64_t len;
        if (gguf_get_array(g, keys[k], &type, &len, err, sizeof(err)) < 0) continue;
        for (uint64_t i = 0; i <= len && i < 4096; i++) {
            GgufString s;
            int64_t v;
            double x;
            gguf_array_string(g, keys[k], i, &s, err, sizeof(err));
            gguf_array_int(g, keys[k], i, &v, err, sizeof(err));
            gguf_array_float(g, keys[k], i, &x, err, sizeof(err));
        }
    }
    GgufString s;
    int64_t v;
    double x;
    gguf_get_string(g, "general.architecture", &s, err, sizeof(err));
    gguf_get_int(g, "general.alignment", &v, err, sizeof(err));
    gguf_get_float(g, "llama.rope.freq_base", &x, err, sizeof(err));
}

// Converts every tensor (as fp32 it is at most 8x the file's size: small here).
static void read_tensors(const Gguf *g) {
    char err[256], name[256];
    for (int i = 0; i < gguf_n_tensors(g); i++) {
        const GgufTensor *t = gguf_tensor(g, i);
        size_t len = t->name.len < sizeof(name) - 1 ? t->name.len : sizeof(name) - 1;
        memcpy(name, t->name.ptr, len);
        name[len] = 0;
        if (len == t->name.len && !memchr(name, 0, len) && gguf_find_tensor(g, name) != t) abort();
        float *dst = malloc((t->n_elements ? t->n_elements : 1) * sizeof(float));
        if (dst) gguf_tensor_to_f32(g, t, dst, err, sizeof(err));
        free(dst);
    }
}

// Reads every parameter of a file that passes as a Llama (each fits in the largest tensor).
static void read_llama(const Gguf *g) {
    char err[256];
    LlamaConfig cfg;
    if (gguf_llama_config(g, &cfg, err, sizeof(err)) < 0) return;
    if (gguf_llama_check(g, &cfg, err, sizeof(err)) < 0) return;
    uint64_t largest = 1;
    for (int i = 0; i < gguf_n_tensors(g); i++)
        if (gguf_tensor(g, i)->n_elements > largest) largest = gguf_tensor(g, i)->n_elements;
    float *dst = malloc(largest * sizeof(float));
    if (!dst) return;
    for (int kind = 0; kind < PARAM_COUNT; kind++)
        for (int layer = 0; layer < cfg.n_layers; layer++)
            gguf_llama_read(g, &cfg, (ParamKind)kind, layer, dst, err, sizeof(err));
    free(dst);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    FILE *f = fopen(input_path(), "wb");
    if (!f) return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    char err[512];
    Gguf *g = gguf_open(input_path(), err, sizeof(err));
    if (!g) {
        if (!strstr(err, input_path())) abort(); // every refusal names the file
        return 0;
    }
    query_metadata(g);
    read_tensors(g);
    read_llama(g);
    gguf_close(g);
    return 0;
}
