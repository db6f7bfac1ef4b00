// Safetensors reader and writer: round trips, the Python-made fixtures, F16/BF16/I64
// conversion of hand-written bytes, and every kind of corrupt file (each must be a clear error,
// never a crash or an out-of-bounds read: run under ASan).
#include "check.h"
#include "safetensors.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmp_dir[] = "/tmp/test_safetensors_XXXXXX";
static char path[4096]; // the test file every case writes

static void write_bytes(const char *file, const void *bytes, size_t n) {
    FILE *out = fopen(file, "wb");
    if (!out || fwrite(bytes, 1, n, out) != n || fclose(out) != 0) {
        perror(file);
        exit(2);
    }
}

static unsigned char *read_bytes(const char *file, size_t *n) {
    FILE *in = fopen(file, "rb");
    if (!in) return NULL;
    fseek(in, 0, SEEK_END);
    *n = (size_t)ftell(in);
    fseek(in, 0, SEEK_SET);
    unsigned char *bytes = malloc(*n ? *n : 1);
    if (fread(bytes, 1, *n, in) != *n) *n = 0;
    fclose(in);
    return bytes;
}

// A file made by hand: the given header length field, the header text, then the data region.
static void write_raw(uint64_t header_len, const char *header, const void *data, size_t data_len) {
    size_t text_len = strlen(header);
    unsigned char *bytes = malloc(8 + text_len + data_len);
    memcpy(bytes, &header_len, 8);
    memcpy(bytes + 8, header, text_len);
    if (data_len) memcpy(bytes + 8 + text_len, data, data_len);
    write_bytes(path, bytes, 8 + text_len + data_len);
    free(bytes);
}

static void write_header(const char *header, const void *data, size_t data_len) {
    write_raw(strlen(header), header, data, data_len);
}

// Opening the file at path must fail with a message that names the file and contains expect.
static void expect_open_error(const char *what, const char *expect) {
    char err[512] = "";
    SafetensorsFile *f = safetensors_open(path, err, sizeof(err));
    CHECK(!f, "%s: opened a corrupt file", what);
    CHECK(strstr(err, path) && strstr(err, expect), "%s: message '%s' lacks the path or '%s'", what,
          err, expect);
    safetensors_close(f);
}

static SafetensorsFile *open_or_report(const char *file) {
    char err[512] = "";
    SafetensorsFile *f = safetensors_open(file, err, sizeof(err));
    CHECK(f, "cannot open %s: %s", file, err);
    return f;
}

static void test_round_trip(void) {
    const float matrix[6] = {1.5f, -2.25f, 3e-8f, 65504.f, -0.f, INFINITY};
    const int32_t ids[4] = {7, -3, INT32_MAX, INT32_MIN};
    const float scalar = 42.f;
    SafetensorsWriteTensor tensors[] = {
        {"matrix", ST_F32, 2, {2, 3}, matrix},
        {"ids", ST_I32, 1, {4}, ids},
        {"scalar", ST_F32, 0, {0}, &scalar},
        {"empty", ST_F32, 2, {0, 5}, NULL},
    };
    SafetensorsMetadata metadata[] = {{"config", "{\"a\": 1}"}, {"format", "pt"}};
    char err[512] = "";
    CHECK(safetensors_write(path, tensors, 4, metadata, 2, err, sizeof(err)) == 0, "write: %s",
          err);
    char tmp_path[4200];
    snprintf(tmp_path, sizeof(tmp_path), "%s.tmp", path);
    CHECK(access(tmp_path, F_OK) != 0, "the temporary file is left behind");

    SafetensorsFile *f = open_or_report(path);
    if (!f) return;
    CHECK(safetensors_n_tensors(f) == 4, "n_tensors %d", safetensors_n_tensors(f));
    for (int i = 0; i < 4 && i < safetensors_n_tensors(f); i++) // file order = write order
        CHECK(strcmp(safetensors_tensor(f, i)->name, tensors[i].name) == 0, "tensor %d is '%s'", i,
              safetensors_tensor(f, i)->name);
    const SafetensorsTensor *m = safetensors_find(f, "matrix");
    const SafetensorsTensor *d = safetensors_find(f, "ids");
    const SafetensorsTensor *s = safetensors_find(f, "scalar");
    const SafetensorsTensor *e = safetensors_find(f, "empty");
    CHECK(m && d && s && e && !safetensors_find(f, "absent"), "find");
    if (m && d && s && e) {
        CHECK(m->dtype == ST_F32 && m->n_dims == 2 && m->shape[0] == 2 && m->shape[1] == 3 &&
                  m->n_elements == 6 && m->nbytes == 24,
              "matrix header");
        CHECK(s->n_dims == 0 && s->n_elements == 1, "scalar has %zu elements", s->n_elements);
        CHECK(e->n_elements == 0 && e->nbytes == 0, "empty has %zu elements", e->n_elements);
        float back[6];
        int32_t ids_back[4];
        float scalar_back = 0;
        CHECK(safetensors_read_f32(f, m, back, 6, err, sizeof(err)) == 0, "read: %s", err);
        CHECK(memcmp(back, matrix, sizeof(matrix)) == 0, "matrix values differ");
        CHECK(safetensors_read_i32(f, d, ids_back, 4, err, sizeof(err)) == 0, "read: %s", err);
        CHECK(memcmp(ids_back, ids, sizeof(ids)) == 0, "ids differ");
        CHECK(safetensors_read_f32(f, s, &scalar_back, 1, err, sizeof(err)) == 0 &&
                  scalar_back == 42.f,
              "scalar %g", scalar_back);
        CHECK(safetensors_read_f32(f, e, back, 0, err, sizeof(err)) == 0, "empty: %s", err);

        CHECK(safetensors_read_f32(f, m, back, 5, err, sizeof(err)) < 0 && strstr(err, "matrix"),
              "a wrong element count must fail: '%s'", err);
        CHECK(safetensors_read_f32(f, d, back, 4, err, sizeof(err)) < 0 && strstr(err, "I32"),
              "I32 read as float must fail: '%s'", err);
        CHECK(safetensors_read_i32(f, m, ids_back, 6, err, sizeof(err)) < 0 && strstr(err, "F32"),
              "F32 read as int must fail: '%s'", err);
    }
    const char *config = safetensors_metadata(f, "config");
    const char *format = safetensors_metadata(f, "format");
    CHECK(config && strcmp(config, "{\"a\": 1}") == 0, "metadata config '%s'", config);
    CHECK(format && strcmp(format, "pt") == 0, "metadata format");
    CHECK(!safetensors_metadata(f, "absent"), "absent metadata key");
    safetensors_close(f);

    // Overwriting replaces the whole file; no metadata at all is fine too.
    CHECK(safetensors_write(path, tensors + 1, 1, NULL, 0, err, sizeof(err)) == 0, "%s", err);
    f = open_or_report(path);
    if (f) {
        CHECK(safetensors_n_tensors(f) == 1 && !safetensors_metadata(f, "config"),
              "rewritten file keeps old contents");
        safetensors_close(f);
    }
}

static void test_write_errors(void) {
    const float x = 1;
    SafetensorsWriteTensor twice[] = {{"a", ST_F32, 0, {0}, &x}, {"a", ST_F32, 0, {0}, &x}};
    SafetensorsWriteTensor reserved[] = {{"__metadata__", ST_F32, 0, {0}, &x}};
    char err[512] = "";
    CHECK(safetensors_write(path, twice, 2, NULL, 0, err, sizeof(err)) < 0 && strstr(err, "'a'"),
          "a duplicate name must fail: '%s'", err);
    CHECK(safetensors_write(path, reserved, 1, NULL, 0, err, sizeof(err)) < 0,
          "__metadata__ as a tensor name must fail");
    CHECK(safetensors_write("/nonexistent-dir/x.safetensors", twice, 1, NULL, 0, err, sizeof(err)) <
                  0 &&
              strstr(err, "/nonexistent-dir/x.safetensors.tmp"),
          "an unwritable path must fail: '%s'", err);
}

static void test_python_fixture(void) {
    const char *src = getenv("ARE_SOURCE_DIR") ? getenv("ARE_SOURCE_DIR") : ".";
    char file[4096];
    snprintf(file, sizeof(file), "%s/tests/ref/fixtures/llama_gqa.safetensors", src);
    SafetensorsFile *f = open_or_report(file);
    if (!f) return;
    CHECK(safetensors_n_tensors(f) == 100, "llama_gqa has %d tensors", safetensors_n_tensors(f));
    const SafetensorsTensor *seq_len = safetensors_find(f, "input.seq_len");
    const SafetensorsTensor *embed = safetensors_find(f, "model.embed_tokens.weight");
    CHECK(seq_len && embed, "llama_gqa lacks input.seq_len or the embedding");
    if (seq_len && embed) {
        int32_t lens[3] = {0};
        char err[512] = "";
        CHECK(safetensors_read_i32(f, seq_len, lens, 3, err, sizeof(err)) == 0, "%s", err);
        CHECK(lens[0] == 7 && lens[1] == 3 && lens[2] == 5, "seq_len %d %d %d", lens[0], lens[1],
              lens[2]);
        CHECK(embed->dtype == ST_F32 && embed->n_dims == 2 && embed->shape[0] == 64 &&
                  embed->shape[1] == 32,
              "embedding header");
    }
    const char *lora = safetensors_metadata(f, "lora");
    CHECK(lora && strstr(lora, "\"lora_alpha\": 8"), "lora metadata '%s'", lora);
    safetensors_close(f);
}

// Bit patterns with values known exactly, written as raw little-endian bytes.
static void test_conversions(void) {
    const uint16_t f16[] = {0x3c00, 0xc000, 0x3555, 0x7bff, 0x0001, 0x03ff,
                            0x0400, 0x8000, 0x7c00, 0xfc00, 0x7e00};
    const float f16_expect[] = {1.f,      -2.f, 0.333251953125f, 65504.f,   0x1p-24f, 0x3ffp-24f,
                                0x1p-14f, -0.f, INFINITY,        -INFINITY, NAN};
    const uint16_t bf16[] = {0x3f80, 0xc040, 0x4049, 0x0001, 0x8000, 0xff80, 0x7fc0};
    const float bf16_expect[] = {1.f, -3.f, 3.140625f, 0x1p-133f, -0.f, -INFINITY, NAN};
    const int64_t i64[] = {5, -7, INT32_MAX, INT32_MIN};
    const int64_t i64_big[] = {1, (int64_t)INT32_MAX + 1};
    unsigned char data[22 + 14 + 32 + 16];
    memcpy(data, f16, 22);
    memcpy(data + 22, bf16, 14);
    memcpy(data + 36, i64, 32);
    memcpy(data + 68, i64_big, 16);
    write_header("{\"h\":{\"dtype\":\"F16\",\"shape\":[11],\"data_offsets\":[0,22]},"
                 "\"b\":{\"dtype\":\"BF16\",\"shape\":[7],\"data_offsets\":[22,36]},"
                 "\"l\":{\"dtype\":\"I64\",\"shape\":[2,2],\"data_offsets\":[36,68]},"
                 "\"big\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[68,84]}}",
                 data, sizeof(data));
    SafetensorsFile *f = open_or_report(path);
    if (!f) return;
    float got[11];
    int32_t ints[4];
    char err[512] = "";
    CHECK(safetensors_read_f32(f, safetensors_find(f, "h"), got, 11, err, sizeof(err)) == 0, "%s",
          err);
    for (int i = 0; i < 11; i++)
        CHECK(isnan(f16_expect[i]) ? isnan(got[i])
                                   : memcmp(&got[i], &f16_expect[i], sizeof(float)) == 0,
              "F16 0x%04x -> %g, expected %g", f16[i], got[i], f16_expect[i]);
    CHECK(safetensors_read_f32(f, safetensors_find(f, "b"), got, 7, err, sizeof(err)) == 0, "%s",
          err);
    for (int i = 0; i < 7; i++)
        CHECK(isnan(bf16_expect[i]) ? isnan(got[i])
                                    : memcmp(&got[i], &bf16_expect[i], sizeof(float)) == 0,
              "BF16 0x%04x -> %g, expected %g", bf16[i], got[i], bf16_expect[i]);
    CHECK(safetensors_read_i32(f, safetensors_find(f, "l"), ints, 4, err, sizeof(err)) == 0, "%s",
          err);
    for (int i = 0; i < 4; i++)
        CHECK(ints[i] == i64[i], "I64 %lld -> %d", (long long)i64[i], ints[i]);
    CHECK(safetensors_read_i32(f, safetensors_find(f, "big"), ints, 2, err, sizeof(err)) < 0 &&
              strstr(err, "2147483648"),
          "an I64 beyond int32 must fail: '%s'", err);
    safetensors_close(f);
}

// Every prefix of a valid file is a truncated file and must be refused.
static void test_truncation(void) {
    const float x[3] = {1, 2, 3};
    SafetensorsWriteTensor tensors[] = {{"x", ST_F32, 1, {3}, x}};
    SafetensorsMetadata metadata[] = {{"k", "v"}};
    char err[512] = "";
    CHECK(safetensors_write(path, tensors, 1, metadata, 1, err, sizeof(err)) == 0, "%s", err);
    size_t n;
    unsigned char *whole = read_bytes(path, &n);
    int refused = 0;
    for (size_t len = 0; len < n; len++) {
        write_bytes(path, whole, len);
        SafetensorsFile *f = safetensors_open(path, err, sizeof(err));
        refused += !f && strstr(err, path);
        safetensors_close(f);
    }
    CHECK(refused == (int)n, "%d of %zu truncations refused", refused, n);
    free(whole);
}

static void test_corrupt_headers(void) {
    const unsigned char data[16] = {0};
    write_bytes(path, "", 0);
    expect_open_error("empty file", "shorter than the 8-byte header length");
    write_bytes(path, "\x10\0\0\0\0\0\0", 7);
    expect_open_error("7-byte file", "shorter than the 8-byte header length");
    write_raw(UINT64_MAX, "{}", NULL, 0);
    expect_open_error("huge header length", "runs past the end");
    write_raw(3, "{}", NULL, 0);
    expect_open_error("header length one past EOF", "runs past the end");
    write_raw(0, "", NULL, 0);
    expect_open_error("empty header", "not valid JSON");

    struct {
        const char *what, *header, *expect;
        size_t data_len;
    } cases[] = {
        {"bad JSON", "{\"x\": ", "not valid JSON", 0},
        {"trailing comma", "{\"x\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]},}",
         "not valid JSON", 4},
        {"duplicate name",
         "{\"x\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]},"
         "\"x\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}",
         "not valid JSON", 4},
        {"not an object", "[1, 2]", "must be a JSON object", 0},
        {"entry not an object", "{\"x\": 3}", "'x'", 0},
        {"unknown dtype", "{\"x\":{\"dtype\":\"F8_E4M3\",\"shape\":[4],\"data_offsets\":[0,4]}}",
         "'F8_E4M3'", 4},
        {"missing dtype", "{\"x\":{\"shape\":[4],\"data_offsets\":[0,4]}}", "dtype", 4},
        {"dtype not a string", "{\"x\":{\"dtype\":5,\"shape\":[1],\"data_offsets\":[0,4]}}",
         "dtype", 4},
        {"missing shape", "{\"x\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", "shape", 4},
        {"negative shape", "{\"x\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}",
         "shape", 4},
        {"fractional shape", "{\"x\":{\"dtype\":\"F32\",\"shape\":[1.0],\"data_offsets\":[0,4]}}",
         "shape", 4},
        {"nine dimensions",
         "{\"x\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}",
         "at most 8", 1},
        {"shape overflows",
         "{\"x\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4611686018427387904],"
         "\"data_offsets\":[0,4]}}",
         "overflows", 4},
        {"bytes overflow",
         "{\"x\":{\"dtype\":\"F64\",\"shape\":[4611686018427387904],\"data_offsets\":[0,4]}}",
         "overflows", 4},
        {"shape/size mismatch", "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}",
         "need 8", 4},
        {"offsets past the data",
         "{\"x\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}",
         "data_offsets [0, 16]", 8},
        {"huge offsets",
         "{\"x\":{\"dtype\":\"U8\",\"shape\":[1],"
         "\"data_offsets\":[9223372036854775806,9223372036854775807]}}",
         "data_offsets", 1},
        {"end before begin", "{\"x\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,0]}}",
         "begin <= end", 4},
        {"negative offset", "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}",
         "non-negative", 4},
        {"one offset", "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4]}}",
         "data_offsets", 4},
        {"missing offsets", "{\"x\":{\"dtype\":\"F32\",\"shape\":[1]}}", "data_offsets", 4},
        {"overlap",
         "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
         "overlap", 12},
        {"same offsets",
         "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
         "overlap", 8},
        {"gap",
         "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
         "[4, 8) belong to no tensor", 12},
        {"trailing data", "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
         "cover 4", 8},
        {"metadata not an object", "{\"__metadata__\": [\"a\"]}", "__metadata__", 0},
        {"metadata value not a string", "{\"__metadata__\": {\"a\": 1}}", "'a'", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        write_header(cases[i].header, data, cases[i].data_len);
        expect_open_error(cases[i].what, cases[i].expect);
    }

    char missing[4200];
    snprintf(missing, sizeof(missing), "%s/absent.safetensors", tmp_dir);
    char err[512] = "";
    CHECK(!safetensors_open(missing, err, sizeof(err)) && strstr(err, missing),
          "a missing file: '%s'", err);
    CHECK(!safetensors_open(tmp_dir, err, sizeof(err)) && strstr(err, "not a regular file"),
          "a directory: '%s'", err);
}

// Random byte flips in a valid file: open must refuse cleanly or give tensors that read safely.
static void test_fuzz(void) {
    const float x[5] = {1, 2, 3, 4, 5};
    const int32_t ids[3] = {1, 2, 3};
    SafetensorsWriteTensor tensors[] = {{"x", ST_F32, 2, {1, 5}, x}, {"ids", ST_I32, 1, {3}, ids}};
    SafetensorsMetadata metadata[] = {{"k", "v"}};
    char err[512] = "";
    CHECK(safetensors_write(path, tensors, 2, metadata, 1, err, sizeof(err)) == 0, "%s", err);
    size_t n;
    unsigned char *whole = read_bytes(path, &n);
    unsigned char *mutated = malloc(n);
    const char *replacements = "0123456789[]{},:\"-.eFIUB \x80\xff";
    uint64_t state = 12345;
    int opened = 0, refused = 0;
    for (int iter = 0; iter < 3000; iter++) {
        memcpy(mutated, whole, n);
        for (int flips = 1 + iter % 3; flips > 0; flips--) {
            state = state * 6364136223846793005ULL + 1442695040888963407ULL;
            size_t at = (size_t)(state >> 33) % n;
            mutated[at] = (unsigned char)replacements[(state >> 20) % strlen(replacements)];
        }
        write_bytes(path, mutated, n);
        SafetensorsFile *f = safetensors_open(path, err, sizeof(err));
        if (!f) {
            refused += strstr(err, path) != NULL;
            continue;
        }
        opened++;
        for (int i = 0; i < safetensors_n_tensors(f); i++) {
            const SafetensorsTensor *t = safetensors_tensor(f, i);
            void *dst = malloc(t->n_elements * 4 + 1);
            safetensors_read_f32(f, t, dst, t->n_elements, err, sizeof(err));
            safetensors_read_i32(f, t, dst, t->n_elements, err, sizeof(err));
            free(dst);
        }
        safetensors_close(f);
    }
    CHECK(opened + refused == 3000, "%d refusals lacked the path", 3000 - opened - refused);
    CHECK(refused > 0 && opened > 0, "fuzzing hit only one outcome (%d opened)", opened);
    printf("fuzz: %d mutated files opened, %d refused\n", opened, refused);
    free(whole);
    free(mutated);
}

int main(void) {
    if (!mkdtemp(tmp_dir)) {
        perror("mkdtemp");
        return 2;
    }
    snprintf(path, sizeof(path), "%s/test.safetensors", tmp_dir);
    test_round_trip();
    test_write_errors();
    test_python_fixture();
    test_conversions();
    test_truncation();
    test_corrupt_headers();
    test_fuzz();
    remove(path);
    rmdir(tmp_dir);
    return check_summary();
}
