// The process-wide runtime counters (see runtime_counters.h).
#include "kernels/runtime_counters.h"

#include <atomic>
#include <cstdio>

namespace weft {
namespace {

// Every counter, in the order of RuntimeCounters' members, and those members: one list that
// reading, subtracting and resetting all walk.
enum Field {
  kLaunches, kLibraryCalls, kHostSyncs, kH2dCopies, kH2dBytes, kD2hCopies, kD2hBytes,
  kD2dCopies, kD2dBytes, kMemsets, kDriverAllocs, kCacheHits, kGraphNodes, kGraphLaunches,
  kLayoutReorders, kReorderBytes,
  kFieldCount
};
constexpr int64_t RuntimeCounters::*kMembers[kFieldCount] = {
    &RuntimeCounters::launches,   &RuntimeCounters::library_calls, &RuntimeCounters::host_syncs,
    &RuntimeCounters::h2d_copies, &RuntimeCounters::h2d_bytes,     &RuntimeCounters::d2h_copies,
    &RuntimeCounters::d2h_bytes,  &RuntimeCounters::d2d_copies,    &RuntimeCounters::d2d_bytes,
    &RuntimeCounters::memsets,    &RuntimeCounters::driver_allocs, &RuntimeCounters::cache_hits,
    &RuntimeCounters::graph_nodes, &RuntimeCounters::graph_launches,
    &RuntimeCounters::layout_reorders, &RuntimeCounters::reorder_bytes};

std::atomic<int64_t>& counter(Field field) {
  // Never destroyed: counted events may come late.
  static std::atomic<int64_t>* counters = new std::atomic<int64_t>[kFieldCount]();
  return counters[field];
}

void add(Field field, int64_t amount = 1) {
  counter(field).fetch_add(amount, std::memory_order_relaxed);
}

thread_local bool capturing_now = false;
thread_local std::vector<std::string>* trace_sink = nullptr;

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

RuntimeCounters RuntimeCounters::operator-(const RuntimeCounters& earlier) const {
  RuntimeCounters d;
  for (auto member : kMembers) d.*member = this->*member - earlier.*member;
  return d;
}

std::string RuntimeCounters::str() const {
  const auto n = [](int64_t v) { return std::to_string(v); };
  return "launches " + n(launches) + ", library calls " + n(library_calls) + ", host syncs " +
         n(host_syncs) + ", h2d " + n(h2d_copies) + " (" + bytes_text(h2d_bytes) + "), d2h " +
         n(d2h_copies) + " (" + bytes_text(d2h_bytes) + "), d2d " + n(d2d_copies) + " (" +
         bytes_text(d2d_bytes) + "), memsets " + n(memsets) + ", driver allocations " +
         n(driver_allocs) + ", pool hits " + n(cache_hits) + ", graph nodes " + n(graph_nodes) +
         ", graph launches " + n(graph_launches) + ", layout reorders " + n(layout_reorders) +
         " (" + bytes_text(reorder_bytes) + ")";
}

RuntimeCounters runtime_counters() {
  RuntimeCounters c;
  for (int f = 0; f < kFieldCount; ++f) {
    c.*kMembers[f] = counter(static_cast<Field>(f)).load(std::memory_order_relaxed);
  }
  return c;
}

void reset_runtime_counters() {
  for (int f = 0; f < kFieldCount; ++f) {
    counter(static_cast<Field>(f)).store(0, std::memory_order_relaxed);
  }
}

namespace count {

void launch(const char* kernel) {
  if (capturing_now) {
    add(kGraphNodes);
    return;
  }
  add(kLaunches);
  trace(kernel);
}
void library_call() { add(capturing_now ? kGraphNodes : kLibraryCalls); }
void host_sync() { add(kHostSyncs); }
void memset() { add(capturing_now ? kGraphNodes : kMemsets); }
void graph_launch() { add(kGraphLaunches); }
void set_capturing(bool capturing) { capturing_now = capturing; }
bool capturing() { return capturing_now; }
std::vector<std::string>* trace_launches(std::vector<std::string>* sink) {
  std::vector<std::string>* previous = trace_sink;
  trace_sink = sink;
  return previous;
}
void trace(const char* kernel) {
  if (trace_sink != nullptr && kernel != nullptr) trace_sink->emplace_back(kernel);
}

void copy(Copy kind, size_t bytes) {
  const auto amount = static_cast<int64_t>(bytes);
  switch (kind) {
    case Copy::host_to_device: add(kH2dCopies); add(kH2dBytes, amount); break;
    case Copy::device_to_host: add(kD2hCopies); add(kD2hBytes, amount); break;
    case Copy::device_to_device:
      if (capturing_now) {
        add(kGraphNodes);
        break;
      }
      add(kD2dCopies);
      add(kD2dBytes, amount);
      break;
  }
}

void allocation(bool cache_hit) { add(cache_hit ? kCacheHits : kDriverAllocs); }

void reorder(size_t bytes) {
  add(kLayoutReorders);
  add(kReorderBytes, static_cast<int64_t>(bytes));
}

}  // namespace count
}  // namespace weft
