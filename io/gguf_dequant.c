// ggml's block formats, converted to fp32 the way ggml's dequantize_row_* functions do it (the
// same float operations in the same order, so results match bit for bit). See gguf_dequant.h.
//
// Every 32-element block stores its quants two per byte: the low nibble of byte j is element j
// and the high nibble is element j + 16. K-quants group 8 such sub-blocks (of 32) into a
// 256-element super-block whose per-sub-block scales are themselves quantized.
#include "gguf_dequant.h"
#include "half.h"

#include <assert.h>
#include <stddef.h>
#include <string.h>

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "gguf_dequant.c assumes a little-endian host"
#endif

// Indexed by ggml's type number; gaps are numbers ggml retired.
static const GgmlTypeInfo type_info[] = {
    [0] = {"F32", 1, 4},         [1] = {"F16", 1, 2},         [2] = {"Q4_0", 32, 18},
    [3] = {"Q4_1", 32, 20},      [6] = {"Q5_0", 32, 22},      [7] = {"Q5_1", 32, 24},
    [8] = {"Q8_0", 32, 34},      [9] = {"Q8_1", 32, 36},      [10] = {"Q2_K", 256, 84},
    [11] = {"Q3_K", 256, 110},   [12] = {"Q4_K", 256, 144},   [13] = {"Q5_K", 256, 176},
    [14] = {"Q6_K", 256, 210},   [15] = {"Q8_K", 256, 292},   [16] = {"IQ2_XXS", 256, 66},
    [17] = {"IQ2_XS", 256, 74},  [18] = {"IQ3_XXS", 256, 98}, [19] = {"IQ1_S", 256, 50},
    [20] = {"IQ4_NL", 32, 18},   [21] = {"IQ3_S", 256, 110},  [22] = {"IQ2_S", 256, 82},
    [23] = {"IQ4_XS", 256, 136}, [24] = {"I8", 1, 1},         [25] = {"I16", 1, 2},
    [26] = {"I32", 1, 4},        [27] = {"I64", 1, 8},        [28] = {"F64", 1, 8},
    [29] = {"IQ1_M", 256, 56},   [30] = {"BF16", 1, 2},       [34] = {"TQ1_0", 256, 54},
    [35] = {"TQ2_0", 256, 66},   [39] = {"MXFP4", 32, 17},
};

const GgmlTypeInfo *ggml_type_info(uint32_t type) {
    if (type >= sizeof(type_info) / sizeof(type_info[0]) || !type_info[type].name) return NULL;
    return &type_info[type];
}

const char *ggml_type_name(GgmlType type) {
    const GgmlTypeInfo *info = ggml_type_info((uint32_t)type);
    return info ? info->name : "unknown";
}

// --- scalars -------------------------------------------------------------------------------

static uint32_t load_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

// --- 32-element blocks ---------------------------------------------------------------------
// Layouts (bytes): Q8_0 {f16 d; i8 q[32]}, Q4_0 {f16 d; u8 qs[16]}, Q4_1 {f16 d, m; u8 qs[16]},
// Q5_0 {f16 d; u8 qh[4]; u8 qs[16]}, Q5_1 {f16 d, m; u8 qh[4]; u8 qs[16]}. Bit j of qh (read
// as a little-endian uint32) is the fifth bit of element j.

static void dequant_q8_0(const uint8_t *b, float *y) {
    float d = f16_to_f32(load_u16(b));
    for (int j = 0; j < 32; j++) y[j] = (float)(int8_t)b[2 + j] * d;
}

static void dequant_q4_0(const uint8_t *b, float *y) {
    float d = f16_to_f32(load_u16(b));
    const uint8_t *qs = b + 2;
    for (int j = 0; j < 16; j++) {
        y[j] = (float)((qs[j] & 0x0f) - 8) * d;
        y[j + 16] = (float)((qs[j] >> 4) - 8) * d;
    }
}

static void dequant_q4_1(const uint8_t *b, float *y) {
    float d = f16_to_f32(load_u16(b));
    float m = f16_to_f32(load_u16(b + 2));
    const uint8_t *qs = b + 4;
    for (int j = 0; j < 16; j++) {
        y[j] = (float)(qs[j] & 0x0f) * d + m;
        y[j + 16] = (float)(qs[j] >> 4) * d + m;
    }
}

// The 5-bit quants of a Q5 block: low nibble from qs, fifth bit from qh.
static void unpack_q5(const uint8_t *qh_bytes, const uint8_t *qs, int q[32]) {
    uint32_t qh = load_u32(qh_bytes);
    for (int j = 0; j < 16; j++) {
        q[j] = (qs[j] & 0x0f) | (int)((qh >> j) & 1) << 4;
        q[j + 16] = (qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
    }
}

static void dequant_q5_0(const uint8_t *b, float *y) {
    float d = f16_to_f32(load_u16(b));
    int q[32];
    unpack_q5(b + 2, b + 6, q);
    for (int j = 0; j < 32; j++) y[j] = (float)(q[j] - 16) * d;
}

static void dequant_q5_1(const uint8_t *b, float *y) {
    float d = f16_to_f32(load_u16(b));
    float m = f16_to_f32(load_u16(b + 2));
    int q[32];
    unpack_q5(b + 4, b + 8, q);
    for (int j = 0; j < 32; j++) y[j] = (float)q[j] * d + m;
}

// --- 256-element super-blocks --------------------------------------------------------------
// Q4_K {f16 d, dmin; u8 scales[12]; u8 qs[128]} and Q5_K {f16 d, dmin; u8 scales[12];
// u8 qh[32]; u8 qs[128]}: eight sub-blocks of 32, sub-block s has a 6-bit scale and a 6-bit
// min packed into the 12 scale bytes; element = d*scale * q - dmin*min.
// Q6_K {u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d}: sixteen sub-blocks of 16 with 8-bit
// scales; element = d*scale * (q - 32), q 6 bits (4 from ql, 2 from qh).

// Scale and min of sub-block s: s < 4 keeps them in the low 6 bits of bytes s and s+4; s >= 4
// splits them into a nibble of byte s+4 and the top 2 bits of bytes s-4 and s.
static void k_scale_min(const uint8_t *scales, int s, uint8_t *scale, uint8_t *min) {
    if (s < 4) {
        *scale = scales[s] & 63;
        *min = scales[s + 4] & 63;
    } else {
        *scale = (uint8_t)((scales[s + 4] & 0x0f) | (scales[s - 4] >> 6) << 4);
        *min = (uint8_t)((scales[s + 4] >> 4) | (scales[s] >> 6) << 4);
    }
}

// Q4_K and Q5_K differ only in the fifth bit (qh NULL for Q4_K): sub-blocks 2i and 2i+1 take
// the low and high nibbles of qs[32i .. 32i+32) and bits 2i and 2i+1 of qh[0 .. 32).
static void dequant_k_4_5(const uint8_t *b, const uint8_t *qh, const uint8_t *qs, float *y) {
    float d = f16_to_f32(load_u16(b));
    float dmin = f16_to_f32(load_u16(b + 2));
    const uint8_t *scales = b + 4;
    for (int i = 0; i < 4; i++) {
        uint8_t sc_lo, m_lo, sc_hi, m_hi;
        k_scale_min(scales, 2 * i, &sc_lo, &m_lo);
        k_scale_min(scales, 2 * i + 1, &sc_hi, &m_hi);
        float d_lo = d * sc_lo, min_lo = dmin * m_lo;
        float d_hi = d * sc_hi, min_hi = dmin * m_hi;
        const uint8_t *q = qs + 32 * i;
        for (int l = 0; l < 32; l++) {
            int high_lo = qh ? (qh[l] >> (2 * i) & 1) << 4 : 0;
            int high_hi = qh ? (qh[l] >> (2 * i + 1) & 1) << 4 : 0;
            y[64 * i + l] = d_lo * (float)((q[l] & 0x0f) + high_lo) - min_lo;
            y[64 * i + 32 + l] = d_hi * (float)((q[l] >> 4) + high_hi) - min_hi;
        }
    }
}

static void dequant_q4_k(const uint8_t *b, float *y) {
    dequant_k_4_5(b, NULL, b + 16, y);
}

static void dequant_q5_k(const uint8_t *b, float *y) {
    dequant_k_4_5(b, b + 16, b + 48, y);
}

// Each half (128 elements) takes 64 bytes of ql and 32 of qh: element 32k + l of the half has
// the low or high nibble of ql[l] (k = 0, 2) or ql[l + 32] (k = 1, 3) and bits 2k, 2k+1 of
// qh[l]; its scale is scales[8*half + 2k + l/16].
static void dequant_q6_k(const uint8_t *b, float *y) {
    const uint8_t *ql = b, *qh = b + 128;
    const int8_t *scales = (const int8_t *)(b + 192);
    float d = f16_to_f32(load_u16(b + 208));
    for (int half = 0; half < 2; half++) {
        for (int l = 0; l < 32; l++) {
            int s = l / 16;
            int q1 = ((ql[l] & 0x0f) | (qh[l] >> 0 & 3) << 4) - 32;
            int q2 = ((ql[l + 32] & 0x0f) | (qh[l] >> 2 & 3) << 4) - 32;
            int q3 = ((ql[l] >> 4) | (qh[l] >> 4 & 3) << 4) - 32;
            int q4 = ((ql[l + 32] >> 4) | (qh[l] >> 6 & 3) << 4) - 32;
            y[l] = d * (float)scales[s] * (float)q1;
            y[l + 32] = d * (float)scales[s + 2] * (float)q2;
            y[l + 64] = d * (float)scales[s + 4] * (float)q3;
            y[l + 96] = d * (float)scales[s + 6] * (float)q4;
        }
        y += 128;
        ql += 64;
        qh += 32;
        scales += 8;
    }
}

// One block of each type that is read; F32, F16 and BF16 have one-element blocks.
static void dequant_f32(const uint8_t *b, float *y) {
    memcpy(y, b, 4);
}
static void dequant_f16(const uint8_t *b, float *y) {
    *y = f16_to_f32(load_u16(b));
}
static void dequant_bf16(const uint8_t *b, float *y) {
    *y = bf16_to_f32(load_u16(b));
}

static void (*const dequant_block[])(const uint8_t *block, float *y) = {
    [GGML_F32] = dequant_f32,   [GGML_F16] = dequant_f16,   [GGML_BF16] = dequant_bf16,
    [GGML_Q8_0] = dequant_q8_0, [GGML_Q4_0] = dequant_q4_0, [GGML_Q4_1] = dequant_q4_1,
    [GGML_Q5_0] = dequant_q5_0, [GGML_Q5_1] = dequant_q5_1, [GGML_Q4_K] = dequant_q4_k,
    [GGML_Q5_K] = dequant_q5_k, [GGML_Q6_K] = dequant_q6_k,
};

bool ggml_type_is_readable(GgmlType type) {
    return (unsigned)type < sizeof(dequant_block) / sizeof(dequant_block[0]) && dequant_block[type];
}

void ggml_dequantize(GgmlType type, const uint8_t *src, float *dst, uint64_t n) {
    assert(ggml_type_is_readable(type));
    if (type == GGML_F32) { // stored as the host holds it
        memcpy(dst, src, n * sizeof(float));
        return;
    }
    const GgmlTypeInfo *info = ggml_type_info((uint32_t)type);
    assert(n % info->block_size == 0);
    for (uint64_t i = 0; i < n / info->block_size; i++)
        dequant_block[type](src + i * info->type_size, dst + i * info->block_size);
}
