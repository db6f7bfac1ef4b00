// The CUDA emulator stands in for cublas_v2.h: see emulator.h.
#include "emulator.h"
