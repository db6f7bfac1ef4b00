// libFuzzer harness for the safetensors reader: any bytes must open or be refused with a
// message, and whatever opens must convert every tensor without reading outside the input.
#include "safetensors.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

// Larger tensors add time, not coverage: the conversions are loops over the same code.
#define MAX_CONVERTED 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[512];
    SafetensorsFile *f = safetensors_open_memory(data, size, "fuzz.safetensors", err, sizeof(err));
    if (!f) return 0;
    static float floats[MAX_CONVERTED];
    static int32_t ints[MAX_CONVERTED];
    for (int i = 0; i < safetensors_n_tensors(f); i++) {
        const SafetensorsTensor *t = safetensors_tensor(f, i);
        if (safetensors_find(f, t->name) != t) __builtin_trap(); // names are unique
        if (t->data < data || t->data + t->nbytes > data + size) __builtin_trap();
        if (t->n_elements > MAX_CONVERTED) continue;
        safetensors_read_f32(f, t, floats, t->n_elements, err, sizeof(err));
        safetensors_read_i32(f, t, ints, t->n_elements, err, sizeof(err));
    }
    safetensors_metadata(f, "format");
    safetensors_close(f);
    return 0;
}
