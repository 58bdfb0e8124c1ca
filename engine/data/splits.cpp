// Seeded splits, class selection and oversampling (see splits.h).
#include "engine/data/splits.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>

#include "kernels/error.h"

namespace weft::data {

namespace {

void check_ratios(const std::vector<double>& ratios, const char* who) {
  WEFT_CHECK(!ratios.empty(), who, ": no ratios given");
  double sum = 0;
  for (size_t k = 0; k < ratios.size(); ++k) {
    WEFT_CHECK(ratios[k] > 0, who, ": ratio ", k, " is ", ratios[k], ", expected > 0");
    sum += ratios[k];
  }
  WEFT_CHECK(std::abs(sum - 1.0) < 1e-6, who, ": ratios sum to ", sum, ", expected 1");
}

// floor(x) that is not fooled by 0.7 * 100 = 69.99999...
int64_t floor_count(double x) { return static_cast<int64_t>(std::floor(x + 1e-9)); }

// Largest-remainder apportionment of `total` items over `ratios`: floors first, then one more
// item to the parts with the largest fractional parts.
std::vector<int64_t> apportion(int64_t total, const std::vector<double>& ratios) {
  std::vector<int64_t> counts(ratios.size());
  int64_t assigned = 0;
  for (size_t k = 0; k < ratios.size(); ++k) {
    counts[k] = floor_count(static_cast<double>(total) * ratios[k]);
    assigned += counts[k];
  }
  std::vector<size_t> order(ratios.size());
  std::iota(order.begin(), order.end(), 0);
  auto fraction = [&](size_t k) {
    const double exact = static_cast<double>(total) * ratios[k];
    return exact - static_cast<double>(counts[k]);
  };
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return fraction(a) > fraction(b); });
  for (size_t i = 0; assigned < total; ++i, ++assigned) ++counts[order[i % order.size()]];
  return counts;
}

}  // namespace

std::vector<IndexList> stratified_split(const std::vector<int32_t>& labels,
                                        const std::vector<double>& ratios,
                                        Generator& generator) {
  check_ratios(ratios, "stratified_split");
  const size_t parts = ratios.size();
  std::map<int32_t, IndexList> members;  // class -> its images, in class order
  for (size_t i = 0; i < labels.size(); ++i) {
    WEFT_CHECK(labels[i] >= 0, "stratified_split: label of entry ", i, " is ", labels[i],
               ", expected >= 0");
    members[labels[i]].push_back(static_cast<int64_t>(i));
  }

  // Per class, each part first gets floor(n_c * ratio); the leftover items of a class go to
  // parts whose share of that class has a fractional part (so the count is the ceiling), and
  // among those to the parts furthest below their overall target.
  const std::vector<int64_t> target = apportion(static_cast<int64_t>(labels.size()), ratios);
  std::vector<int64_t> deficit = target;
  std::map<int32_t, std::vector<int64_t>> counts;
  for (const auto& [label, images] : members) {  // first every class's floors ...
    std::vector<int64_t>& c = counts[label];
    for (size_t k = 0; k < parts; ++k) {
      c.push_back(floor_count(static_cast<double>(images.size()) * ratios[k]));
      deficit[k] -= c.back();
    }
  }
  for (const auto& [label, images] : members) {  // ... then their leftovers
    const double n = static_cast<double>(images.size());
    std::vector<int64_t>& c = counts[label];
    int64_t leftover = static_cast<int64_t>(images.size());
    for (int64_t count : c) leftover -= count;
    auto fraction = [&](size_t k) { return n * ratios[k] - static_cast<double>(c[k]); };
    std::vector<size_t> order(parts);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      const bool fa = fraction(a) > 1e-9, fb = fraction(b) > 1e-9;
      if (fa != fb) return fa;
      if (deficit[a] != deficit[b]) return deficit[a] > deficit[b];
      return fraction(a) > fraction(b);
    });
    for (int64_t i = 0; i < leftover; ++i) {
      ++c[order[static_cast<size_t>(i)]];
      --deficit[order[static_cast<size_t>(i)]];
    }
  }

  std::vector<IndexList> out(parts);
  for (auto& [label, images] : members) {
    generator.shuffle(images);
    size_t at = 0;
    for (size_t k = 0; k < parts; ++k) {
      for (int64_t i = 0; i < counts[label][k]; ++i) out[k].push_back(images[at++]);
    }
  }
  for (IndexList& part : out) std::sort(part.begin(), part.end());
  return out;
}

std::vector<IndexList> grouped_split(const std::vector<int32_t>& groups,
                                     const std::vector<double>& ratios, Generator& generator) {
  check_ratios(ratios, "grouped_split");
  std::map<int32_t, IndexList> members;
  for (size_t i = 0; i < groups.size(); ++i) {
    WEFT_CHECK(groups[i] >= 0, "grouped_split: group of entry ", i, " is ", groups[i],
               ", expected >= 0");
    members[groups[i]].push_back(static_cast<int64_t>(i));
  }
  std::vector<int32_t> order;
  for (const auto& entry : members) order.push_back(entry.first);
  generator.shuffle(order);

  // Each group goes to the part with the largest relative shortfall (target - size) / target;
  // an empty part's shortfall is 1, the largest possible, so every part gets a group early.
  const double total = static_cast<double>(groups.size());
  std::vector<double> size(ratios.size(), 0.0);
  std::vector<IndexList> out(ratios.size());
  for (int32_t group : order) {
    size_t best = 0;
    double best_shortfall = -1e300;
    for (size_t k = 0; k < ratios.size(); ++k) {
      const double target = total * ratios[k];
      const double shortfall = (target - size[k]) / target;
      if (shortfall > best_shortfall) {
        best_shortfall = shortfall;
        best = k;
      }
    }
    const IndexList& images = members[group];
    out[best].insert(out[best].end(), images.begin(), images.end());
    size[best] += static_cast<double>(images.size());
  }
  for (IndexList& part : out) std::sort(part.begin(), part.end());
  return out;
}

std::vector<IndexList> random_split(int64_t count, const std::vector<double>& ratios,
                                    Generator& generator) {
  WEFT_CHECK(count >= 0, "random_split: count ", count, " is negative");
  return stratified_split(std::vector<int32_t>(static_cast<size_t>(count), 0), ratios,
                          generator);
}

std::vector<int32_t> label_vector(const LabeledImages& data) {
  WEFT_CHECK(data.labels.defined() && data.labels.dtype() == DType::i32,
             "label_vector: expected int32 labels");
  return data.labels.to_vector<int32_t>();
}

ClassSelection classes_with_at_least(const std::vector<int32_t>& labels, int64_t min_count,
                                     int num_classes) {
  int32_t largest = -1;
  for (size_t i = 0; i < labels.size(); ++i) {
    WEFT_CHECK(labels[i] >= 0, "classes_with_at_least: label of entry ", i, " is ", labels[i],
               ", expected >= 0");
    largest = std::max(largest, labels[i]);
  }
  if (num_classes == 0) num_classes = largest + 1;
  WEFT_CHECK(largest < num_classes, "classes_with_at_least: label ", largest, " but only ",
             num_classes, " classes");
  ClassSelection s;
  s.counts.assign(static_cast<size_t>(num_classes), 0);
  for (int32_t label : labels) ++s.counts[static_cast<size_t>(label)];
  s.new_label.assign(static_cast<size_t>(num_classes), -1);
  for (int32_t c = 0; c < num_classes; ++c) {
    if (s.counts[static_cast<size_t>(c)] >= min_count) {
      s.new_label[static_cast<size_t>(c)] = static_cast<int32_t>(s.kept.size());
      s.kept.push_back(c);
    }
  }
  for (size_t i = 0; i < labels.size(); ++i) {
    if (s.new_label[static_cast<size_t>(labels[i])] >= 0) {
      s.indices.push_back(static_cast<int64_t>(i));
    }
  }
  return s;
}

IndexList oversample_indices(const std::vector<int32_t>& labels, Generator& generator,
                             const IndexList& indices) {
  IndexList base = indices;
  if (base.empty()) {
    base.resize(labels.size());
    std::iota(base.begin(), base.end(), 0);
  }
  std::map<int32_t, IndexList> members;
  for (int64_t i : base) {
    WEFT_CHECK(i >= 0 && i < static_cast<int64_t>(labels.size()), "oversample_indices: index ",
               i, " outside the ", labels.size(), " labels");
    members[labels[static_cast<size_t>(i)]].push_back(i);
  }
  size_t largest = 0;
  for (const auto& entry : members) largest = std::max(largest, entry.second.size());
  IndexList out = base;
  // Whole extra rounds of a class first, then a random subset without replacement for the rest,
  // so every member is repeated as evenly as possible.
  for (auto& [label, images] : members) {
    const size_t missing = largest - images.size();
    for (size_t round = 0; round < missing / images.size(); ++round) {
      out.insert(out.end(), images.begin(), images.end());
    }
    IndexList shuffled = images;
    generator.shuffle(shuffled);
    out.insert(out.end(), shuffled.begin(),
               shuffled.begin() + static_cast<int64_t>(missing % images.size()));
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace weft::data
