// The choice between hand kernels and cuDNN/cuBLAS (kernels/selection.h) and the backend that
// applies it (kernels/selecting_backend.h), tested without a GPU: the WEFT_KERNELS parser, the
// API and its precedence over the environment, the pure decision function, the once-only log,
// and the routing of every op family through SelectingBackend with two recording fake backends
// standing in for the hand kernels and the vendor libraries. Label: cpu.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "engine/error.h"
#include "kernels/hand_support.h"
#include "kernels/partial_backend.h"
#include "kernels/selecting_backend.h"
#include "kernels/selection.h"

namespace {

using weft::KernelChoice;
using weft::KernelFamily;
using weft::KernelPath;
using Note = weft::KernelDecision::Note;

const std::vector<KernelFamily> kAllFamilies = {
    KernelFamily::conv,        KernelFamily::conv_transpose, KernelFamily::batchnorm,
    KernelFamily::dropout,     KernelFamily::gemm,           KernelFamily::pool,
    KernelFamily::elementwise, KernelFamily::softmax,        KernelFamily::loss,
    KernelFamily::optimizer};

// Sets (or clears) an environment variable for the test and restores it afterwards, then
// re-reads the kernel choices so no test sees another's settings.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value != nullptr) {
      setenv(name, value, 1);
    } else {
      unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      setenv(name_, old_->c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

// A clean slate for the settings and the log, with the log captured.
class SelectionFixture {
 public:
  SelectionFixture() : kernels_("WEFT_KERNELS", nullptr), tf32_("WEFT_TF32", nullptr) {
    weft::reset_kernel_choices();
    weft::reset_kernel_log();
    previous_sink_ = weft::set_kernel_log_sink([this](const std::string& m) { log.push_back(m); });
  }
  ~SelectionFixture() {
    weft::set_kernel_log_sink(previous_sink_);
    weft::reset_kernel_log();
    weft::reset_kernel_choices();
  }

  std::vector<std::string> log;

 private:
  ScopedEnv kernels_;
  ScopedEnv tf32_;
  weft::KernelLogSink previous_sink_;
};

// A backend that records which of its methods were called; everything else throws.
class RecordingBackend final : public weft::PartialBackend {
 public:
  explicit RecordingBackend(const char* name) : name_(name) {}
  const char* name() const override { return name_; }

  void conv2d_forward(const weft::Conv2dParams&, const float*, const float*, const float*,
                      float*) override {
    note("conv2d_forward");
  }
  void conv2d_backward_data(const weft::Conv2dParams&, const float*, const float*,
                            float*) override {
    note("conv2d_backward_data");
  }
  void conv2d_backward_filter(const weft::Conv2dParams&, const float*, const float*, float*,
                              float*) override {
    note("conv2d_backward_filter");
  }
  void conv_transpose2d_forward(const weft::ConvTranspose2dParams&, const float*, const float*,
                                const float*, float*) override {
    note("conv_transpose2d_forward");
  }
  void conv_transpose2d_backward_data(const weft::ConvTranspose2dParams&, const float*,
                                      const float*, float*) override {
    note("conv_transpose2d_backward_data");
  }
  void conv_transpose2d_backward_filter(const weft::ConvTranspose2dParams&, const float*,
                                        const float*, float*, float*) override {
    note("conv_transpose2d_backward_filter");
  }
  void gemm(const weft::GemmParams&, const float*, const float*, float*) override {
    note("gemm");
  }
  void linear_forward(int, int, int, const float*, const float*, const float*, float*) override {
    note("linear_forward");
  }
  void linear_backward(int, int, int, const float*, const float*, const float*, float*, float*,
                       float*) override {
    note("linear_backward");
  }
  void batch_norm_forward_train(const weft::BatchNormParams&, const float*, const float*,
                                const float*, float*, float*, float*, float*, float*) override {
    note("batch_norm_forward_train");
  }
  void batch_norm_backward(const weft::BatchNormParams&, const float*, const float*, const float*,
                           const float*, const float*, float*, float*, float*) override {
    note("batch_norm_backward");
  }
  void dropout_forward(const weft::DropoutParams&, const float*, float*) override {
    note("dropout_forward");
  }
  void dropout_backward(const weft::DropoutParams&, const float*, float*) override {
    note("dropout_backward");
  }
  void max_pool2d_forward(const weft::Pool2dParams&, const float*, float*, int32_t*) override {
    note("max_pool2d_forward");
  }

  std::vector<std::string> calls;

 private:
  // Out of line on purpose: inlined, GCC 12 sees the literal's length inside std::string's copy
  // and reports a false -Warray-bounds / -Wstringop-overread.
  [[gnu::noinline]] void note(const char* name) { calls.emplace_back(name); }

 private:
  const char* name_;
};

// The three passes of a transposed convolution through `backend`.
void run_conv_transpose(weft::Backend& backend, const weft::ConvTranspose2dParams& p) {
  backend.conv_transpose2d_forward(p, nullptr, nullptr, nullptr, nullptr);
  backend.conv_transpose2d_backward_data(p, nullptr, nullptr, nullptr);
  backend.conv_transpose2d_backward_filter(p, nullptr, nullptr, nullptr, nullptr);
}

// A transposed convolution the hand kernel does not support (output padding == stride).
weft::ConvTranspose2dParams unsupported_conv_transpose() {
  weft::ConvTranspose2dParams p;
  p.stride_h = p.stride_w = 2;
  p.output_pad_h = 2;
  return p;
}

const std::vector<std::string> kConvTransposeCalls = {"conv_transpose2d_forward",
                                                      "conv_transpose2d_backward_data",
                                                      "conv_transpose2d_backward_filter"};

}  // namespace

// ---- names and parsing --------------------------------------------------------------------------

TEST_CASE("kernel selection: family and choice names round-trip") {
  for (KernelFamily f : kAllFamilies) {
    INFO(weft::family_name(f));
    REQUIRE(weft::parse_family(weft::family_name(f)) == f);
  }
  for (KernelChoice c : {KernelChoice::hand, KernelChoice::vendor, KernelChoice::automatic}) {
    REQUIRE(weft::parse_choice(weft::choice_name(c)) == c);
  }
  CHECK(std::string(weft::choice_name(KernelChoice::automatic)) == "auto");
  CHECK_FALSE(weft::parse_family("convolution"));
  CHECK_FALSE(weft::parse_choice("fast"));
}

TEST_CASE("kernel selection: which families have a vendor path") {
  for (KernelFamily f : kAllFamilies) {
    const bool expected = f == KernelFamily::conv || f == KernelFamily::conv_transpose ||
                          f == KernelFamily::batchnorm || f == KernelFamily::gemm;
    INFO(weft::family_name(f));
    CHECK(weft::has_vendor_path(f) == expected);
  }
}

TEST_CASE("kernel selection: WEFT_KERNELS syntax") {
  SECTION("a bare choice sets every family") {
    const weft::KernelChoices c = weft::parse_kernel_choices("vendor");
    for (KernelFamily f : kAllFamilies) CHECK(c[f] == KernelChoice::vendor);
  }
  SECTION("family=choice items set those families only") {
    const weft::KernelChoices c = weft::parse_kernel_choices("conv=vendor,gemm=hand");
    CHECK(c[KernelFamily::conv] == KernelChoice::vendor);
    CHECK(c[KernelFamily::gemm] == KernelChoice::hand);
    CHECK_FALSE(c[KernelFamily::batchnorm]);
    CHECK_FALSE(c[KernelFamily::dropout]);
  }
  SECTION("spaces and empty items are ignored") {
    const weft::KernelChoices c =
        weft::parse_kernel_choices(" conv_transpose = auto , ,pool=hand,");
    CHECK(c[KernelFamily::conv_transpose] == KernelChoice::automatic);
    CHECK(c[KernelFamily::pool] == KernelChoice::hand);
    CHECK_FALSE(c[KernelFamily::conv]);
  }
  SECTION("items apply left to right") {
    const weft::KernelChoices c =
        weft::parse_kernel_choices("vendor,dropout=hand,all=auto,gemm=hand");
    CHECK(c[KernelFamily::conv] == KernelChoice::automatic);
    CHECK(c[KernelFamily::dropout] == KernelChoice::automatic);
    CHECK(c[KernelFamily::gemm] == KernelChoice::hand);
  }
  SECTION("an empty string changes nothing") {
    const weft::KernelChoices c = weft::parse_kernel_choices("");
    for (KernelFamily f : kAllFamilies) CHECK_FALSE(c[f]);
  }
  SECTION("mistakes are errors that name the item") {
    CHECK_THROWS_WITH(weft::parse_kernel_choices("conv=fast"),
                      Catch::Contains("conv=fast") && Catch::Contains("hand, vendor or auto"));
    CHECK_THROWS_WITH(
        weft::parse_kernel_choices("gemm=hand,convolution=hand"),
        Catch::Contains("unknown family \"convolution\"") && Catch::Contains("conv_transpose"));
    CHECK_THROWS_AS(weft::parse_kernel_choices("conv="), weft::Error);
    CHECK_THROWS_AS(weft::parse_kernel_choices("=hand"), weft::Error);
    CHECK_THROWS_AS(weft::parse_kernel_choices("conv"), weft::Error);
  }
}

// ---- settings -----------------------------------------------------------------------------------

TEST_CASE("kernel selection: defaults, environment and API") {
  SelectionFixture fixture;
  SECTION("the default is auto everywhere and TF32 off") {
    for (KernelFamily f : kAllFamilies) CHECK(weft::kernel_choice(f) == KernelChoice::automatic);
    CHECK_FALSE(weft::vendor_tf32());
  }
  SECTION("WEFT_KERNELS and WEFT_TF32 are read, and the API overrides them") {
    ScopedEnv kernels("WEFT_KERNELS", "conv=hand,batchnorm=vendor");
    ScopedEnv tf32("WEFT_TF32", "1");
    weft::reset_kernel_choices();
    CHECK(weft::kernel_choice(KernelFamily::conv) == KernelChoice::hand);
    CHECK(weft::kernel_choice(KernelFamily::batchnorm) == KernelChoice::vendor);
    CHECK(weft::kernel_choice(KernelFamily::gemm) == KernelChoice::automatic);
    CHECK(weft::vendor_tf32());

    weft::set_kernel_choice(KernelFamily::conv, KernelChoice::vendor);
    weft::set_vendor_tf32(false);
    CHECK(weft::kernel_choice(KernelFamily::conv) == KernelChoice::vendor);
    CHECK(weft::kernel_choice(KernelFamily::batchnorm) == KernelChoice::vendor);
    CHECK_FALSE(weft::vendor_tf32());
  }
  SECTION("set_kernel_choice for one family, for all, and by spec") {
    weft::set_kernel_choice(KernelFamily::gemm, KernelChoice::hand);
    CHECK(weft::kernel_choice(KernelFamily::gemm) == KernelChoice::hand);
    CHECK(weft::kernel_choice(KernelFamily::conv) == KernelChoice::automatic);
    weft::set_kernel_choice(KernelChoice::vendor);
    for (KernelFamily f : kAllFamilies) CHECK(weft::kernel_choice(f) == KernelChoice::vendor);
    weft::set_kernel_choices("conv=hand");
    CHECK(weft::kernel_choice(KernelFamily::conv) == KernelChoice::hand);
    CHECK(weft::kernel_choice(KernelFamily::gemm) == KernelChoice::vendor);
  }
  SECTION("a bad spec from the API throws and changes nothing") {
    weft::set_kernel_choice(KernelFamily::conv, KernelChoice::hand);
    CHECK_THROWS_AS(weft::set_kernel_choices("gemm=vendor,conv=quick"), weft::Error);
    CHECK(weft::kernel_choice(KernelFamily::conv) == KernelChoice::hand);
    CHECK(weft::kernel_choice(KernelFamily::gemm) == KernelChoice::automatic);
  }
  SECTION("a bad WEFT_KERNELS is reported with the variable's name") {
    ScopedEnv kernels("WEFT_KERNELS", "conv=cudnn");
    CHECK_THROWS_WITH(weft::reset_kernel_choices(),
                      Catch::Contains("WEFT_KERNELS=\"conv=cudnn\"") && Catch::Contains("cudnn"));
  }
  SECTION("reset forgets API changes") {
    weft::set_kernel_choice(KernelChoice::hand);
    weft::reset_kernel_choices();
    for (KernelFamily f : kAllFamilies) CHECK(weft::kernel_choice(f) == KernelChoice::automatic);
  }
}

// ---- the decision -------------------------------------------------------------------------------

TEST_CASE("kernel selection: the decision as a function of choice and support") {
  const weft::KernelSupport yes = weft::KernelSupport::yes();
  const weft::KernelSupport no = weft::KernelSupport::no("stride 3");
  struct Row {
    KernelFamily family;
    KernelChoice choice;
    bool supported;
    KernelPath path;
    Note note;
  };
  const std::vector<Row> table = {
      // families with a vendor path
      {KernelFamily::conv, KernelChoice::automatic, true, KernelPath::hand, Note::none},
      {KernelFamily::conv, KernelChoice::automatic, false, KernelPath::vendor, Note::fallback},
      {KernelFamily::conv, KernelChoice::hand, true, KernelPath::hand, Note::none},
      {KernelFamily::conv, KernelChoice::hand, false, KernelPath::hand, Note::hand_unsupported},
      {KernelFamily::conv, KernelChoice::vendor, true, KernelPath::vendor, Note::none},
      {KernelFamily::conv, KernelChoice::vendor, false, KernelPath::vendor, Note::none},
      {KernelFamily::gemm, KernelChoice::automatic, false, KernelPath::vendor, Note::fallback},
      {KernelFamily::batchnorm, KernelChoice::vendor, true, KernelPath::vendor, Note::none},
      // families with hand kernels only
      {KernelFamily::dropout, KernelChoice::automatic, true, KernelPath::hand, Note::none},
      {KernelFamily::dropout, KernelChoice::vendor, true, KernelPath::hand, Note::no_vendor_path},
      {KernelFamily::pool, KernelChoice::hand, true, KernelPath::hand, Note::none},
      {KernelFamily::pool, KernelChoice::automatic, false, KernelPath::hand,
       Note::hand_unsupported},
      {KernelFamily::softmax, KernelChoice::vendor, false, KernelPath::hand,
       Note::hand_unsupported},
  };
  for (const Row& row : table) {
    INFO(weft::family_name(row.family) << " " << weft::choice_name(row.choice)
                                       << (row.supported ? " supported" : " unsupported"));
    const weft::KernelDecision d =
        weft::decide_kernel_path(row.family, row.choice, row.supported ? yes : no);
    CHECK(d.path == row.path);
    CHECK(d.note == row.note);
    if (row.note == Note::fallback || row.note == Note::hand_unsupported) {
      CHECK(d.reason == "stride 3");
    }
  }
}

TEST_CASE("kernel selection: the hand kernels' supports() predicates") {
  weft::ConvTranspose2dParams t;
  t.stride_h = t.stride_w = 2;
  t.output_pad_h = t.output_pad_w = 1;
  CHECK(weft::hand_supports(t).supported);
  t.output_pad_w = 2;
  const weft::KernelSupport s = weft::hand_supports(t);
  CHECK_FALSE(s.supported);
  CHECK_THAT(s.reason, Catch::Contains("output padding (1, 2)"));

  weft::Conv2dParams c;
  c.stride_h = 3;
  c.dilation_w = 2;
  CHECK(weft::hand_supports(c).supported);
  CHECK(weft::hand_supports(weft::GemmParams{}).supported);
  CHECK(weft::hand_supports(weft::BatchNormParams{}).supported);
  CHECK(weft::hand_supports_linear(3, 10, 4).supported);
}

TEST_CASE("kernel selection: notes are logged once per family and reason") {
  SelectionFixture fixture;
  CHECK(weft::log_kernel_note_once(KernelFamily::conv, "r1", "first"));
  CHECK_FALSE(weft::log_kernel_note_once(KernelFamily::conv, "r1", "again"));
  CHECK(weft::log_kernel_note_once(KernelFamily::conv, "r2", "other reason"));
  CHECK(weft::log_kernel_note_once(KernelFamily::gemm, "r1", "other family"));
  CHECK(fixture.log == std::vector<std::string>{"first", "other reason", "other family"});
  weft::reset_kernel_log();
  CHECK(weft::log_kernel_note_once(KernelFamily::conv, "r1", "after reset"));
  CHECK(fixture.log.size() == 4);
}

// ---- the selecting backend ----------------------------------------------------------------------

TEST_CASE("kernel selection: SelectingBackend routes each family as chosen") {
  SelectionFixture fixture;
  RecordingBackend hand("hand"), vendor("vendor");
  weft::SelectingBackend backend("selecting", hand, vendor);
  CHECK(std::string(backend.name()) == "selecting");
  const weft::Conv2dParams conv;
  const weft::BatchNormParams bn;

  SECTION("auto runs the hand kernels where they support the call") {
    backend.conv2d_forward(conv, nullptr, nullptr, nullptr, nullptr);
    backend.linear_forward(2, 3, 4, nullptr, nullptr, nullptr, nullptr);
    backend.batch_norm_forward_train(bn, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr,
                                     nullptr, nullptr);
    backend.max_pool2d_forward(weft::Pool2dParams{}, nullptr, nullptr, nullptr);
    CHECK(hand.calls == std::vector<std::string>{"conv2d_forward", "linear_forward",
                                                 "batch_norm_forward_train", "max_pool2d_forward"});
    CHECK(vendor.calls.empty());
    CHECK(fixture.log.empty());
  }
  SECTION("auto falls back for an unsupported call, forward and backward alike, logging once") {
    run_conv_transpose(backend, unsupported_conv_transpose());
    run_conv_transpose(backend, unsupported_conv_transpose());
    CHECK(hand.calls.empty());
    std::vector<std::string> twice = kConvTransposeCalls;
    twice.insert(twice.end(), kConvTransposeCalls.begin(), kConvTransposeCalls.end());
    CHECK(vendor.calls == twice);
    REQUIRE(fixture.log.size() == 1);
    CHECK_THAT(fixture.log[0], Catch::Contains("conv_transpose") &&
                                   Catch::Contains("output padding") &&
                                   Catch::Contains("using vendor"));
  }
  SECTION("vendor sends the whole family, forward and backward, to the vendor backend") {
    weft::set_kernel_choices("conv=vendor,batchnorm=vendor");
    backend.conv2d_forward(conv, nullptr, nullptr, nullptr, nullptr);
    backend.conv2d_backward_data(conv, nullptr, nullptr, nullptr);
    backend.conv2d_backward_filter(conv, nullptr, nullptr, nullptr, nullptr);
    backend.batch_norm_forward_train(bn, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr,
                                     nullptr, nullptr);
    backend.batch_norm_backward(bn, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr,
                                nullptr);
    backend.gemm(weft::GemmParams{}, nullptr, nullptr, nullptr);  // gemm stays auto: hand
    CHECK(vendor.calls == std::vector<std::string>{
                              "conv2d_forward", "conv2d_backward_data", "conv2d_backward_filter",
                              "batch_norm_forward_train", "batch_norm_backward"});
    CHECK(hand.calls == std::vector<std::string>{"gemm"});
  }
  SECTION("hand forced on an unsupported call throws NotImplemented with the reason") {
    weft::set_kernel_choice(KernelFamily::conv_transpose, KernelChoice::hand);
    const auto forward = [&] {
      backend.conv_transpose2d_forward(unsupported_conv_transpose(), nullptr, nullptr, nullptr,
                                       nullptr);
    };
    CHECK_THROWS_AS(forward(), weft::NotImplemented);
    CHECK_THROWS_WITH(forward(), Catch::Contains("output padding"));
    CHECK(hand.calls.empty());
    CHECK(vendor.calls.empty());
  }
  SECTION("vendor for a family without a vendor path runs the hand kernel and says so once") {
    weft::set_kernel_choice(KernelChoice::vendor);
    const weft::DropoutParams dp;
    backend.dropout_forward(dp, nullptr, nullptr);
    backend.dropout_backward(dp, nullptr, nullptr);
    backend.max_pool2d_forward(weft::Pool2dParams{}, nullptr, nullptr, nullptr);
    backend.linear_backward(2, 3, 4, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr);
    CHECK(hand.calls ==
          std::vector<std::string>{"dropout_forward", "dropout_backward", "max_pool2d_forward"});
    CHECK(vendor.calls == std::vector<std::string>{"linear_backward"});
    REQUIRE(fixture.log.size() == 2);
    CHECK_THAT(fixture.log[0], Catch::Contains("dropout has no vendor path"));
    CHECK_THAT(fixture.log[1], Catch::Contains("pool has no vendor path"));
  }
  SECTION("a method the chosen backend lacks reports NotImplemented from that backend") {
    CHECK_THROWS_AS(backend.softmax_forward(1, 1, nullptr, nullptr), weft::NotImplemented);
    CHECK_THROWS_WITH(backend.softmax_forward(1, 1, nullptr, nullptr),
                      Catch::Contains("softmax_forward is not implemented by the hand backend"));
  }
}
