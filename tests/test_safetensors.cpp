// safetensors checkpoints (engine/io/safetensors.h) and Module::load_state_dict: a module with
// every dtype weft stores (F32, I32, U8, I64, a 0-d and an empty tensor) survives a save/load
// into a fresh module; the bytes of a tiny file match a string built by hand from the format;
// a mismatching state dict is rejected with every problem listed; malformed files are rejected
// with the path and the problem in the message; and the atomic write never leaves a temporary
// file behind nor damages the file it was replacing.
#include <sys/resource.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/io/atomic_file.h"
#include "engine/io/safetensors.h"
#include "engine/nn/layers.h"
#include "tests/engine_test_util.h"
#include "tests/train_test_util.h"

namespace {

using Catch::Matchers::Contains;
using weft::Tensor;
using weft::test::error_message;
using weft::test::TempDir;

// A module holding one tensor of every kind a checkpoint must carry, its values drawn from
// `seed` so two instances differ.
class AllKinds : public weft::nn::Module {
 public:
  explicit AllKinds(uint64_t seed) {
    weft::manual_seed(seed);  // for the Linear child's initialisation
    weft::Generator rng(seed);
    weight = register_parameter("weight", Tensor::from_vector(rng.uniform(6, -1.0f, 1.0f), {2, 3}));
    std::vector<int32_t> label_values;
    for (int i = 0; i < 4; ++i)
      label_values.push_back(static_cast<int32_t>(rng.randint(1000)) - 500);
    labels = register_buffer("labels", Tensor::from_vector(label_values, {4}));
    std::vector<uint8_t> pixel_values;
    for (int i = 0; i < 5; ++i) pixel_values.push_back(static_cast<uint8_t>(rng.randint(256)));
    pixels = register_buffer("pixels", Tensor::from_vector(pixel_values, {5}));
    counter = register_buffer("counter", Tensor::zeros({}, weft::DType::i64));
    // Beyond 32 bits, so a truncation to int32 anywhere would show.
    counter.data<int64_t>()[0] = (int64_t{1} << 40) + static_cast<int64_t>(seed);
    temperature = register_buffer("temperature", Tensor::scalar(rng.uniform()));
    nothing = register_buffer("nothing", Tensor::zeros({0, 3}));
    head = register_module("head", std::make_shared<weft::nn::Linear>(3, 2));
  }
  std::string type_name() const override { return "AllKinds"; }

  Tensor weight, labels, pixels, counter, temperature, nothing;
  std::shared_ptr<weft::nn::Linear> head;
};

bool same_bytes(const Tensor& a, const Tensor& b) {
  const size_t bytes = static_cast<size_t>(a.numel()) * weft::dtype_size(a.dtype());
  return a.dtype() == b.dtype() && a.shape() == b.shape() &&
         (bytes == 0 || std::memcmp(a.raw_data(), b.raw_data(), bytes) == 0);
}

std::map<std::string, Tensor> as_map(const weft::nn::NamedTensors& tensors) {
  return {tensors.begin(), tensors.end()};
}

// The 8-byte little-endian header length, the header, the data.
std::string safetensors_bytes(const std::string& header, const std::string& data) {
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((header.size() >> (8 * i)) & 0xFF);
  return bytes + header + data;
}

void write_bytes(const std::string& path, const std::string& bytes) {
  weft::io::write_file_atomic(path, bytes);
}

}  // namespace

TEST_CASE("safetensors: a state dict with every dtype round-trips into a fresh module",
          "[safetensors]") {
  TempDir dir("safetensors");
  const std::string path = dir.file("all_kinds.safetensors");
  AllKinds original(1);
  weft::io::save_safetensors(path, original.state_dict(), {{"epoch", "3"}});

  AllKinds restored(2);
  // Before loading the two modules differ, so the comparison below can fail.
  CHECK_FALSE(same_bytes(restored.weight, original.weight));
  CHECK_FALSE(same_bytes(restored.counter, original.counter));

  const weft::io::SafetensorsContents contents = weft::io::load_safetensors(path);
  CHECK(contents.metadata == std::map<std::string, std::string>{{"epoch", "3"}});
  restored.load_state_dict(contents.tensors);
  const weft::nn::NamedTensors expected = original.state_dict();
  const std::map<std::string, Tensor> got = as_map(restored.state_dict());
  REQUIRE(got.size() == expected.size());
  for (const auto& [name, tensor] : expected) {
    INFO("tensor " << name << " " << tensor.str());
    REQUIRE(got.count(name) == 1);
    CHECK(same_bytes(got.at(name), tensor));
  }
  CHECK(restored.counter.to_vector<int64_t>()[0] == (int64_t{1} << 40) + 1);
  CHECK(restored.nothing.shape() == weft::Shape{0, 3});
  CHECK(restored.temperature.shape().empty());
}

TEST_CASE("safetensors: the bytes of a tiny file match the format, built by hand",
          "[safetensors]") {
  TempDir dir("safetensors");
  const std::string path = dir.file("tiny.safetensors");
  const Tensor a = Tensor::from_vector(std::vector<float>{1.0f, -2.0f}, {2});
  const Tensor b = Tensor::from_vector(std::vector<uint8_t>{1, 2, 255}, {3});
  weft::io::save_safetensors(path, {{"a", a}, {"b", b}});

  // The header is 107 bytes of JSON padded with 5 spaces to 112 = 0x70, so the data starts
  // 8-byte aligned; data offsets are relative to the end of the header.
  const std::string length("\x70\x00\x00\x00\x00\x00\x00\x00", 8);
  const std::string header = R"({"a":{"data_offsets":[0,8],"dtype":"F32","shape":[2]},)"
                             R"("b":{"data_offsets":[8,11],"dtype":"U8","shape":[3]}})"
                             "     ";
  // 1.0f = 0x3F800000 and -2.0f = 0xC0000000, little-endian; then the three bytes of b.
  const std::string data(
      "\x00\x00\x80\x3f"
      "\x00\x00\x00\xc0"
      "\x01\x02\xff",
      11);
  REQUIRE(header.size() == 112);
  const std::string expected = length + header + data;
  const std::string written = weft::io::read_file(path);
  CHECK(written.size() == expected.size());
  CHECK(written == expected);

  // And the hand-built bytes read back as the same tensors.
  const weft::io::SafetensorsContents contents =
      weft::io::parse_safetensors(expected, "hand-built");
  REQUIRE(contents.tensors.size() == 2);
  CHECK(same_bytes(contents.tensors.at("a"), a));
  CHECK(same_bytes(contents.tensors.at("b"), b));
}

TEST_CASE("safetensors: load_state_dict lists every missing, unexpected and wrong-shape name",
          "[safetensors]") {
  auto make_model = [] {
    return std::make_shared<weft::nn::Sequential>(
        weft::nn::Sequential{std::make_shared<weft::nn::Linear>(3, 2), weft::nn::BatchNorm1d(2)});
  };
  auto model = make_model();
  const std::vector<float> weight_before = model->state_dict().front().second.to_vector<float>();

  std::map<std::string, Tensor> state = as_map(make_model()->state_dict());
  state.erase("0.bias");
  state["extra.weight"] = Tensor::zeros({4});
  state["1.weight"] = Tensor::zeros({3});
  state["1.num_batches_tracked"] = Tensor::zeros({});  // F32 where I64 is expected
  const std::string message = error_message([&] { model->load_state_dict(state); });
  CHECK_THAT(message, Contains("4 problems"));
  CHECK_THAT(message, Contains("missing: 0.bias [2]"));
  CHECK_THAT(message, Contains("unexpected: extra.weight [4]"));
  CHECK_THAT(message, Contains("1.weight: expected [2] F32, found [3] F32"));
  CHECK_THAT(message, Contains("1.num_batches_tracked: expected [] I64, found [] F32"));
  // Nothing was copied: the check runs before any tensor is overwritten.
  CHECK(model->state_dict().front().second.to_vector<float>() == weight_before);
}

TEST_CASE("safetensors: the metadata alone is read from the header, checked like a full load",
          "[io]") {
  TempDir dir("safetensors");
  const std::string path = dir.file("m.safetensors");
  const std::map<std::string, std::string> metadata = {{"epoch", "3"}, {"config", "{}"}};
  weft::io::save_safetensors(path, {{"w", Tensor::ones({4, 4})}}, metadata);
  CHECK(weft::io::load_safetensors_metadata(path) == metadata);
  CHECK(weft::io::load_safetensors_metadata(path) == weft::io::load_safetensors(path).metadata);

  weft::io::save_safetensors(path, {{"w", Tensor::ones({2})}});
  CHECK(weft::io::load_safetensors_metadata(path).empty());

  const std::string bytes = weft::io::read_file(path);
  weft::io::write_file_atomic(path, bytes.substr(0, 12));  // the header cut short
  CHECK_THAT(error_message([&] { weft::io::load_safetensors_metadata(path); }),
             Contains(path) && Contains("exceeds the file size"));
  weft::io::write_file_atomic(path, "abc");
  CHECK_THAT(error_message([&] { weft::io::load_safetensors_metadata(path); }),
             Contains("only 3 bytes, expected at least 8"));
  CHECK_THAT(error_message([&] { weft::io::load_safetensors_metadata(dir.file("none")); }),
             Contains("cannot open"));
}

TEST_CASE("safetensors: malformed files are rejected with the path and the problem",
          "[safetensors]") {
  TempDir dir("safetensors");
  const std::string path = dir.file("bad.safetensors");
  const std::string eight_floats(32, '\0');
  auto rejection = [&](const std::string& bytes) {
    write_bytes(path, bytes);
    const std::string message = error_message([&] { weft::io::load_safetensors(path); });
    CHECK_THAT(message, Contains(path));
    return message;
  };

  SECTION("shorter than the 8-byte length") {
    CHECK_THAT(rejection("abc"), Contains("only 3 bytes"));
  }
  SECTION("a header length beyond the file size") {
    std::string bytes = safetensors_bytes("{}", "");
    bytes[0] = static_cast<char>(200);
    CHECK_THAT(rejection(bytes), Contains("header length 200 exceeds the file size 10"));
  }
  SECTION("a header that is not JSON") {
    CHECK_THAT(rejection(safetensors_bytes("{not json", "")), Contains("not valid JSON"));
  }
  SECTION("a header that is not a JSON object") {
    CHECK_THAT(rejection(safetensors_bytes("[1, 2]", "")), Contains("not a JSON object"));
  }
  SECTION("an unknown dtype") {
    CHECK_THAT(rejection(safetensors_bytes(
                   R"({"w":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}})", "abcd")),
               Contains("tensor 'w'") && Contains("dtype F16 is not supported"));
  }
  SECTION("a shape that does not match the size of the data offsets") {
    CHECK_THAT(rejection(safetensors_bytes(
                   R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", "abcd")),
               Contains("shape [2] of F32 needs 8 bytes but data_offsets span 4"));
  }
  SECTION("offsets past the end: a valid file with its last bytes chopped off") {
    weft::io::save_safetensors(path, {{"w", Tensor::zeros({8})}});
    std::string bytes = weft::io::read_file(path);
    bytes.resize(bytes.size() - 3);
    CHECK_THAT(rejection(bytes), Contains("tensor 'w'") && Contains("[0, 32]") &&
                                     Contains("outside the 29 data bytes"));
  }
  SECTION("overlapping data offsets") {
    CHECK_THAT(
        rejection(safetensors_bytes(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
                                    R"("b":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}})",
                                    std::string(24, '\0'))),
        Contains("overlap at byte 8"));
  }
  SECTION("a negative shape entry") {
    CHECK_THAT(rejection(safetensors_bytes(
                   R"({"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", eight_floats)),
               Contains("tensor 'w'") && Contains("not a non-negative integer"));
  }
  SECTION("__metadata__ with a value that is not a string") {
    CHECK_THAT(rejection(safetensors_bytes(R"({"__metadata__":{"epoch":3}})", "")),
               Contains("__metadata__ value 'epoch' is not a string"));
  }
}

TEST_CASE("safetensors: saving into a missing directory throws and leaves nothing behind",
          "[safetensors]") {
  TempDir dir("safetensors");
  const std::string path = dir.path_of("missing/model.safetensors");
  const std::string message = error_message([&] {
    weft::io::save_safetensors(path, {{"w", Tensor::zeros({4})}});
  });
  CHECK_THAT(message, Contains(path));
  CHECK(dir.entries().empty());
}

using weft::test::FileSizeLimit;  // tests/train_test_util.h

TEST_CASE("safetensors: a save that fails half-way leaves the old file intact", "[safetensors]") {
  TempDir dir("safetensors");
  const std::string path = dir.file("checkpoint.safetensors");
  const Tensor old_weights = Tensor::from_vector(std::vector<float>{1.0f, 2.0f, 3.0f}, {3});
  weft::io::save_safetensors(path, {{"w", old_weights}});
  const std::string old_bytes = weft::io::read_file(path);

  std::string message;
  {
    // 16 KiB of new data against a 1 KiB limit: the temporary file's write fails part way.
    FileSizeLimit limit(1024);
    message = error_message([&] {
      weft::io::save_safetensors(path, {{"w", Tensor::ones({4096})}});
    });
  }
  CHECK_THAT(message, Contains(path));
  CHECK(weft::io::read_file(path) == old_bytes);
  CHECK(dir.entries() == std::vector<std::string>{"checkpoint.safetensors"});
  const weft::io::SafetensorsContents contents = weft::io::load_safetensors(path);
  CHECK(same_bytes(contents.tensors.at("w"), old_weights));
}
