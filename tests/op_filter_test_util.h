// WEFT_OP_FILTER, the filter of the op-table test (tests/test_backend_ops.cpp): which op
// families and which backends' tables a run takes, so a slow build (a sanitizer run, say) can
// take one family at a time. Grammar and behaviour are described at the top of that test.
#pragma once

#include <algorithm>
#include <cstdlib>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "kernels/error.h"
#include "kernels/selection.h"

namespace weft::test {

// The labels run_table() is called with.
inline const std::vector<std::string>& backend_labels() {
  static const std::vector<std::string> labels = {
      "cpu", "emu", "cuda-hand", "cuda-vendor", "cuda-vendor-measured", "cpu-vendor", "dispatch"};
  return labels;
}

struct OpFilter {
  std::set<KernelFamily> families;  // empty: every family
  std::set<std::string> backends;   // empty: every backend
  std::string text = "none";        // as given, for the summary line

  bool selects(KernelFamily family) const {
    return families.empty() || families.count(family) != 0;
  }
  bool selects(const std::string& backend) const {
    return backends.empty() || backends.count(backend) != 0;
  }
};

inline std::string_view trimmed(std::string_view text) {
  const size_t first = text.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  return text.substr(first, text.find_last_not_of(" \t") - first + 1);
}

inline std::string family_names() {
  std::string names;
  for (int f = 0; f < kKernelFamilyCount; ++f) {
    names += std::string(names.empty() ? "" : ", ") + family_name(static_cast<KernelFamily>(f));
  }
  return names;
}

// Parses "family=conv,backend=emu" (see the top of this file); empty items are skipped. Throws
// Error naming the item it cannot read.
inline OpFilter parse_op_filter(std::string_view spec) {
  OpFilter filter;
  std::vector<std::string> items;
  size_t start = 0;
  while (start <= spec.size()) {
    const size_t comma = std::min(spec.find(',', start), spec.size());
    const std::string_view item = trimmed(spec.substr(start, comma - start));
    start = comma + 1;
    if (item.empty()) continue;
    const size_t equals = item.find('=');
    if (equals == std::string_view::npos) {
      throw Error("WEFT_OP_FILTER: \"" + std::string(item) +
                  "\" is not key=value (keys: family, backend)");
    }
    const std::string_view key = trimmed(item.substr(0, equals));
    const std::string value(trimmed(item.substr(equals + 1)));
    if (key == "family") {
      const std::optional<KernelFamily> family = parse_family(value);
      if (!family) {
        throw Error("WEFT_OP_FILTER: unknown family \"" + value +
                    "\" (families: " + family_names() + ")");
      }
      filter.families.insert(*family);
    } else if (key == "backend") {
      const std::vector<std::string>& labels = backend_labels();
      if (std::find(labels.begin(), labels.end(), value) == labels.end()) {
        throw Error("WEFT_OP_FILTER: unknown backend \"" + value +
                    "\" (backends: cpu, emu, cuda-hand, cuda-vendor, cpu-vendor, dispatch)");
      }
      filter.backends.insert(value);
    } else {
      throw Error("WEFT_OP_FILTER: unknown key \"" + std::string(key) +
                  "\" (keys: family, backend)");
    }
    items.emplace_back(item);
  }
  if (!items.empty()) {
    filter.text.clear();
    for (const std::string& item : items) filter.text += (filter.text.empty() ? "" : ",") + item;
  }
  return filter;
}

inline OpFilter op_filter_from_environment() {
  const char* spec = std::getenv("WEFT_OP_FILTER");
  return parse_op_filter(spec != nullptr ? spec : "");
}

}  // namespace weft::test
