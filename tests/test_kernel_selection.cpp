// The kernel choice (kernels/selection.h), tested without a GPU: names, the WEFT_KERNELS parser,
// the API and its precedence over the environment, the hand kernels' supports() predicates and
// the once-only log. How the dispatch applies the choice: test_dispatch.cpp. Label: cpu.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "kernels/error.h"
#include "kernels/hand_support.h"
#include "kernels/selection.h"
#include "tests/dispatch_test_util.h"

namespace {

using weft::KernelChoice;
using weft::KernelFamily;

const std::vector<KernelFamily> kAllFamilies = {
    KernelFamily::conv,        KernelFamily::conv_transpose, KernelFamily::batchnorm,
    KernelFamily::dropout,     KernelFamily::gemm,           KernelFamily::pool,
    KernelFamily::elementwise, KernelFamily::softmax,        KernelFamily::loss,
    KernelFamily::optimizer};

using weft::testing::ScopedEnv;
using weft::testing::SelectionFixture;

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

TEST_CASE("kernel selection: the math precision, WEFT_PRECISION and the older TF32 switch") {
  using weft::MathPrecision;
  SelectionFixture fixture;
  SECTION("fp32 by default; names round-trip; other names are not precisions") {
    CHECK(weft::math_precision() == MathPrecision::fp32);
    for (MathPrecision p : {MathPrecision::fp32, MathPrecision::tf32, MathPrecision::bf16}) {
      CHECK(weft::parse_precision(weft::precision_name(p)) == p);
    }
    CHECK_FALSE(weft::parse_precision("fp16").has_value());
    CHECK_FALSE(weft::parse_precision("").has_value());
  }
  SECTION("WEFT_PRECISION is read; it wins over WEFT_TF32; the API wins over both") {
    ScopedEnv precision("WEFT_PRECISION", "bf16");
    ScopedEnv tf32("WEFT_TF32", "1");
    weft::reset_kernel_choices();
    CHECK(weft::math_precision() == MathPrecision::bf16);
    CHECK_FALSE(weft::vendor_tf32());
    weft::set_math_precision(MathPrecision::tf32);
    CHECK(weft::math_precision() == MathPrecision::tf32);
    CHECK(weft::vendor_tf32());
  }
  SECTION("WEFT_TF32=1 alone still means tf32; set_vendor_tf32 sets the precision") {
    ScopedEnv tf32("WEFT_TF32", "1");
    weft::reset_kernel_choices();
    CHECK(weft::math_precision() == MathPrecision::tf32);
    weft::set_vendor_tf32(false);
    CHECK(weft::math_precision() == MathPrecision::fp32);
    weft::set_vendor_tf32(true);
    CHECK(weft::math_precision() == MathPrecision::tf32);
  }
  SECTION("a bad WEFT_PRECISION is reported with the variable's name") {
    ScopedEnv precision("WEFT_PRECISION", "half");
    CHECK_THROWS_WITH(weft::reset_kernel_choices(),
                      Catch::Contains("WEFT_PRECISION=\"half\"") && Catch::Contains("bf16"));
  }
}

TEST_CASE("kernel selection: cuDNN's algorithms, WEFT_CUDNN_ALGOS and deterministic mode") {
  using weft::VendorAlgorithms;
  SelectionFixture fixture;
  SECTION("measured by default; names round-trip; other names are not settings") {
    CHECK(weft::vendor_algorithms() == VendorAlgorithms::measured);
    for (VendorAlgorithms a : {VendorAlgorithms::measured, VendorAlgorithms::rules}) {
      CHECK(weft::parse_vendor_algorithms(weft::vendor_algorithms_name(a)) == a);
    }
    CHECK_FALSE(weft::parse_vendor_algorithms("find").has_value());
  }
  SECTION("WEFT_CUDNN_ALGOS is read; the API wins over it") {
    ScopedEnv algorithms("WEFT_CUDNN_ALGOS", "rules");
    weft::reset_kernel_choices();
    CHECK(weft::vendor_algorithms() == VendorAlgorithms::rules);
    weft::set_vendor_algorithms(VendorAlgorithms::measured);
    CHECK(weft::vendor_algorithms() == VendorAlgorithms::measured);
  }
  SECTION("deterministic mode means the rules, whatever the setting") {
    weft::set_deterministic(true);
    const VendorAlgorithms during = weft::vendor_algorithms();
    weft::set_deterministic(false);
    CHECK(during == VendorAlgorithms::rules);
    CHECK(weft::vendor_algorithms() == VendorAlgorithms::measured);
  }
  SECTION("a bad WEFT_CUDNN_ALGOS is reported with the variable's name") {
    ScopedEnv algorithms("WEFT_CUDNN_ALGOS", "fastest");
    CHECK_THROWS_WITH(weft::reset_kernel_choices(),
                      Catch::Contains("WEFT_CUDNN_ALGOS=\"fastest\"") &&
                          Catch::Contains("measured or rules"));
  }
}

TEST_CASE("kernel selection: the tensor-core tile and layout, WEFT_TENSOR_CORE_TILE, "
          "WEFT_CONV_CHANNELS_LAST") {
  using weft::TensorCoreTileSetting;
  SelectionFixture fixture;
  SECTION("automatic by default; names round-trip; other names are not settings") {
    CHECK(weft::tensor_core_tile() == TensorCoreTileSetting::automatic);
    for (TensorCoreTileSetting tile :
         {TensorCoreTileSetting::automatic, TensorCoreTileSetting::square,
          TensorCoreTileSetting::tall, TensorCoreTileSetting::wide}) {
      CHECK(weft::parse_tensor_core_tile(weft::tensor_core_tile_name(tile)) == tile);
    }
    CHECK_FALSE(weft::parse_tensor_core_tile("128x128").has_value());
  }
  SECTION("WEFT_TENSOR_CORE_TILE is read; the API wins over it") {
    ScopedEnv tile("WEFT_TENSOR_CORE_TILE", "wide");
    weft::reset_kernel_choices();
    CHECK(weft::tensor_core_tile() == TensorCoreTileSetting::wide);
    weft::set_tensor_core_tile(TensorCoreTileSetting::automatic);
    CHECK(weft::tensor_core_tile() == TensorCoreTileSetting::automatic);
  }
  SECTION("channels-last copies on by default; WEFT_CONV_CHANNELS_LAST=0 turns them off") {
    CHECK(weft::conv_channels_last());
    ScopedEnv layout("WEFT_CONV_CHANNELS_LAST", "0");
    weft::reset_kernel_choices();
    CHECK_FALSE(weft::conv_channels_last());
    weft::set_conv_channels_last(true);
    CHECK(weft::conv_channels_last());
  }
  SECTION("a WEFT_CONV_CHANNELS_LAST other than 1 or 0 is reported with the variable's name") {
    ScopedEnv layout("WEFT_CONV_CHANNELS_LAST", "off");
    CHECK_THROWS_WITH(weft::reset_kernel_choices(),
                      Catch::Contains("WEFT_CONV_CHANNELS_LAST=\"off\"") &&
                          Catch::Contains("expected 1 or 0"));
  }
  SECTION("a bad WEFT_TENSOR_CORE_TILE is reported with the variable's name") {
    ScopedEnv tile("WEFT_TENSOR_CORE_TILE", "huge");
    CHECK_THROWS_WITH(weft::reset_kernel_choices(),
                      Catch::Contains("WEFT_TENSOR_CORE_TILE=\"huge\"") &&
                          Catch::Contains("automatic, square, tall or wide"));
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
  // One input image of 2^16 channels of 256 x 256 is 2^32 floats: beyond the int offsets of the
  // indexed conv operands (kernels/cuda/conv_operands.h).
  weft::Conv2dParams huge;
  huge.batch = 1;
  huge.in_channels = 1 << 16;
  huge.in_h = huge.in_w = 256;
  huge.out_channels = 8;
  huge.kernel_h = huge.kernel_w = 1;
  const weft::KernelSupport too_big = weft::hand_supports(huge);
  CHECK_FALSE(too_big.supported);
  CHECK_THAT(too_big.reason, Catch::Contains("beyond 2^31"));
  huge.in_channels = 1 << 14;
  CHECK(weft::hand_supports(huge).supported);
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
