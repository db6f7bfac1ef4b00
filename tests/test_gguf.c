// GGUF: metadata of llama.cpp's vocabulary files (values checked against the gguf Python
// package's reader), dequantization of every block type against gguf's numpy reference, the
// Llama model view (config, tensor check, reading with the q/k permutation undone), and
// malformed files, each refused with its own message.
#include "check.h"
#include "gguf.h"
#include "gguf_model.h"
#include "safetensors.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char err[512];
static char tmp_dir[] = "/tmp/test_gguf_XXXXXX";
static char path[4096]; // the file every hand-made case writes

static bool string_is(GgufString s, const char *expected) {
    return s.len == strlen(expected) && memcmp(s.ptr, expected, s.len) == 0;
}

// The shared data folder: $ARE_SOURCE_DIR/../shared, else /work/shared; NULL when absent.
static const char *shared_file(const char *rel, char *buf, size_t len) {
    const char *src = getenv("ARE_SOURCE_DIR");
    snprintf(buf, len, "%s/../shared/%s", src ? src : ".", rel);
    FILE *f = fopen(buf, "rb");
    if (!f) {
        snprintf(buf, len, "/work/shared/%s", rel);
        f = fopen(buf, "rb");
    }
    if (!f) return NULL;
    fclose(f);
    return buf;
}

static void check_string_at(const Gguf *g, const char *key, uint64_t i, const char *expected) {
    GgufString s = {0};
    int rc = gguf_array_string(g, key, i, &s, err, sizeof(err));
    CHECK(rc == 0 && string_is(s, expected), "%s[%llu]: expected '%s', got '%.*s' (%s)", key,
          (unsigned long long)i, expected, (int)s.len, s.ptr, rc ? err : "");
}

static void check_int(const Gguf *g, const char *key, int64_t expected) {
    int64_t v = -1;
    int rc = gguf_get_int(g, key, &v, err, sizeof(err));
    CHECK(rc == 0 && v == expected, "%s: expected %lld, got %lld (%s)", key, (long long)expected,
          (long long)v, rc ? err : "");
}

static void check_string(const Gguf *g, const char *key, const char *expected) {
    GgufString s = {0};
    int rc = gguf_get_string(g, key, &s, err, sizeof(err));
    CHECK(rc == 0 && string_is(s, expected), "%s: expected '%s' (%s)", key, expected,
          rc ? err : "");
}

// Expected values read with gguf.GGUFReader (gguf 0.19.0).
static void test_vocab_spm(void) {
    char buf[1024];
    const char *path = shared_file("data/tokenizers/ggml-vocab-llama-spm.gguf", buf, sizeof(buf));
    if (!path) {
        SKIP("ggml-vocab-llama-spm.gguf: no shared data folder (../shared or /work/shared)");
        return;
    }
    Gguf *g = gguf_open(path, err, sizeof(err));
    CHECK(g, "open %s: %s", path, err);
    if (!g) return;
    CHECK(gguf_n_tensors(g) == 0, "vocab-only file has %d tensors", gguf_n_tensors(g));
    check_string(g, "general.architecture", "llama");
    check_string(g, "tokenizer.ggml.model", "llama");
    check_int(g, "llama.block_count", 32);
    check_int(g, "tokenizer.ggml.bos_token_id", 1);
    check_int(g, "tokenizer.ggml.add_bos_token", 1); // a BOOL reads as an integer

    double eps = 0;
    CHECK(gguf_get_float(g, "llama.attention.layer_norm_rms_epsilon", &eps, err, sizeof(err)) ==
                  0 &&
              eps == (double)1e-5f,
          "rms epsilon %g (%s)", eps, err);

    GgufType et;
    uint64_t len = 0;
    CHECK(gguf_get_array(g, "tokenizer.ggml.tokens", &et, &len, err, sizeof(err)) == 0 &&
              et == GGUF_STRING && len == 32000,
          "tokens: type %d, %llu elements (%s)", et, (unsigned long long)len, err);
    check_string_at(g, "tokenizer.ggml.tokens", 0, "<unk>");
    check_string_at(g, "tokenizer.ggml.tokens", 3, "<0x00>");
    check_string_at(g, "tokenizer.ggml.tokens", 259, "\xe2\x96\x81\xe2\x96\x81"); // "▁▁"
    check_string_at(g, "tokenizer.ggml.tokens", 1000, "ied");
    check_string_at(g, "tokenizer.ggml.tokens", 31999, "\xe7\xbb\x99"); // "给"

    double score = 0;
    CHECK(gguf_array_float(g, "tokenizer.ggml.scores", 1000, &score, err, sizeof(err)) == 0 &&
              score == -741.0,
          "scores[1000] = %g (%s)", score, err);
    CHECK(gguf_array_float(g, "tokenizer.ggml.scores", 259, &score, err, sizeof(err)) == 0 &&
              score == -1e9,
          "scores[259] = %g (%s)", score, err);
    int64_t type = 0;
    CHECK(gguf_array_int(g, "tokenizer.ggml.token_type", 1, &type, err, sizeof(err)) == 0 &&
              type == 3,
          "token_type[1] = %lld (%s)", (long long)type, err);

    // Misuse is an error naming the key, never a crash.
    CHECK(gguf_array_string(g, "tokenizer.ggml.tokens", 32000, &(GgufString){0}, err, sizeof(err)) <
                  0 &&
              strstr(err, "tokenizer.ggml.tokens") && strstr(err, "index 32000"),
          "index past the end: %s", err);
    CHECK(gguf_get_int(g, "no.such.key", &type, err, sizeof(err)) < 0 &&
              strstr(err, "'no.such.key' is missing"),
          "missing key: %s", err);
    CHECK(!gguf_has(g, "no.such.key") && gguf_has(g, "general.name"), "gguf_has");
    CHECK(gguf_get_int(g, "general.architecture", &type, err, sizeof(err)) < 0 &&
              strstr(err, "holds a STRING, expected an integer"),
          "string read as int: %s", err);
    CHECK(gguf_array_float(g, "tokenizer.ggml.tokens", 0, &score, err, sizeof(err)) < 0 &&
              strstr(err, "holds an array of STRING"),
          "string array read as float: %s", err);
    CHECK(gguf_get_string(g, "tokenizer.ggml.tokens", &(GgufString){0}, err, sizeof(err)) < 0,
          "array read as string");
    gguf_close(g);
}

static void test_vocab_bpe(void) {
    char buf[1024];
    const char *path = shared_file("data/tokenizers/ggml-vocab-llama-bpe.gguf", buf, sizeof(buf));
    if (!path) {
        SKIP("ggml-vocab-llama-bpe.gguf: no shared data folder (../shared or /work/shared)");
        return;
    }
    Gguf *g = gguf_open(path, err, sizeof(err));
    CHECK(g, "open %s: %s", path, err);
    if (!g) return;
    check_string(g, "tokenizer.ggml.model", "gpt2");
    check_string(g, "tokenizer.ggml.pre", "llama-bpe");
    check_int(g, "tokenizer.ggml.bos_token_id", 128000);
    double theta = 0;
    CHECK(gguf_get_float(g, "llama.rope.freq_base", &theta, err, sizeof(err)) == 0 &&
              theta == 500000.0,
          "rope.freq_base %g (%s)", theta, err);
    check_string_at(g, "tokenizer.ggml.tokens", 0, "!");
    check_string_at(g, "tokenizer.ggml.tokens", 259, "\xc4\xa0t"); // "Ġt"
    check_string_at(g, "tokenizer.ggml.tokens", 128255, "<|reserved_special_token_250|>");
    GgufType et;
    uint64_t len = 0;
    CHECK(gguf_get_array(g, "tokenizer.ggml.merges", &et, &len, err, sizeof(err)) == 0 &&
              et == GGUF_STRING && len == 280147,
          "merges: %llu (%s)", (unsigned long long)len, err);
    check_string_at(g, "tokenizer.ggml.merges", 0, "\xc4\xa0 \xc4\xa0");
    check_string_at(g, "tokenizer.ggml.merges", 280146, "\xc3\xa9\xc4\xb6 \xc2\xa6");
    gguf_close(g);
}

// --- dequantization against gguf.quants.dequantize -------------------------------------------

static const char *fixture(const char *name, char *buf, size_t len) {
    const char *src = getenv("ARE_SOURCE_DIR") ? getenv("ARE_SOURCE_DIR") : ".";
    snprintf(buf, len, "%s/tests/ref/fixtures/%s", src, name);
    return buf;
}

static Gguf *open_fixture(const char *name) {
    char buf[4096];
    Gguf *g = gguf_open(fixture(name, buf, sizeof(buf)), err, sizeof(err));
    CHECK(g, "fixture missing or unreadable (run from the source tree or set ARE_SOURCE_DIR): %s",
          err);
    return g;
}

// The tensor as fp32 (malloc'd), or NULL after a failed check.
static float *read_tensor(const Gguf *g, const char *name) {
    const GgufTensor *t = gguf_find_tensor(g, name);
    CHECK(t, "tensor '%s' is missing", name);
    if (!t) return NULL;
    float *x = malloc(t->n_elements * sizeof(float));
    int rc = gguf_tensor_to_f32(g, t, x, err, sizeof(err));
    CHECK(rc == 0, "%s: %s", name, err);
    if (rc == 0) return x;
    free(x);
    return NULL;
}

static void test_dequant(void) {
    Gguf *g = open_fixture("gguf_quants.gguf");
    if (!g) return;
    static const struct {
        GgmlType type;
        uint64_t ne0;
    } cases[] = {{GGML_F32, 64},   {GGML_F16, 64},   {GGML_BF16, 64}, {GGML_Q8_0, 64},
                 {GGML_Q4_0, 64},  {GGML_Q4_1, 64},  {GGML_Q5_0, 64}, {GGML_Q5_1, 64},
                 {GGML_Q4_K, 256}, {GGML_Q5_K, 256}, {GGML_Q6_K, 256}};
    int exact = 0;
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        const char *name = ggml_type_name(cases[c].type);
        char expected_name[64];
        snprintf(expected_name, sizeof(expected_name), "%s.expected", name);
        const GgufTensor *t = gguf_find_tensor(g, name);
        CHECK(t && t->type == cases[c].type && t->n_dims == 2 && t->ne[0] == cases[c].ne0 &&
                  t->ne[1] == 2 && t->n_elements == 2 * cases[c].ne0,
              "%s: tensor info", name);
        // general.alignment is 64 in this file, and the mapping is page-aligned.
        CHECK(t && (uintptr_t)t->data % 64 == 0, "%s: data not 64-byte aligned", name);
        float *got = read_tensor(g, name), *want = read_tensor(g, expected_name);
        if (got && want) {
            size_t worst;
            double ratio = check_worst_ratio(got, want, t->n_elements, 1e-30, 1e-6, &worst);
            CHECK(ratio <= 1, "%s: element %zu is %.9g, gguf says %.9g", name, worst, got[worst],
                  want[worst]);
            exact += memcmp(got, want, t->n_elements * sizeof(float)) == 0;
        }
        free(got);
        free(want);
    }
    printf("dequant: %d of 11 types bit-identical to gguf.quants.dequantize\n", exact);
    gguf_close(g);
}

// --- the Llama model view --------------------------------------------------------------------

static const char *const hf_proj[PROJ_COUNT] = {
    "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
    "mlp.gate_proj",    "mlp.up_proj",      "mlp.down_proj"};

static void hf_name(const char *prefix, ParamKind kind, int layer, char *buf, size_t len) {
    if (kind == PARAM_EMBED)
        snprintf(buf, len, "%s.model.embed_tokens.weight", prefix);
    else if (kind == PARAM_FINAL_NORM)
        snprintf(buf, len, "%s.model.norm.weight", prefix);
    else if (kind == PARAM_LM_HEAD)
        snprintf(buf, len, "%s.lm_head.weight", prefix);
    else if (kind == PARAM_ATTN_NORM)
        snprintf(buf, len, "%s.model.layers.%d.input_layernorm.weight", prefix, layer);
    else if (kind == PARAM_MLP_NORM)
        snprintf(buf, len, "%s.model.layers.%d.post_attention_layernorm.weight", prefix, layer);
    else
        snprintf(buf, len, "%s.model.layers.%d.%s.weight", prefix, layer,
                 hf_proj[kind - PARAM_PROJ_FIRST]);
}

// Every parameter read from the GGUF equals the HF-layout original bit for bit.
static void check_model_weights(const Gguf *g, const LlamaConfig *cfg, const SafetensorsFile *hf,
                                const char *prefix) {
    int compared = 0;
    for (int kind = 0; kind < PARAM_COUNT; kind++) {
        if (!param_present(cfg, (ParamKind)kind)) continue;
        bool per_layer = param_per_layer((ParamKind)kind);
        for (int layer = 0; layer < (per_layer ? cfg->n_layers : 1); layer++) {
            char name[128];
            hf_name(prefix, (ParamKind)kind, layer, name, sizeof(name));
            const SafetensorsTensor *t = safetensors_find(hf, name);
            CHECK(t, "HF fixture lacks %s", name);
            if (!t) continue;
            float *want = malloc(t->n_elements * sizeof(float));
            float *got = malloc(t->n_elements * sizeof(float));
            safetensors_read_f32(hf, t, want, t->n_elements, err, sizeof(err));
            int rc = gguf_llama_read(g, cfg, (ParamKind)kind, layer, got, err, sizeof(err));
            CHECK(rc == 0, "read %s: %s", name, err);
            CHECK(rc == 0 && memcmp(got, want, t->n_elements * sizeof(float)) == 0,
                  "%s: GGUF read differs from the HF layout", name);
            compared += rc == 0;
            free(want);
            free(got);
        }
    }
    printf("model %s: %d parameters equal to HF layout\n", prefix, compared);
}

static void test_model(void) {
    char buf[4096];
    SafetensorsFile *hf =
        safetensors_open(fixture("gguf_llama_hf.safetensors", buf, sizeof(buf)), err, sizeof(err));
    CHECK(hf, "%s", err);
    Gguf *gqa = open_fixture("gguf_llama_gqa.gguf");
    Gguf *tied = open_fixture("gguf_llama_tied.gguf");
    if (!hf || !gqa || !tied) goto done;

    LlamaConfig c;
    CHECK(gguf_llama_config(gqa, &c, err, sizeof(err)) == 0, "gqa config: %s", err);
    CHECK(c.vocab_size == 32 && c.dim == 16 && c.ffn_dim == 24 && c.n_layers == 2 &&
              c.n_heads == 4 && c.n_kv_heads == 2 && c.head_dim == 6 && c.max_seq_len == 64 &&
              c.rms_eps == 1e-6f && c.rope_theta == 500000.f && !c.tie_embeddings,
          "gqa config fields");
    CHECK(gguf_llama_check(gqa, &c, err, sizeof(err)) == 0, "gqa check: %s", err);
    check_model_weights(gqa, &c, hf, "gqa");

    // The permutation is really there: the raw stored q differs from HF's layout.
    float *raw = read_tensor(gqa, "blk.0.attn_q.weight");
    float *q = malloc(24 * 16 * sizeof(float));
    CHECK(gguf_llama_read(gqa, &c, PARAM_PROJ_FIRST + PROJ_Q, 0, q, err, sizeof(err)) == 0, "%s",
          err);
    CHECK(raw && memcmp(raw, q, 24 * 16 * sizeof(float)) != 0, "q is stored unpermuted");
    free(raw);
    free(q);

    CHECK(gguf_llama_config(tied, &c, err, sizeof(err)) == 0, "tied config: %s", err);
    CHECK(c.vocab_size == 24 && c.dim == 16 && c.ffn_dim == 16 && c.n_layers == 1 &&
              c.n_heads == 2 && c.n_kv_heads == 2 && c.head_dim == 8 && c.rope_theta == 10000.f &&
              c.tie_embeddings,
          "tied config fields (defaults: head_count_kv = head_count, freq_base 10000)");
    CHECK(gguf_llama_check(tied, &c, err, sizeof(err)) == 0, "tied check: %s", err);
    check_model_weights(tied, &c, hf, "tied");
    const char *dtype = gguf_llama_dtype(tied, PARAM_PROJ_FIRST + PROJ_K, 0);
    CHECK(dtype && strcmp(dtype, "F16") == 0, "k_proj dtype %s", dtype ? dtype : "NULL");
    dtype = gguf_llama_dtype(tied, PARAM_MLP_NORM, 0);
    CHECK(dtype && strcmp(dtype, "F32") == 0, "norm dtype %s", dtype ? dtype : "NULL");
    CHECK(!gguf_llama_dtype(tied, PARAM_LM_HEAD, 0), "tied model has an output.weight dtype");

    float scratch[16];
    CHECK(gguf_llama_read(tied, &c, PARAM_LM_HEAD, 0, scratch, err, sizeof(err)) < 0 &&
              strstr(err, "tied"),
          "tied LM head: %s", err);
    CHECK(gguf_llama_read(tied, &c, PARAM_ATTN_NORM, 1, scratch, err, sizeof(err)) < 0 &&
              strstr(err, "layer 1 is out of range"),
          "layer out of range: %s", err);
    c.dim = 8; // a config that does not match the file is refused, not overrun
    CHECK(gguf_llama_read(tied, &c, PARAM_ATTN_NORM, 0, scratch, err, sizeof(err)) < 0 &&
              strstr(err, "blk.0.attn_norm.weight"),
          "mismatched config: %s", err);
done:
    gguf_close(gqa);
    gguf_close(tied);
    safetensors_close(hf);
}

// --- hand-made files -------------------------------------------------------------------------

typedef struct {
    uint8_t *bytes;
    size_t len, cap;
} Buf;

static void put(Buf *b, const void *p, size_t n) {
    if (b->len + n > b->cap) {
        b->cap = 2 * (b->len + n);
        b->bytes = realloc(b->bytes, b->cap);
    }
    memcpy(b->bytes + b->len, p, n);
    b->len += n;
}
static void put_u32(Buf *b, uint32_t v) {
    put(b, &v, 4);
}
static void put_u64(Buf *b, uint64_t v) {
    put(b, &v, 8);
}
static void put_str(Buf *b, const char *s) {
    put_u64(b, strlen(s));
    put(b, s, strlen(s));
}
static void put_header(Buf *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
    put(b, "GGUF", 4);
    put_u32(b, version);
    put_u64(b, n_tensors);
    put_u64(b, n_kv);
}
static void kv_u32(Buf *b, const char *key, uint32_t v) {
    put_str(b, key);
    put_u32(b, GGUF_UINT32);
    put_u32(b, v);
}
static void kv_f32(Buf *b, const char *key, float v) {
    put_str(b, key);
    put_u32(b, GGUF_FLOAT32);
    put(b, &v, 4);
}
static void kv_str(Buf *b, const char *key, const char *v) {
    put_str(b, key);
    put_u32(b, GGUF_STRING);
    put_str(b, v);
}
static void tensor_info(Buf *b, const char *name, uint32_t n_dims, const uint64_t *ne,
                        uint32_t type, uint64_t offset) {
    put_str(b, name);
    put_u32(b, n_dims);
    for (uint32_t d = 0; d < n_dims; d++) put_u64(b, ne[d]);
    put_u32(b, type);
    put_u64(b, offset);
}
// Zero bytes up to a multiple of align, then n zero bytes of data.
static void pad_and_data(Buf *b, size_t align, size_t n) {
    static const uint8_t zeros[4096];
    put(b, zeros, (align - b->len % align) % align);
    for (; n > sizeof(zeros); n -= sizeof(zeros)) put(b, zeros, sizeof(zeros));
    put(b, zeros, n);
}

static void write_bytes(const char *file, const void *bytes, size_t n) {
    FILE *out = fopen(file, "wb");
    if (!out || fwrite(bytes, 1, n, out) != n || fclose(out) != 0) {
        perror(file);
        exit(2);
    }
}

// Writes b to path and frees it; opening must fail with a message naming the file and
// containing expect.
static void expect_open_error(Buf *b, const char *what, const char *expect) {
    write_bytes(path, b->bytes, b->len);
    free(b->bytes);
    *b = (Buf){0};
    char msg[512] = "";
    Gguf *g = gguf_open(path, msg, sizeof(msg));
    CHECK(!g, "%s: opened a malformed file", what);
    CHECK(strstr(msg, path) && strstr(msg, expect), "%s: message '%s' lacks the path or '%s'", what,
          msg, expect);
    gguf_close(g);
}

// One F32 tensor 'x' [4] whose info fields are given, after the header and a name key.
static void one_tensor(Buf *b, uint32_t n_dims, const uint64_t *ne, uint32_t type,
                       uint64_t offset) {
    put_header(b, 3, 1, 1);
    kv_str(b, "general.name", "t");
    tensor_info(b, "x", n_dims, ne, type, offset);
    pad_and_data(b, 32, 64);
}

static void test_malformed(void) {
    Buf b = {0};
    put(&b, "GGUF", 4);
    expect_open_error(&b, "4-byte file", "truncated: file is 4 bytes");

    put_header(&b, 3, 0, 0);
    memcpy(b.bytes, "GGML", 4);
    expect_open_error(&b, "bad magic", "not a GGUF file");
    put_header(&b, 1, 0, 0);
    expect_open_error(&b, "version 1", "GGUF version 1 is not supported");
    put_header(&b, 4, 0, 0);
    expect_open_error(&b, "version 4", "GGUF version 4 is not supported");

    put_header(&b, 3, 0, 1);
    put_u64(&b, (uint64_t)1 << 60); // key length
    put(&b, "general.name", 12);
    expect_open_error(&b, "key length past the end", "truncated: key/value #0");
    put_header(&b, 3, 0, 1);
    put_str(&b, "general.name");
    put_u32(&b, GGUF_STRING);
    put_u64(&b, 1000); // value length
    put(&b, "short", 5);
    expect_open_error(&b, "string value past the end", "value of key 'general.name' (STRING)");

    put_header(&b, 3, 0, (uint64_t)1 << 62);
    kv_u32(&b, "a", 1);
    expect_open_error(&b, "absurd key/value count", "key/values but the rest of the file");
    put_header(&b, 3, (uint64_t)1 << 40, 0);
    put_str(&b, "x");
    expect_open_error(&b, "absurd tensor count", "tensors but the rest of the file");
    put_header(&b, 3, 0, 1);
    put_str(&b, "tokens");
    put_u32(&b, GGUF_ARRAY);
    put_u32(&b, GGUF_STRING);
    put_u64(&b, (uint64_t)1 << 61);
    put_str(&b, "a");
    expect_open_error(&b, "absurd array count",
                      "key 'tokens': truncated or corrupt: an array of 2305843009213693952 STRING");
    put_header(&b, 3, 0, 1);
    put_str(&b, "k");
    put_u32(&b, 13);
    put_u32(&b, 0);
    expect_open_error(&b, "unknown value type", "key 'k': value type 13 is not a GGUF value type");
    put_header(&b, 3, 0, 1);
    put_str(&b, "nested");
    put_u32(&b, GGUF_ARRAY);
    for (int depth = 0; depth < 10; depth++) {
        put_u32(&b, GGUF_ARRAY);
        put_u64(&b, 1);
    }
    put_u32(&b, GGUF_UINT8);
    put_u64(&b, 0);
    expect_open_error(&b, "arrays nested too deep", "nest deeper than 8 levels");
    put_header(&b, 3, 0, 2);
    kv_u32(&b, "a", 1);
    kv_u32(&b, "a", 2);
    expect_open_error(&b, "duplicate key", "key 'a' appears twice");
    put_header(&b, 3, 0, 1);
    kv_u32(&b, "general.alignment", 48);
    expect_open_error(&b, "alignment not a power of two", "general.alignment is 48");
    put_header(&b, 3, 0, 1);
    kv_str(&b, "general.alignment", "32");
    expect_open_error(&b, "alignment of the wrong type", "'general.alignment' holds a STRING");

    const uint64_t four[4] = {4, 1, 1, 1};
    one_tensor(&b, 1, four, GGML_F32, 64);
    expect_open_error(&b, "tensor data out of range", "tensor 'x': data [64, +16) runs past");
    one_tensor(&b, 1, four, GGML_F32, 8);
    expect_open_error(&b, "misaligned offset", "tensor 'x': data offset 8 is not a multiple");
    one_tensor(&b, 1, four, 99, 0);
    expect_open_error(&b, "unknown tensor type", "tensor 'x': unknown ggml type 99");
    one_tensor(&b, 1, four, 4, 0); // Q4_2: retired by ggml
    expect_open_error(&b, "retired tensor type", "unknown ggml type 4");
    const uint64_t five[5] = {4, 1, 1, 1, 1};
    one_tensor(&b, 5, five, GGML_F32, 0);
    expect_open_error(&b, "n_dims > 4", "tensor 'x': n_dims is 5, expected at most 4");
    one_tensor(&b, 1, four, GGML_Q4_0, 0);
    expect_open_error(&b, "partial block", "ne[0] = 4 is not a multiple of the Q4_0 block size 32");
    const uint64_t huge[2] = {(uint64_t)1 << 40, (uint64_t)1 << 30};
    one_tensor(&b, 2, huge, GGML_F32, 0);
    expect_open_error(&b, "element count overflow", "has more than 2^63 elements");
    const uint64_t big[2] = {(uint64_t)1 << 32, (uint64_t)1 << 28};
    one_tensor(&b, 2, big, GGML_F32, 0);
    expect_open_error(&b, "byte size past the file", "runs past the end of the data section");
    put_header(&b, 3, 2, 0);
    tensor_info(&b, "x", 1, four, GGML_F32, 0);
    tensor_info(&b, "x", 1, four, GGML_F32, 32);
    pad_and_data(&b, 32, 64);
    expect_open_error(&b, "duplicate tensor", "tensor 'x' appears twice");
}

// Values that open fine: every value type, arrays of arrays (skipped, but their length
// reported), version 2, a type that opens but is not read, integer range limits.
static void test_edge_values(void) {
    Buf b = {0};
    put_header(&b, 2, 1, 5);
    put_str(&b, "big");
    put_u32(&b, GGUF_UINT64);
    put_u64(&b, UINT64_MAX);
    put_str(&b, "neg");
    put_u32(&b, GGUF_INT8);
    put(&b, &(int8_t){-5}, 1);
    put_str(&b, "grid"); // [[1, 2], ["a"]]
    put_u32(&b, GGUF_ARRAY);
    put_u32(&b, GGUF_ARRAY);
    put_u64(&b, 2);
    put_u32(&b, GGUF_INT16);
    put_u64(&b, 2);
    put(&b, (int16_t[]){1, 2}, 4);
    put_u32(&b, GGUF_STRING);
    put_u64(&b, 1);
    put_str(&b, "a");
    put_str(&b, "f64s");
    put_u32(&b, GGUF_ARRAY);
    put_u32(&b, GGUF_FLOAT64);
    put_u64(&b, 2);
    put(&b, (double[]){0.25, -3.5}, 16);
    kv_f32(&b, "f", 1.5f);
    const uint64_t ne[2] = {256, 1};
    tensor_info(&b, "q2", 2, ne, 10, 0); // Q2_K: 84 bytes
    pad_and_data(&b, 32, 84);
    write_bytes(path, b.bytes, b.len);
    free(b.bytes);

    Gguf *g = gguf_open(path, err, sizeof(err));
    CHECK(g, "edge values: %s", err);
    if (!g) return;
    int64_t v;
    CHECK(gguf_get_int(g, "big", &v, err, sizeof(err)) < 0 && strstr(err, "does not fit"),
          "UINT64_MAX as int64: %s", err);
    CHECK(gguf_get_int(g, "neg", &v, err, sizeof(err)) == 0 && v == -5, "INT8 -5: %lld",
          (long long)v);
    GgufType et;
    uint64_t len;
    CHECK(gguf_get_array(g, "grid", &et, &len, err, sizeof(err)) == 0 && et == GGUF_ARRAY &&
              len == 2,
          "array of arrays: %s", err);
    CHECK(gguf_array_int(g, "grid", 0, &v, err, sizeof(err)) < 0 && strstr(err, "array of ARRAY"),
          "element of an array of arrays: %s", err);
    double x;
    CHECK(gguf_array_float(g, "f64s", 1, &x, err, sizeof(err)) == 0 && x == -3.5, "f64s[1]");
    CHECK(gguf_get_float(g, "f", &x, err, sizeof(err)) == 0 && x == 1.5, "f");
    CHECK(gguf_get_float(g, "neg", &x, err, sizeof(err)) < 0 && strstr(err, "holds a INT8"),
          "int read as float: %s", err);
    const GgufTensor *t = gguf_find_tensor(g, "q2");
    CHECK(t && t->nbytes == 84 && strcmp(ggml_type_name(t->type), "Q2_K") == 0, "Q2_K info");
    float out[256];
    CHECK(t && gguf_tensor_to_f32(g, t, out, err, sizeof(err)) < 0 &&
              strstr(err, "tensor 'q2' is Q2_K, which is not read"),
          "unread type: %s", err);
    CHECK(!gguf_find_tensor(g, "q") && !gguf_find_tensor(g, "q2x"), "find of absent names");
    gguf_close(g);
}

// A minimal Llama file (dim 8, 2 heads over 1 KV head, head_dim 4, ffn 8, 1 layer, vocab 4,
// F32 zeros) with one thing changed: architecture, a tensor left out, one added, one whose
// out dimension is wrong, or one more UINT32 key.
typedef struct {
    const char *arch, *omit, *extra, *misshape, *key;
    uint32_t key_value;
} LlamaChange;

static void write_llama(LlamaChange change) {
    static const struct {
        const char *name;
        uint64_t ne0, ne1; // ne1 = 0: a vector
    } params[] = {
        {"token_embd.weight", 8, 4},     {"blk.0.attn_norm.weight", 8, 0},
        {"blk.0.attn_q.weight", 8, 8},   {"blk.0.attn_k.weight", 8, 4},
        {"blk.0.attn_v.weight", 8, 4},   {"blk.0.attn_output.weight", 8, 8},
        {"blk.0.ffn_norm.weight", 8, 0}, {"blk.0.ffn_gate.weight", 8, 8},
        {"blk.0.ffn_up.weight", 8, 8},   {"blk.0.ffn_down.weight", 8, 8},
        {"output_norm.weight", 8, 0},    {"output.weight", 8, 4},
    };
    int n = (int)(sizeof(params) / sizeof(params[0]));
    Buf b = {0};
    const char *arch = change.arch ? change.arch : "llama";
    put_header(&b, 3, (uint64_t)(n - (change.omit != NULL) + (change.extra != NULL)),
               8 + (change.key != NULL));
    kv_str(&b, "general.architecture", arch);
    if (change.key) kv_u32(&b, change.key, change.key_value);
    kv_u32(&b, "llama.block_count", 1);
    kv_u32(&b, "llama.context_length", 16);
    kv_u32(&b, "llama.embedding_length", 8);
    kv_u32(&b, "llama.feed_forward_length", 8);
    kv_u32(&b, "llama.attention.head_count", 2);
    kv_u32(&b, "llama.attention.head_count_kv", 1);
    kv_f32(&b, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
    uint64_t offset = 0;
    for (int i = 0; i <= n; i++) {
        const char *name = i < n ? params[i].name : change.extra;
        if (!name || (change.omit && strcmp(name, change.omit) == 0)) continue;
        uint64_t ne[2] = {i < n ? params[i].ne0 : 8, i < n ? params[i].ne1 : 0};
        if (change.misshape && strcmp(name, change.misshape) == 0) ne[1] += 1;
        tensor_info(&b, name, ne[1] ? 2 : 1, ne, GGML_F32, offset);
        offset += (ne[0] * (ne[1] ? ne[1] : 1) * 4 + 31) / 32 * 32;
    }
    pad_and_data(&b, 32, offset);
    write_bytes(path, b.bytes, b.len);
    free(b.bytes);
}

// Opens the file at path and runs config and check: 0, or -1 with err set.
static int open_llama(void) {
    Gguf *g = gguf_open(path, err, sizeof(err));
    if (!g) return -1;
    LlamaConfig cfg;
    int rc = gguf_llama_config(g, &cfg, err, sizeof(err)) < 0
                 ? -1
                 : gguf_llama_check(g, &cfg, err, sizeof(err));
    gguf_close(g);
    return rc;
}

static void test_llama_errors(void) {
    write_llama((LlamaChange){0});
    CHECK(open_llama() == 0, "the minimal Llama is refused: %s", err);
    write_llama((LlamaChange){.arch = "gemma"});
    CHECK(open_llama() < 0 && strstr(err, "general.architecture is 'gemma', expected 'llama'"),
          "wrong architecture: %s", err);
    write_llama((LlamaChange){.omit = "blk.0.ffn_up.weight"});
    CHECK(open_llama() < 0 && strstr(err, "tensor 'blk.0.ffn_up.weight' is missing"),
          "missing tensor: %s", err);
    write_llama((LlamaChange){.misshape = "blk.0.attn_k.weight"});
    CHECK(open_llama() < 0 && strstr(err, "tensor 'blk.0.attn_k.weight' has 2 dims, ne [8, 5") &&
              strstr(err, "expected ne [8, 4] (HF [4, 8])"),
          "mis-shaped tensor: %s", err);
    write_llama((LlamaChange){.extra = "rope_freqs.weight"});
    CHECK(open_llama() < 0 && strstr(err, "unexpected tensor 'rope_freqs.weight'"),
          "extra tensor: %s", err);
    write_llama((LlamaChange){.extra = "blk.1.attn_norm.weight"});
    CHECK(open_llama() < 0 && strstr(err, "unexpected tensor 'blk.1.attn_norm.weight'"),
          "extra layer: %s", err);
    write_llama((LlamaChange){.key = "llama.rope.dimension_count", .key_value = 2});
    CHECK(open_llama() < 0 &&
              strstr(err, "llama.rope.dimension_count = 2, expected the head size 4"),
          "partial rotary: %s", err);
    write_llama((LlamaChange){.key = "llama.attention.key_length", .key_value = 3});
    CHECK(open_llama() < 0 && strstr(err, "head size 3 is odd"), "odd head size: %s", err);
    write_llama((LlamaChange){.key = "llama.attention.value_length", .key_value = 0});
    CHECK(open_llama() < 0 && strstr(err, "llama.attention.value_length is 0, expected a count"),
          "zero count: %s", err);
}

// Every prefix of a valid file is refused with a message about where it ends.
static void test_truncation(void) {
    char buf[4096];
    FILE *in = fopen(fixture("gguf_llama_tied.gguf", buf, sizeof(buf)), "rb");
    CHECK(in, "cannot read %s", buf);
    if (!in) return;
    uint8_t whole[8192];
    size_t size = fread(whole, 1, sizeof(whole), in);
    fclose(in);
    int lengths = 0, refused = 0;
    // Every length through the metadata and tensor infos (they end before byte 1408), then
    // lengths through the data section.
    for (size_t len = 0; len < size; len += len < 1500 ? 1 : 97) {
        write_bytes(path, whole, len);
        Gguf *g = gguf_open(path, err, sizeof(err));
        lengths++;
        bool clear = strstr(err, path) && (strstr(err, "truncated") || strstr(err, "past the end"));
        refused += !g && clear;
        if (g || !clear) CHECK(false, "prefix of %zu bytes: %s", len, g ? "opened" : err);
        gguf_close(g);
    }
    printf("truncation: %d of %d prefixes refused clearly\n", refused, lengths);
}

// Random byte changes to a valid file: each opens or is refused with a message, never worse
// (meaningful under ASan; tests/fuzz/fuzz_gguf.c goes further).
static void test_mutations(void) {
    char buf[4096];
    FILE *in = fopen(fixture("gguf_llama_tied.gguf", buf, sizeof(buf)), "rb");
    if (!in) return;
    uint8_t whole[8192], mutated[8192];
    size_t size = fread(whole, 1, sizeof(whole), in);
    fclose(in);
    uint64_t state = 12345;
    int opened = 0, refused = 0;
    for (int trial = 0; trial < 1000; trial++) {
        memcpy(mutated, whole, size);
        for (int k = 0; k < 4; k++) {
            state = state * 6364136223846793005ull + 1442695040888963407ull;
            size_t at = (size_t)(state >> 33) % 1408; // the metadata and tensor infos
            mutated[at] = (uint8_t)(state >> 13);
        }
        write_bytes(path, mutated, size);
        err[0] = 0;
        Gguf *g = gguf_open(path, err, sizeof(err));
        if (g) {
            LlamaConfig cfg;
            if (gguf_llama_config(g, &cfg, err, sizeof(err)) == 0)
                gguf_llama_check(g, &cfg, err, sizeof(err));
            opened++;
        } else {
            refused += strstr(err, path) != NULL;
        }
        gguf_close(g);
    }
    CHECK(opened + refused == 1000, "%d refusals lacked the path", 1000 - opened - refused);
    printf("mutations: %d opened, %d refused\n", opened, refused);
}

int main(void) {
    if (!mkdtemp(tmp_dir)) {
        perror("mkdtemp");
        return 2;
    }
    snprintf(path, sizeof(path), "%s/test.gguf", tmp_dir);
    test_vocab_spm();
    test_vocab_bpe();
    test_dequant();
    test_model();
    test_malformed();
    test_edge_values();
    test_llama_errors();
    test_truncation();
    test_mutations();
    remove(path);
    rmdir(tmp_dir);
    return check_summary();
}
