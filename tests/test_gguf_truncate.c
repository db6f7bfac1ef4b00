// The GGUF writer (io/gguf_writer.h) and `are truncate` (cli/cmd_truncate.c) built on it:
//   - copies of two fixtures (the fuzz seed vocab.gguf: every scalar type, string arrays, an
//     array of arrays, Q4_0/Q6_K tensors; gguf_quants.gguf: alignment 64, eleven types) with
//     values replaced and added and a reordered subset of the tensors: the layout (header
//     counts, each tensor info's offset, the data at data start + offset, zero padding, the
//     file size) as the GGUF spec computes it here, every other key's type and bytes and every
//     tensor's shape, type and bytes equal to the source's, the set values read back;
//   - each refusal of gguf_write_copy leaves no file, and a failed write keeps the old file;
//   - `are truncate` on the two-block fixture model and on SmolLM2-135M-Instruct (skipped
//     without scripts/fetch-smollm2.sh): exactly the kept tensors and keys, and the invariant
//     the copy exists for - its hidden_states[0..N-1] equal the whole model's bit for bit, and
//     its hidden_states[N] is the final norm of the model's hidden_states[N] (the input of the
//     block it lacks).
#include "backend_cpu.h"
#include "check.h"
#include "commands.h"
#include "gguf.h"
#include "gguf_writer.h"
#include "hf_fixture.h"
#include "llama.h"
#include "model_load.h"
#include "model_session.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SMOLLM2_PATH "models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf"
#define MAX_TENSORS  512

// path of a file of the source tree (run from it or with ARE_SOURCE_DIR set).
static void source_path(char *path, size_t len, const char *name) {
    const char *root = getenv("ARE_SOURCE_DIR");
    snprintf(path, len, "%s/%s", root ? root : ".", name);
}

static bool exists(const char *path) {
    return access(path, F_OK) == 0;
}

static bool same_name(GgufString a, GgufString b) {
    return a.len == b.len && !memcmp(a.ptr, b.ptr, a.len);
}

static uint64_t u64_at(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static uint64_t padded(uint64_t n, uint64_t alignment) {
    return (n + alignment - 1) / alignment * alignment;
}

static const GgufValue *find_set(const GgufValue *set, int n_set, GgufString key) {
    for (int k = 0; k < n_set; k++)
        if (key.len == strlen(set[k].key) && !memcmp(key.ptr, set[k].key, key.len)) return &set[k];
    return NULL;
}

// Bytes of a set value as the spec stores it.
static uint64_t value_size(const GgufValue *v) {
    static const uint64_t size[] = {
        [GGUF_UINT8] = 1,  [GGUF_INT8] = 1,  [GGUF_UINT16] = 2,  [GGUF_INT16] = 2,
        [GGUF_UINT32] = 4, [GGUF_INT32] = 4, [GGUF_FLOAT32] = 4, [GGUF_BOOL] = 1,
        [GGUF_UINT64] = 8, [GGUF_INT64] = 8, [GGUF_FLOAT64] = 8};
    return v->type == GGUF_STRING ? 8 + strlen(v->s) : size[v->type];
}

// The set value under v->key reads back from copy with its type.
static void check_set_value(const Gguf *copy, GgufType type, const GgufValue *v) {
    char err[512] = "";
    CHECK(type == v->type, "%s: type %d, expected %d", v->key, (int)type, (int)v->type);
    if (v->type == GGUF_STRING) {
        GgufString s = {"", 0};
        CHECK(gguf_get_string(copy, v->key, &s, err, sizeof err) == 0 && s.len == strlen(v->s) &&
                  !memcmp(s.ptr, v->s, s.len),
              "%s: '%.*s', expected '%s' %s", v->key, (int)s.len, s.ptr, v->s, err);
    } else if (v->type == GGUF_FLOAT32 || v->type == GGUF_FLOAT64) {
        double f = 0;
        double want = v->type == GGUF_FLOAT32 ? (float)v->f : v->f;
        CHECK(gguf_get_float(copy, v->key, &f, err, sizeof err) == 0 && f == want,
              "%s: %.17g, expected %.17g %s", v->key, f, want, err);
    } else {
        int64_t i = 0;
        CHECK(gguf_get_int(copy, v->key, &i, err, sizeof err) == 0 && i == v->i,
              "%s: %lld, expected %lld %s", v->key, (long long)i, (long long)v->i, err);
    }
}

// copy holds src's keys, with src's types and bytes, except the set ones, which hold the set
// values; and the set keys src lacks. Both lists are in key order, so one merge walk compares.
static void check_metadata(const Gguf *copy, const Gguf *src, const GgufValue *set, int n_set) {
    int64_t n_copy = gguf_n_kv(copy), n_src = gguf_n_kv(src), j = 0, n_added = 0;
    for (int k = 0; k < n_set; k++) n_added += !gguf_has(src, set[k].key);
    CHECK(n_copy == n_src + n_added, "%lld keys, expected %lld + %lld", (long long)n_copy,
          (long long)n_src, (long long)n_added);
    int same = 0;
    for (int64_t i = 0; i < n_copy; i++) {
        GgufKvBytes c = gguf_kv_bytes(copy, i);
        const GgufValue *v = find_set(set, n_set, c.key);
        bool in_src = j < n_src && same_name(gguf_kv_bytes(src, j).key, c.key);
        CHECK(in_src || v, "key '%.*s' is neither the source's nor set", (int)c.key.len, c.key.ptr);
        if (v) {
            check_set_value(copy, c.type, v);
        } else if (in_src) {
            GgufKvBytes s = gguf_kv_bytes(src, j);
            bool equal =
                c.type == s.type && c.n_bytes == s.n_bytes && !memcmp(c.bytes, s.bytes, c.n_bytes);
            CHECK(equal, "key '%.*s': %llu bytes of type %d, the source's %llu of type %d differ",
                  (int)c.key.len, c.key.ptr, (unsigned long long)c.n_bytes, (int)c.type,
                  (unsigned long long)s.n_bytes, (int)s.type);
            same += equal;
        }
        j += in_src;
    }
    CHECK(j == n_src, "%lld of the source's %lld keys are in the copy", (long long)j,
          (long long)n_src);
    printf("  %d copied keys byte for byte, %d set\n", same, n_set);
}

// copy's tensors are want[0..n) in that order, with their names, shapes, types and bytes.
static void check_tensors(const Gguf *copy, const GgufTensor *const *want, int n) {
    CHECK(gguf_n_tensors(copy) == n, "%d tensors, expected %d", gguf_n_tensors(copy), n);
    int same = 0;
    for (int i = 0; i < n && i < gguf_n_tensors(copy); i++) {
        const GgufTensor *c = gguf_tensor(copy, i), *w = want[i];
        bool equal = same_name(c->name, w->name) && c->type == w->type && c->n_dims == w->n_dims &&
                     !memcmp(c->ne, w->ne, sizeof c->ne) && c->nbytes == w->nbytes &&
                     !memcmp(c->data, w->data, c->nbytes);
        CHECK(equal, "tensor %d '%.*s' differs from the source's '%.*s'", i, (int)c->name.len,
              c->name.ptr, (int)w->name.len, w->name.ptr);
        same += equal;
    }
    printf("  %d tensors byte for byte\n", same);
}

// The file's layout computed from the GGUF spec: "GGUF", version 3, the counts; the key/values
// and tensor infos (sizes from src and set), padding to the alignment, then each tensor at the
// offset its info holds - the previous one's plus its padded size - zero padding after each,
// and nothing else.
static void check_layout(const char *path, const Gguf *src, const GgufValue *set, int n_set,
                         const GgufTensor *const *tensors, int n) {
    size_t size;
    uint8_t *raw = (uint8_t *)read_file(path, &size);
    CHECK(raw && size >= 24, "%s: unreadable or shorter than a header", path);
    if (!raw || size < 24) {
        free(raw);
        return;
    }
    uint64_t header = 24, n_kv = (uint64_t)gguf_n_kv(src), align = gguf_alignment(src);
    for (int64_t i = 0; i < gguf_n_kv(src); i++) {
        GgufKvBytes kv = gguf_kv_bytes(src, i);
        const GgufValue *v = find_set(set, n_set, kv.key);
        header += 8 + kv.key.len + 4 + (v ? value_size(v) : kv.n_bytes);
    }
    for (int k = 0; k < n_set; k++) {
        if (gguf_has(src, set[k].key)) continue;
        header += 8 + strlen(set[k].key) + 4 + value_size(&set[k]);
        n_kv++;
    }
    uint32_t version;
    memcpy(&version, raw + 4, 4);
    CHECK(!memcmp(raw, "GGUF", 4) && version == 3 && u64_at(raw + 8) == (uint64_t)n &&
              u64_at(raw + 16) == n_kv,
          "%s: header is not GGUF v3 with %d tensors and %llu keys", path, n,
          (unsigned long long)n_kv);
    uint64_t info = header, data_size = 0;
    for (int i = 0; i < n; i++)
        header += 8 + tensors[i]->name.len + 4 + 8 * tensors[i]->n_dims + 12;
    uint64_t data_start = padded(header, align);
    bool ok = true;
    for (int i = 0; i < n && ok; i++) {
        const GgufTensor *t = tensors[i];
        info += 8 + t->name.len + 4 + 8 * t->n_dims + 4; // to the offset field
        uint64_t at = data_start + data_size, end = at + padded(t->nbytes, align);
        ok = info + 8 <= size && u64_at(raw + info) == data_size && end <= size &&
             !memcmp(raw + at, t->data, t->nbytes);
        for (uint64_t p = at + t->nbytes; ok && p < end; p++) ok = raw[p] == 0;
        CHECK(ok, "%s: tensor %d '%.*s' is not at data offset %llu with zero padding", path, i,
              (int)t->name.len, t->name.ptr, (unsigned long long)data_size);
        info += 8;
        data_size = end - data_start;
    }
    for (uint64_t p = header; ok && p < data_start; p++) ok = raw[p] == 0;
    CHECK(ok && size == data_start + data_size,
          "%s: %zu bytes, expected %llu (data at %llu, alignment %llu)", path, size,
          (unsigned long long)(data_start + data_size), (unsigned long long)data_start,
          (unsigned long long)align);
    free(raw);
}

// Copies src_name's tensors (in the order of `order`, indexes into the file) with set applied,
// and checks the copy.
static void check_copy(const char *dir, const char *src_name, const GgufValue *set, int n_set,
                       const int *order, int n) {
    char src_path[4096], path[4096], err[512] = "";
    printf("copy of %s\n", src_name);
    source_path(src_path, sizeof src_path, src_name);
    join(path, sizeof path, dir, "copy.gguf");
    Gguf *src = gguf_open(src_path, err, sizeof err);
    CHECK(src, "%s", err);
    if (!src) return;
    const GgufTensor *tensors[MAX_TENSORS];
    for (int i = 0; i < n; i++) tensors[i] = gguf_tensor(src, order[i]);
    CHECK(gguf_write_copy(path, src, set, n_set, tensors, n, err, sizeof err) == 0, "%s", err);
    Gguf *copy = gguf_open(path, err, sizeof err);
    CHECK(copy, "%s", err);
    if (copy) {
        check_layout(path, src, set, n_set, tensors, n);
        check_metadata(copy, src, set, n_set);
        check_tensors(copy, tensors, n);
    }
    gguf_close(copy);
    gguf_close(src);
    join(path, sizeof path, dir, "copy.gguf.tmp");
    CHECK(!exists(path), "%s is left behind", path);
}

static void test_copies(const char *dir) {
    // Replaced with another type, replaced in kind, and added: every scalar type and a string.
    GgufValue vocab_set[] = {
        {.key = "t.u8", .type = GGUF_UINT16, .i = 300},
        {.key = "tokenizer.ggml.model", .type = GGUF_STRING, .s = "llama"},
        {.key = "t.f64", .type = GGUF_FLOAT64, .f = -1.0 / 3},
        {.key = "a.first", .type = GGUF_INT8, .i = -128},
        {.key = "z.u32", .type = GGUF_UINT32, .i = UINT32_MAX},
        {.key = "z.i32", .type = GGUF_INT32, .i = INT32_MIN},
        {.key = "z.i16", .type = GGUF_INT16, .i = -2},
        {.key = "z.u64", .type = GGUF_UINT64, .i = INT64_MAX},
        {.key = "z.i64", .type = GGUF_INT64, .i = INT64_MIN},
        {.key = "z.f32", .type = GGUF_FLOAT32, .f = 0.1},
        {.key = "z.bool", .type = GGUF_BOOL, .i = 1},
        {.key = "z.text", .type = GGUF_STRING, .s = "h\xc3\xa9llo, \xe4\xb8\x96\xe7\x95\x8c"},
        {.key = "z.empty", .type = GGUF_STRING, .s = ""},
    };
    check_copy(dir, "tests/fuzz/corpus/gguf/vocab.gguf", vocab_set,
               sizeof vocab_set / sizeof vocab_set[0], (int[]){1, 0}, 2);
    // Alignment 64; every other tensor, last first; no values set.
    int order[11];
    for (int i = 0; i < 11; i++) order[i] = 20 - 2 * i;
    check_copy(dir, "tests/ref/fixtures/gguf_quants.gguf", NULL, 0, order, 11);
    check_copy(dir, "tests/ref/fixtures/gguf_quants.gguf", NULL, 0, NULL, 0);
}

// Each refusal names the problem and writes nothing; a write that fails keeps the old file.
static void test_refusals(const char *dir) {
    char src_path[4096], path[4096], tmp[4096 + 8], err[512];
    fixture_path(src_path, sizeof src_path, "gguf_llama_tied.gguf");
    join(path, sizeof path, dir, "refused.gguf");
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    Gguf *src = gguf_open(src_path, err, sizeof err);
    CHECK(src, "%s", err);
    if (!src) return;
    const GgufTensor *t0 = gguf_tensor(src, 0);
    struct {
        GgufValue value;
        const GgufTensor *tensors[2];
        int n_tensors;
        const char *message;
    } cases[] = {
        {{.key = "x", .type = GGUF_INT8, .i = 128}, {t0}, 1, "out of range for its type"},
        {{.key = "x", .type = GGUF_UINT64, .i = -1}, {t0}, 1, "out of range for its type"},
        {{.key = "x", .type = GGUF_BOOL, .i = 2}, {t0}, 1, "out of range for its type"},
        {{.key = "x", .type = GGUF_ARRAY}, {t0}, 1, "cannot be set"},
        {{.key = "x", .type = GGUF_STRING}, {t0}, 1, "cannot be set"},
        {{.key = "x", .type = (GgufType)13}, {t0}, 1, "cannot be set"},
        {{.key = "", .type = GGUF_INT8}, {t0}, 1, "has no key"},
        {{.key = "general.alignment", .type = GGUF_UINT32, .i = 64}, {t0}, 1, "cannot be set"},
        {{.key = "x", .type = GGUF_INT8}, {t0, t0}, 2, "is listed twice"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        err[0] = '\0';
        int rc = gguf_write_copy(path, src, &cases[c].value, 1, cases[c].tensors,
                                 cases[c].n_tensors, err, sizeof err);
        CHECK(rc == -1 && strstr(err, cases[c].message) && !exists(path) && !exists(tmp),
              "case %zu: rc %d, '%s' (wanted '%s', no file)", c, rc, err, cases[c].message);
    }
    GgufValue twice[] = {{.key = "x", .type = GGUF_INT8}, {.key = "x", .type = GGUF_INT16}};
    CHECK(gguf_write_copy(path, src, twice, 2, NULL, 0, err, sizeof err) == -1 &&
              strstr(err, "'x' is set twice") && !exists(path),
          "a key set twice: '%s'", err);
    char nowhere[4096];
    join(nowhere, sizeof nowhere, dir, "no/such/dir.gguf");
    CHECK(gguf_write_copy(nowhere, src, NULL, 0, NULL, 0, err, sizeof err) == -1 &&
              strstr(err, "cannot write"),
          "a missing folder: '%s'", err);

    // An old file at path stays as it was when the write fails (here: path.tmp is a folder),
    // and is replaced by a successful one.
    write_text(path, "old");
    CHECK(mkdir(tmp, 0700) == 0, "mkdir %s", tmp);
    CHECK(gguf_write_copy(path, src, NULL, 0, &t0, 1, err, sizeof err) == -1 &&
              strstr(err, "cannot write"),
          "an unwritable .tmp: '%s'", err);
    size_t len;
    char *old = read_file(path, &len);
    CHECK(old && !strcmp(old, "old") && exists(tmp), "the old file was changed");
    free(old);
    rmdir(tmp);
    CHECK(gguf_write_copy(path, src, NULL, 0, &t0, 1, err, sizeof err) == 0, "%s", err);
    Gguf *copy = gguf_open(path, err, sizeof err);
    CHECK(copy && gguf_n_tensors(copy) == 1 && !exists(tmp), "the old file was not replaced: %s",
          err);
    gguf_close(copy);
    gguf_close(src);
}

// --- are truncate --------------------------------------------------------------------------

static int run_truncate(const char *model, const char *layers, const char *out) {
    char *argv[] = {"truncate", (char *)model, "--layers", (char *)layers, "-o", (char *)out};
    return cmd_truncate(6, argv);
}

// The truncated copy's tensors are the source's whole-model ones and blocks 0..layers-1, in the
// source's order, and its keys the source's with the three documented ones set.
static void check_truncated_file(const char *src_path, const char *path, int layers) {
    char err[512] = "";
    Gguf *src = gguf_open(src_path, err, sizeof err), *copy = gguf_open(path, err, sizeof err);
    CHECK(src && copy, "%s", err);
    if (src && copy) {
        int64_t n_layers = 0;
        gguf_get_int(src, "llama.block_count", &n_layers, err, sizeof err);
        const char *base = strrchr(src_path, '/') ? strrchr(src_path, '/') + 1 : src_path;
        GgufValue set[] = {
            {.key = "llama.block_count", .type = GGUF_UINT32, .i = layers},
            {.key = "are.truncated.source", .type = GGUF_STRING, .s = base},
            {.key = "are.truncated.source_block_count", .type = GGUF_UINT32, .i = n_layers},
        };
        check_metadata(copy, src, set, 3);
        const GgufTensor *want[MAX_TENSORS];
        int n = 0, whole = 0;
        for (int i = 0; i < gguf_n_tensors(src) && n < MAX_TENSORS; i++) {
            const GgufTensor *t = gguf_tensor(src, i);
            int block = -1;
            char name[128];
            snprintf(name, sizeof name, "%.*s", (int)t->name.len, t->name.ptr);
            if (sscanf(name, "blk.%d.", &block) != 1) whole++;
            if (block < layers) want[n++] = t;
        }
        CHECK(n == whole + 9 * layers, "%d tensors kept, expected %d whole-model + 9 per block", n,
              whole);
        check_tensors(copy, want, n);
    }
    gguf_close(copy);
    gguf_close(src);
}

// Hidden states 0..n of every token of the batch, [T, n + 1, dim] in host memory (NULL after a
// failed check).
static float *hidden_states(LlamaModel *m, const TokenBatch *b, int n) {
    int T = 0, longest = 0;
    for (int s = 0; s < b->n_seqs; s++) {
        T += b->seq_len[s];
        longest = b->seq_len[s] > longest ? b->seq_len[s] : longest;
    }
    WorkspacePlan plan = {.max_tokens = T,
                          .max_seqs = b->n_seqs,
                          .max_seq_len = longest,
                          .outputs = {.n_capture = n + 1, .capture_at = CAPTURE_ALL_TOKENS}};
    for (int l = 0; l <= n; l++) plan.outputs.layers[l] = l;
    char err[512] = "";
    LlamaWorkspace *ws = llama_workspace_create(m, &plan, err, sizeof err);
    CHECK(ws, "workspace: %s", err);
    if (!ws) return NULL;
    size_t bytes = (size_t)T * (n + 1) * m->cfg.dim * sizeof(float);
    float *states = malloc(bytes);
    int rc = llama_forward(m, ws, b);
    CHECK(rc == 0, "forward: %s", llama_workspace_error(ws));
    if (rc == 0) m->be->to_host(m->be, states, llama_captured(ws), bytes);
    llama_workspace_free(ws);
    if (rc == 0) return states;
    free(states);
    return NULL;
}

// The truncated model cut (N blocks) against the whole model full on the batch: states 0..N-1
// identical; state N of cut = cut's final norm (the model's output_norm, copied) of full's
// state N, computed with the backend op the forward uses.
static void check_hidden_states(LlamaModel *full, LlamaModel *cut, const TokenBatch *b) {
    int n = cut->cfg.n_layers, d = cut->cfg.dim, T = 0;
    for (int s = 0; s < b->n_seqs; s++) T += b->seq_len[s];
    CHECK(n < full->cfg.n_layers && d == full->cfg.dim && cut->cfg.n_heads == full->cfg.n_heads &&
              cut->cfg.n_kv_heads == full->cfg.n_kv_heads &&
              cut->cfg.vocab_size == full->cfg.vocab_size &&
              cut->cfg.tie_embeddings == full->cfg.tie_embeddings &&
              cut->cfg.rope_theta == full->cfg.rope_theta && cut->cfg.rms_eps == full->cfg.rms_eps,
          "the truncated config differs beyond its %d blocks", n);
    float *want = hidden_states(full, b, n), *got = hidden_states(cut, b, n);
    if (want && got) {
        size_t row = (size_t)d * sizeof(float);
        bool all_same = true;
        for (int l = 0; l < n; l++) {
            int same = 0;
            for (int t = 0; t < T; t++) {
                size_t at = ((size_t)t * (n + 1) + l) * d;
                same += !memcmp(got + at, want + at, row);
            }
            CHECK(same == T, "hidden_states[%d]: %d of %d tokens equal bit for bit", l, same, T);
            all_same = all_same && same == T;
        }
        // want's state N through the final norm, on cut's backend: [T, d].
        Backend *be = cut->be;
        float *x = be->alloc(be, (size_t)T * row), *y = be->alloc(be, (size_t)T * row);
        float *rstd = be->alloc(be, (size_t)T * sizeof(float));
        float *normed = malloc((size_t)T * row);
        for (int t = 0; t < T; t++)
            be->to_device(be, x + (size_t)t * d, want + ((size_t)t * (n + 1) + n) * d, row);
        be->rmsnorm_forward(be, T, d, cut->cfg.rms_eps, x, cut->w.final_norm, y, rstd);
        be->to_host(be, normed, y, (size_t)T * row);
        int same = 0;
        for (int t = 0; t < T; t++)
            same += !memcmp(got + ((size_t)t * (n + 1) + n) * d, normed + (size_t)t * d, row);
        CHECK(same == T, "hidden_states[%d]: %d of %d tokens equal the final norm of the model's",
              n, same, T);
        printf("  hidden_states[0..%d] of %d tokens: %s\n", n, T,
               all_same && same == T ? "bit for bit as the whole model's" : "DIFFER");
        free(normed);
        be->free(be, rstd);
        be->free(be, y);
        be->free(be, x);
    }
    free(want);
    free(got);
}

// The two-block fixture model cut to one block; no tokenizer, so fixed token ids.
static void test_fixture_model(const char *dir) {
    printf("are truncate on gguf_llama_gqa.gguf\n");
    char src_path[4096], path[4096], err[512] = "";
    fixture_path(src_path, sizeof src_path, "gguf_llama_gqa.gguf");
    join(path, sizeof path, dir, "gqa1.gguf");
    CHECK(run_truncate(src_path, "1", path) == EXIT_OK, "are truncate %s", src_path);
    check_truncated_file(src_path, path, 1);
    Backend *be = backend_cpu_create(1);
    ModelSource *full_src = model_source_open(src_path, err, sizeof err);
    ModelSource *cut_src = full_src ? model_source_open(path, err, sizeof err) : NULL;
    LlamaModel full = {0}, cut = {0};
    bool loaded = cut_src && model_load(&full, full_src, be, MATRIX_F32, err, sizeof err) == 0 &&
                  model_load(&cut, cut_src, be, MATRIX_F32, err, sizeof err) == 0;
    CHECK(loaded, "%s", err);
    if (loaded) {
        int tokens[] = {3, 31, 0, 7, 7, 19, 2, 30, 11, 5, 23};
        int lens[] = {6, 1, 4};
        check_hidden_states(&full, &cut, &(TokenBatch){3, lens, tokens});
    }
    llama_free(&cut);
    llama_free(&full);
    model_source_close(cut_src);
    model_source_close(full_src);
    be->destroy(be);
}

// SmolLM2 cut to the default 7 blocks, as a GPU check machine would receive it.
static void test_smollm2(const char *dir) {
    char src_path[4096], path[4096], err[1024] = "";
    source_path(src_path, sizeof src_path, SMOLLM2_PATH);
    if (!exists(src_path)) {
        SKIP("SmolLM2: run scripts/fetch-smollm2.sh");
        return;
    }
    printf("are truncate on SmolLM2-135M-Instruct\n");
    join(path, sizeof path, dir, "smollm2.gguf");
    char *argv[] = {"truncate", src_path, "-o", path};
    CHECK(cmd_truncate(4, argv) == EXIT_OK, "are truncate %s", src_path);
    check_truncated_file(src_path, path, 7);
    ModelSession full = {0}, cut = {0};
    DeviceChoice cpu = {"cpu", "fp32", 2, -1};
    int rc = model_session_open(&full, src_path, NULL, &cpu, err, sizeof err);
    if (rc == 0) rc = model_session_open(&cut, path, NULL, &cpu, err, sizeof err);
    CHECK(rc == 0, "%s", err);
    if (rc == 0) {
        const char *template_text = "<|im_start|>user\n{prompt}<|im_end|>\n<|im_start|>assistant\n";
        const char *prompts[] = {"What is the capital of France?",
                                 "Give me two tips for sleeping better.",
                                 "Write a Python function that squares a number."};
        int tokens[1024], lens[3], T = 0;
        for (int p = 0; p < 3; p++) {
            int *ids = NULL, *cut_ids = NULL, n = 0, n_cut = 0;
            model_session_encode(&full, template_text, prompts[p], &ids, &n, err, sizeof err);
            model_session_encode(&cut, template_text, prompts[p], &cut_ids, &n_cut, err,
                                 sizeof err);
            CHECK(n > 0 && n == n_cut && !memcmp(ids, cut_ids, (size_t)n * sizeof(int)) &&
                      T + n <= 1024,
                  "prompt %d: the copy's tokenizer gives other ids (%d and %d)", p, n, n_cut);
            memcpy(tokens + T, ids, (size_t)(T + n <= 1024 ? n : 0) * sizeof(int));
            lens[p] = n;
            T += n;
            free(ids);
            free(cut_ids);
        }
        if (T <= 1024) check_hidden_states(&full.model, &cut.model, &(TokenBatch){3, lens, tokens});
    }
    model_session_close(&cut);
    model_session_close(&full);
}

int main(void) {
    char dir[4096];
    make_temp_dir(dir, "gguf_truncate");
    test_copies(dir);
    test_refusals(dir);
    test_fixture_model(dir);
    test_smollm2(dir);
    remove_dir(dir);
    return check_summary();
}
