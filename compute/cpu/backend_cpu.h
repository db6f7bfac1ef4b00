// The CPU backend: fp32, OpenBLAS sgemm for matrix products, OpenMP for every other loop.
#ifndef ARE_BACKEND_CPU_H
#define ARE_BACKEND_CPU_H

#include "backend.h"

// threads <= 0 uses every core OpenMP sees. The count applies to OpenMP loops and to OpenBLAS.
// matrix_type starts as MATRIX_F32; a caller may set it to MATRIX_BF16 or MATRIX_F16 before
// loading a model to keep the frozen matrices in 16 bits (half the memory; each product widens
// them back to fp32 a panel of rows at a time, so it runs slower than with fp32 matrices).
// Returns NULL when out of memory.
Backend *backend_cpu_create(int threads);

#endif
