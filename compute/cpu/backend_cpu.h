// The CPU backend: fp32, OpenBLAS sgemm for matrix products, OpenMP for every other loop.
#ifndef ARE_BACKEND_CPU_H
#define ARE_BACKEND_CPU_H

#include "backend.h"

// threads <= 0 uses every core OpenMP sees. The count applies to OpenMP loops and to OpenBLAS.
// Returns NULL when out of memory.
Backend *backend_cpu_create(int threads);

#endif
