// Shoe-pair folders and positive / negative pair examples (see pairs.h).
#include "engine/data/pairs.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>

#include "kernels/error.h"

namespace weft::data {

namespace fs = std::filesystem;

namespace {

std::vector<fs::path> sorted_subfolders(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (entry.is_directory() && !name.empty() && name[0] != '.') out.push_back(entry.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

// The one image file in `pair_dir` whose stem is `side` ("left" / "right").
std::string find_side(const fs::path& pair_dir, const std::string& side) {
  std::vector<std::string> matches;
  std::vector<std::string> seen;
  for (const fs::directory_entry& entry : fs::directory_iterator(pair_dir)) {
    if (!entry.is_regular_file()) continue;
    const std::string name = entry.path().filename().string();
    seen.push_back(name);
    if (lower(entry.path().stem().string()) == side && has_image_extension(name)) {
      matches.push_back(entry.path().string());
    }
  }
  std::sort(seen.begin(), seen.end());
  std::string listing;
  for (const std::string& name : seen) listing += (listing.empty() ? "" : ", ") + name;
  WEFT_CHECK(matches.size() == 1, pair_dir.string(), ": expected one ", side,
             ".<jpg|jpeg|png|bmp|pgm|ppm> photo, found ", matches.size(), " (files: ",
             listing.empty() ? "none" : listing, ")");
  return matches[0];
}

}  // namespace

PairedImages load_shoe_pairs(const std::string& root, const ImageFolderOptions& options) {
  WEFT_CHECK(fs::exists(root), root, ": no such directory");
  WEFT_CHECK(fs::is_directory(root), root, ": is not a directory (expected ",
             "root/<owner>/<pair>/left.jpg and right.jpg)");
  PairedImages all;
  std::vector<std::string> paths;
  try {
    const std::vector<fs::path> owners = sorted_subfolders(root);
    WEFT_CHECK(!owners.empty(), root, ": no owner folders (expected ",
               "root/<owner>/<pair>/left.jpg and right.jpg)");
    for (const fs::path& owner : owners) {
      const std::vector<fs::path> pairs = sorted_subfolders(owner);
      WEFT_CHECK(!pairs.empty(), owner.string(), ": owner folder without pair folders (expected ",
                 owner.filename().string(), "/<pair>/left.jpg and right.jpg)");
      const int32_t group = static_cast<int32_t>(all.group_names.size());
      all.group_names.push_back(owner.filename().string());
      for (const fs::path& pair : pairs) {
        const int32_t item = static_cast<int32_t>(all.item_names.size());
        all.item_names.push_back(owner.filename().string() + "/" + pair.filename().string());
        paths.push_back(find_side(pair, "left"));
        paths.push_back(find_side(pair, "right"));
        for (int32_t slot = 0; slot < 2; ++slot) {
          all.item.push_back(item);
          all.group.push_back(group);
          all.slot.push_back(slot);
        }
      }
    }
  } catch (const fs::filesystem_error& e) {
    throw Error(root + ": cannot list the folder tree: " + e.what());
  }

  DecodedImages decoded = decode_images(paths, options.image, options.bad_images, options.threads,
                                        options.progress);
  // A pair is kept only when both photos decoded: kept positions come in (2p, 2p+1) couples.
  std::set<int64_t> decoded_positions(decoded.kept.begin(), decoded.kept.end());
  std::map<std::string, std::string> reasons;
  for (const SkippedImage& s : decoded.skipped) reasons[s.path] = s.reason;
  PairedImages out;
  out.decode = decoded.stats;
  out.item_names = all.item_names;
  out.group_names = all.group_names;
  std::vector<int64_t> rows;  // rows of decoded.images to keep
  for (size_t p = 0; p + 1 < paths.size(); p += 2) {
    const bool left_ok = decoded_positions.count(static_cast<int64_t>(p)) > 0;
    const bool right_ok = decoded_positions.count(static_cast<int64_t>(p + 1)) > 0;
    if (left_ok && right_ok) {
      for (size_t k = p; k < p + 2; ++k) {
        const auto at = std::lower_bound(decoded.kept.begin(), decoded.kept.end(),
                                         static_cast<int64_t>(k));
        rows.push_back(at - decoded.kept.begin());
        out.item.push_back(all.item[k]);
        out.group.push_back(all.group[k]);
        out.slot.push_back(all.slot[k]);
        out.paths.push_back(paths[k]);
      }
      continue;
    }
    for (size_t k = p; k < p + 2; ++k) {
      const bool ok = k == p ? left_ok : right_ok;
      const std::string& partner = paths[k == p ? p + 1 : p];
      out.skipped.push_back(
          {paths[k], ok ? "its partner " + partner + " could not be used" : reasons[paths[k]]});
    }
  }
  WEFT_CHECK(!rows.empty(), root, ": no pair has two usable photos; first bad: ",
             out.skipped.at(0).path, ": ", out.skipped.at(0).reason);
  out.images = static_cast<int64_t>(rows.size()) == decoded.images.dim(0)
                   ? decoded.images
                   : gather_rows(decoded.images, rows);
  return out;
}

PairedImages paired_from_labels(const LabeledImages& data, const std::vector<int32_t>& groups) {
  const int64_t n = data.size();
  WEFT_CHECK(groups.empty() || static_cast<int64_t>(groups.size()) == n, "paired_from_labels: ",
             groups.size(), " groups for ", n, " images");
  const std::vector<int32_t> labels = data.labels.to_vector<int32_t>();
  // Photos of one item must be consecutive: order by (label, original index).
  std::vector<int64_t> order(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) order[static_cast<size_t>(i)] = i;
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    return labels[static_cast<size_t>(a)] < labels[static_cast<size_t>(b)];
  });
  PairedImages out;
  out.images = gather_rows(data.images, order);
  out.item_names = data.class_names;
  std::map<int32_t, int32_t> seen_in_item;
  int32_t largest_group = 0;
  for (int64_t i : order) {
    const int32_t label = labels[static_cast<size_t>(i)];
    out.item.push_back(label);
    out.group.push_back(groups.empty() ? 0 : groups[static_cast<size_t>(i)]);
    largest_group = std::max(largest_group, out.group.back());
    out.slot.push_back(seen_in_item[label]++ % 2);
  }
  for (int32_t g = 0; g <= largest_group; ++g) out.group_names.push_back(std::to_string(g));
  return out;
}

std::vector<PairExample> make_pairs(const PairedImages& photos, const PairOptions& options,
                                    Generator& generator, const std::vector<int64_t>& within) {
  WEFT_CHECK(options.negatives_per_positive >= 0, "make_pairs: negatives_per_positive is ",
             options.negatives_per_positive, ", expected >= 0");
  const int64_t n = photos.size();
  std::vector<bool> usable(static_cast<size_t>(n), within.empty());
  for (int64_t i : within) {
    WEFT_CHECK(i >= 0 && i < n, "make_pairs: index ", i, " outside the ", n, " photos");
    usable[static_cast<size_t>(i)] = true;
  }
  // Usable photos by item (in photo order), and negative candidates by (group, slot) and slot.
  std::map<int32_t, std::vector<int64_t>> by_item;
  std::map<std::pair<int32_t, int32_t>, std::vector<int64_t>> by_group_slot;
  std::map<int32_t, std::vector<int64_t>> by_slot;
  for (int64_t i = 0; i < n; ++i) {
    if (!usable[static_cast<size_t>(i)]) continue;
    const size_t k = static_cast<size_t>(i);
    by_item[photos.item[k]].push_back(i);
    by_group_slot[{photos.group[k], photos.slot[k]}].push_back(i);
    by_slot[photos.slot[k]].push_back(i);
  }

  // Up to `count` distinct members of `pool` whose item differs from `item`. Large pools (the
  // "anyone" pool of a big labelled set) are sampled by rejection instead of being filtered,
  // which would make building all examples quadratic in the number of photos.
  auto draw_others = [&](const std::vector<int64_t>& pool, int32_t item, int64_t count) {
    if (static_cast<int64_t>(pool.size()) > 16 * count + 64) {
      std::vector<int64_t> chosen;
      for (int64_t attempt = 0; attempt < 64 * count && static_cast<int64_t>(chosen.size()) < count;
           ++attempt) {
        const int64_t c = pool[static_cast<size_t>(generator.randint(
            static_cast<int64_t>(pool.size())))];
        if (photos.item[static_cast<size_t>(c)] == item) continue;
        if (std::find(chosen.begin(), chosen.end(), c) != chosen.end()) continue;
        chosen.push_back(c);
      }
      if (static_cast<int64_t>(chosen.size()) == count) return chosen;
    }
    std::vector<int64_t> valid;
    for (int64_t c : pool) {
      if (photos.item[static_cast<size_t>(c)] != item) valid.push_back(c);
    }
    generator.shuffle(valid);
    valid.resize(std::min<size_t>(valid.size(), static_cast<size_t>(count)));
    return valid;
  };

  std::vector<PairExample> out;
  for (const auto& [item, members] : by_item) {
    for (size_t m = 0; m + 1 < members.size(); m += 2) {
      const int64_t a = members[m], b = members[m + 1];
      const int32_t group = photos.group[static_cast<size_t>(a)];
      const int32_t slot = photos.slot[static_cast<size_t>(b)];
      out.push_back({a, b, 1, group});
      std::vector<int64_t> negatives;
      if (options.negatives == Negatives::same_group) {
        negatives = draw_others(by_group_slot[{group, slot}], item, options.negatives_per_positive);
      }
      if (negatives.empty()) {
        negatives = draw_others(by_slot[slot], item, options.negatives_per_positive);
      }
      for (int64_t c : negatives) out.push_back({a, c, 0, group});
    }
  }
  return out;
}

}  // namespace weft::data
