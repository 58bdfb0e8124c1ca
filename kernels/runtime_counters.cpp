// The process-wide runtime counters (see runtime_counters.h).
#include "kernels/runtime_counters.h"

#include <atomic>
#include <cstdio>

namespace weft {
namespace {

struct Atomics {
  std::atomic<int64_t> launches{0}, library_calls{0}, host_syncs{0};
  std::atomic<int64_t> h2d_copies{0}, h2d_bytes{0}, d2h_copies{0}, d2h_bytes{0};
  std::atomic<int64_t> d2d_copies{0}, d2d_bytes{0}, memsets{0};
  std::atomic<int64_t> driver_allocs{0}, cache_hits{0};
};

Atomics& atomics() {
  static Atomics* counters = new Atomics;  // never destroyed: counted events may come late
  return *counters;
}

void add(std::atomic<int64_t>& counter, int64_t amount = 1) {
  counter.fetch_add(amount, std::memory_order_relaxed);
}

std::string bytes_text(int64_t bytes) {
  char text[32];
  if (bytes < 1000) {
    std::snprintf(text, sizeof text, "%lld B", static_cast<long long>(bytes));
  } else if (bytes < 1000 * 1000) {
    std::snprintf(text, sizeof text, "%.1f KB", static_cast<double>(bytes) / 1e3);
  } else {
    std::snprintf(text, sizeof text, "%.1f MB", static_cast<double>(bytes) / 1e6);
  }
  return text;
}

}  // namespace

RuntimeCounters RuntimeCounters::operator-(const RuntimeCounters& e) const {
  RuntimeCounters d;
  d.launches = launches - e.launches;
  d.library_calls = library_calls - e.library_calls;
  d.host_syncs = host_syncs - e.host_syncs;
  d.h2d_copies = h2d_copies - e.h2d_copies;
  d.h2d_bytes = h2d_bytes - e.h2d_bytes;
  d.d2h_copies = d2h_copies - e.d2h_copies;
  d.d2h_bytes = d2h_bytes - e.d2h_bytes;
  d.d2d_copies = d2d_copies - e.d2d_copies;
  d.d2d_bytes = d2d_bytes - e.d2d_bytes;
  d.memsets = memsets - e.memsets;
  d.driver_allocs = driver_allocs - e.driver_allocs;
  d.cache_hits = cache_hits - e.cache_hits;
  return d;
}

std::string RuntimeCounters::str() const {
  const auto n = [](int64_t v) { return std::to_string(v); };
  return "launches " + n(launches) + ", library calls " + n(library_calls) + ", host syncs " +
         n(host_syncs) + ", h2d " + n(h2d_copies) + " (" + bytes_text(h2d_bytes) + "), d2h " +
         n(d2h_copies) + " (" + bytes_text(d2h_bytes) + "), d2d " + n(d2d_copies) + " (" +
         bytes_text(d2d_bytes) + "), memsets " + n(memsets) + ", driver allocations " +
         n(driver_allocs) + ", pool hits " + n(cache_hits);
}

RuntimeCounters runtime_counters() {
  const Atomics& a = atomics();
  const auto r = [](const std::atomic<int64_t>& v) { return v.load(std::memory_order_relaxed); };
  RuntimeCounters c;
  c.launches = r(a.launches);
  c.library_calls = r(a.library_calls);
  c.host_syncs = r(a.host_syncs);
  c.h2d_copies = r(a.h2d_copies);
  c.h2d_bytes = r(a.h2d_bytes);
  c.d2h_copies = r(a.d2h_copies);
  c.d2h_bytes = r(a.d2h_bytes);
  c.d2d_copies = r(a.d2d_copies);
  c.d2d_bytes = r(a.d2d_bytes);
  c.memsets = r(a.memsets);
  c.driver_allocs = r(a.driver_allocs);
  c.cache_hits = r(a.cache_hits);
  return c;
}

void reset_runtime_counters() {
  Atomics& a = atomics();
  for (std::atomic<int64_t>* v :
       {&a.launches, &a.library_calls, &a.host_syncs, &a.h2d_copies, &a.h2d_bytes, &a.d2h_copies,
        &a.d2h_bytes, &a.d2d_copies, &a.d2d_bytes, &a.memsets, &a.driver_allocs, &a.cache_hits}) {
    v->store(0, std::memory_order_relaxed);
  }
}

namespace count {

void launch() { add(atomics().launches); }
void library_call() { add(atomics().library_calls); }
void host_sync() { add(atomics().host_syncs); }
void memset() { add(atomics().memsets); }

void copy(Copy kind, size_t bytes) {
  Atomics& a = atomics();
  const auto amount = static_cast<int64_t>(bytes);
  switch (kind) {
    case Copy::host_to_device: add(a.h2d_copies); add(a.h2d_bytes, amount); break;
    case Copy::device_to_host: add(a.d2h_copies); add(a.d2h_bytes, amount); break;
    case Copy::device_to_device: add(a.d2d_copies); add(a.d2d_bytes, amount); break;
  }
}

void allocation(bool cache_hit) { add(cache_hit ? atomics().cache_hits : atomics().driver_allocs); }

}  // namespace count
}  // namespace weft
