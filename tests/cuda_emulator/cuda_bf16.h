// The CUDA emulator stands in for cuda_bf16.h: see emulator.h.
#include "emulator.h"
