// The CUDA emulator stands in for cuda_runtime.h: see emulator.h.
#include "emulator.h"
