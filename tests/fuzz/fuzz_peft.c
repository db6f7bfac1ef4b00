// libFuzzer harness for PEFT adapter folders (adapter_config.json and
// adapter_model.safetensors): any bytes must load or be refused with a message, and an adapter
// that loads must have its matrices exactly where its config says, and save and load back to
// the same adapter.
//
// Input: the adapter_config.json text, then optionally a NUL byte and the bytes of
// adapter_model.safetensors (no such file when there is no NUL).
#include "peft.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

// The model of tests/ref/fixtures/hf_tiny, whose LoRA fixture is the seed.
static const LlamaConfig base = {.vocab_size = 359,
                                 .dim = 32,
                                 .ffn_dim = 48,
                                 .n_layers = 2,
                                 .n_heads = 4,
                                 .n_kv_heads = 2,
                                 .head_dim = 8,
                                 .max_seq_len = 64,
                                 .rms_eps = 1e-5f,
                                 .rope_theta = 10000.0f};

// A broken invariant is a finding: crash so that libFuzzer keeps the input.
static void require(bool ok) {
    if (!ok) abort();
}

// peft_load takes a folder: each input goes through one folder per process.
static const char *folder(const char *which) {
    static char paths[2][64];
    char *path = paths[which[0] == 's'];
    snprintf(path, sizeof(paths[0]), "/tmp/fuzz_peft_%d_%s", (int)getpid(), which);
    mkdir(path, 0700);
    return path;
}

static void write_file(const char *dir, const char *name, const uint8_t *data, size_t size) {
    char path[128];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    if (!data) {
        unlink(path);
        return;
    }
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fwrite(data, 1, size, f);
    fclose(f);
}

// Every (layer, projection) holds A [rank, in] and B [out, rank] exactly where the config
// adapts it; reading each element lets ASan check the sizes.
static void require_shapes(const PeftAdapter *a) {
    require(a->rank >= 1 && a->rank <= 65536);
    for (int l = 0; l < base.n_layers; l++) {
        for (int p = 0; p < PROJ_COUNT; p++) {
            bool adapted = a->layer_on[l] && (a->targets & (1u << p));
            const float *A = peft_A(a, l, (Projection)p), *B = peft_B(a, l, (Projection)p);
            require((A != NULL) == adapted && (B != NULL) == adapted);
            if (!adapted) continue;
            int out, in;
            projection_shape(&base, (Projection)p, &out, &in);
            volatile float sink = 0;
            for (size_t i = 0; i < (size_t)a->rank * (size_t)in; i++) sink += A[i];
            for (size_t i = 0; i < (size_t)out * (size_t)a->rank; i++) sink += B[i];
            (void)sink;
        }
    }
}

static void require_same(const PeftAdapter *a, const PeftAdapter *b) {
    require(a->rank == b->rank && a->alpha == b->alpha && a->targets == b->targets);
    for (int l = 0; l < base.n_layers; l++) {
        require(a->layer_on[l] == b->layer_on[l]);
        for (int p = 0; p < PROJ_COUNT; p++) {
            if (!peft_A(a, l, (Projection)p)) continue;
            int out, in;
            projection_shape(&base, (Projection)p, &out, &in);
            size_t a_bytes = (size_t)a->rank * (size_t)in * sizeof(float);
            size_t b_bytes = (size_t)out * (size_t)a->rank * sizeof(float);
            require(!memcmp(peft_A(a, l, (Projection)p), peft_A(b, l, (Projection)p), a_bytes));
            require(!memcmp(peft_B(a, l, (Projection)p), peft_B(b, l, (Projection)p), b_bytes));
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *nul = memchr(data, 0, size);
    size_t config_len = nul ? (size_t)(nul - data) : size;
    const char *dir = folder("load");
    write_file(dir, "adapter_config.json", data, config_len);
    write_file(dir, "adapter_model.safetensors", nul ? nul + 1 : NULL,
               nul ? size - config_len - 1 : 0);
    PeftAdapter a, again;
    char err[512] = "";
    if (peft_load(dir, &base, &a, err, sizeof(err)) < 0) {
        require(err[0] != '\0');
        return 0;
    }
    require_shapes(&a);
    const char *saved = folder("saved");
    if (peft_save(saved, &a, "fuzz", err, sizeof(err)) < 0) {
        fprintf(stderr, "a loaded adapter does not save: %s\n", err);
        abort();
    }
    if (peft_load(saved, &base, &again, err, sizeof(err)) < 0) {
        fprintf(stderr, "a saved adapter does not load: %s\n", err);
        abort();
    }
    require_same(&a, &again);
    peft_adapter_free(&again);
    peft_adapter_free(&a);
    return 0;
}
