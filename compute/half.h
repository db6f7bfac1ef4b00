// 16-bit floats (IEEE fp16 and bfloat16) as model files, trial files and 16-bit frozen matrices
// store them: widened to fp32 exactly (every fp16 and bf16 value is a float32 value) and
// narrowed from fp32 rounded to nearest, ties to even (as numpy, PyTorch and CUDA's _rn
// intrinsics). Header-only so that compute and io share the one copy.
#ifndef ARE_HALF_H
#define ARE_HALF_H

#include <math.h>
#include <stdint.h>
#include <string.h>

// A little-endian uint16 at p, whatever its alignment.
static inline uint16_t load_u16(const unsigned char *p) {
    return (uint16_t)(p[0] | p[1] << 8);
}

static inline float bits_to_float(uint32_t bits) {
    float x;
    memcpy(&x, &bits, 4);
    return x;
}

static inline uint32_t float_to_bits(float x) {
    uint32_t bits;
    memcpy(&bits, &x, 4);
    return bits;
}

// IEEE half: 1 sign, 5 exponent (bias 15), 10 mantissa bits.
static inline float f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exponent = (h >> 10) & 0x1f;
    uint32_t mantissa = h & 0x3ff;
    if (exponent == 0) { // zero or subnormal: mantissa * 2^-24
        float magnitude = ldexpf((float)mantissa, -24);
        return sign ? -magnitude : magnitude;
    }
    if (exponent == 0x1f) return bits_to_float(sign | 0x7f800000u | mantissa << 13); // inf, NaN
    return bits_to_float(sign | (exponent + 127 - 15) << 23 | mantissa << 13);
}

// bfloat16 is the top half of a float32.
static inline float bf16_to_f32(uint16_t b) {
    return bits_to_float((uint32_t)b << 16);
}

// Round to nearest even by adding half an ulp of the kept bits, plus one when the kept part is
// odd; a carry into the exponent is the right rounding there too (up to infinity).
static inline uint16_t f32_to_f16(float x) {
    uint32_t bits = float_to_bits(x);
    uint16_t sign = (uint16_t)(bits >> 16 & 0x8000);
    uint32_t magnitude = bits & 0x7fffffffu;
    if (magnitude > 0x7f800000u) return sign | 0x7e00;      // NaN
    if (magnitude >= 0x477ff000u) return sign | 0x7c00;     // 65520 and up round to infinity
    if (magnitude < 0x38800000u)                            // below 2^-14: a subnormal half,
        return sign | (uint16_t)lrintf(fabsf(x) * 0x1p24f); // in units of 2^-24 (exact scaling)
    magnitude += 0xfffu + (magnitude >> 13 & 1);
    return sign | (uint16_t)((magnitude - ((127u - 15u) << 23)) >> 13);
}

static inline uint16_t f32_to_bf16(float x) {
    uint32_t bits = float_to_bits(x);
    if ((bits & 0x7fffffffu) > 0x7f800000u) return (uint16_t)(bits >> 16 | 0x40); // quiet NaN
    bits += 0x7fffu + (bits >> 16 & 1);
    return (uint16_t)(bits >> 16);
}

#endif
