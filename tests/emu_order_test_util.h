// A scope that runs the host emulation's kernels in another thread order (kernels/cuda/
// emulation.h, ThreadOrder) and puts the previous order back when it ends, also when a check
// inside it throws.
#pragma once

#include <cstdint>

#include "kernels/cuda/emulation_order.h"

namespace weft::test {

class ScopedThreadOrder {
 public:
  explicit ScopedThreadOrder(weft::emu::ThreadOrder order, uint64_t seed = 0)
      : previous_(weft::emu::thread_order()) {
    weft::emu::set_thread_order(order, seed);
  }
  ~ScopedThreadOrder() { weft::emu::set_thread_order(previous_.order, previous_.seed); }
  ScopedThreadOrder(const ScopedThreadOrder&) = delete;
  ScopedThreadOrder& operator=(const ScopedThreadOrder&) = delete;

 private:
  weft::emu::ThreadOrderSetting previous_;
};

}  // namespace weft::test
