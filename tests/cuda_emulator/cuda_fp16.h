// The CUDA emulator stands in for cuda_fp16.h: see emulator.h.
#include "emulator.h"
