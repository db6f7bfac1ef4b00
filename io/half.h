// 16-bit floats as model files store them, widened to fp32 exactly (every fp16 and bf16 value
// is a float32 value).
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

#endif
