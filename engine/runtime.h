// Choosing the device a run uses. `--device auto` takes the first CUDA GPU when weft was built
// with CUDA and one is usable, and otherwise says in one line why not and uses the CPU;
// `--device cuda` without a usable GPU is an error that says why. `--device emu` is the emulated
// GPU (engine/device.h), with a one-line notice.
#pragma once

#include <string>

#include "engine/device.h"

namespace weft {

// "auto", "cpu", "cuda" or "cuda:N". Prints the one-line notice for auto falling back to CPU.
// In a data-parallel run "auto" and "cuda" pick cuda:<local rank mod GPUs>, one GPU per rank.
Device resolve_device(const std::string& requested);

// Whether this build has CUDA, and if so whether a GPU is usable; `reason` says why not.
bool cuda_available(std::string* reason = nullptr);

}  // namespace weft
