// weft-dcgan: seed 000's synthetic shoes. Trains a class-conditional DCGAN (models/dcgan.h,
// trained as models/dcgan_training.h describes), measures it with a judge instead of by eye,
// writes generated images as an ImageFolder for the shoe classifier, and tests the seed's claim
// that those images help. The three modes:
//
//   weft-dcgan --data DIR --out runs/dcgan [--judge runs/fashion-mnist/model.safetensors]
//   weft-dcgan generate --weights runs/dcgan --count 200 --out runs/dcgan/synthetic
//   weft-dcgan synthetic-test --synthetic runs/dcgan/synthetic --real-per-class 200 --seeds 1,2,3
//
// --data is a Fashion-MNIST folder (the stand-in here: its shoe classes, 32x32 grayscale) or an
// ImageFolder of shoe photos such as UT Zappos50K (64x64 RGB square crops). See dcgan_app.h for
// where each part lives.
#include <CLI/CLI.hpp>
#include <filesystem>

#include "apps/common/export_onnx.h"
#include "apps/dcgan/dcgan_app.h"
#include "engine/data/fashion_mnist.h"

namespace {

constexpr const char* kDescription = R"(weft-dcgan: a class-conditional DCGAN for synthetic shoes (seed 000).

Modes:
  weft-dcgan [options]                 train G and D (Radford et al.: Adam 2e-4, beta1 0.5,
                                       batch 128, N(0, 0.02) init, BCE on D's logit, labels
                                       1 real / 0 fake, G on the non-saturating loss). Each
                                       epoch: figures/samples-epoch-NNN.png from fixed noise;
                                       d_loss, g_loss, D(x), D(G(z)) in metrics.csv/jsonl; both
                                       networks and both optimizers in last.safetensors.
  weft-dcgan --eval-only --weights RUN --judge FILE
                                       only the judge's numbers for a trained generator
  weft-dcgan generate --weights RUN --count N [--out DIR]
                                       N images per class into DIR/<class>/dcgan-NNNNNN.png,
                                       an ImageFolder the shoe classifier reads (--synthetic)
  weft-dcgan synthetic-test --synthetic DIR [--real-per-class 200] [--seeds 1,2,3]
                                       a shoe classifier trained on a small real subset with and
                                       without DIR's images, per seed, on the same test images

Data (--data): a Fashion-MNIST folder (IDX files or Kaggle CSVs; default, the stand-in: the
shoe classes Sandal, Sneaker, Ankle boot, padded to 32x32 grayscale) or an ImageFolder of shoe
photos, root/<class>/**/<image> such as UT Zappos50K (64x64 RGB square centre crops).

Quality (--judge FILE, weft-fashion-mnist's model.safetensors): each epoch, the Frechet
distance between real test images and generated images in the judge's penultimate-layer
features, and the share of generated images the judge puts in their intended class. This is
NOT the Inception FID: it compares only with numbers from the same judge.)";

}  // namespace

int main(int argc, char** argv) {
  using namespace weft;
  dcgan_app::Options o;
  o.common.data = data::kFashionMnistDir;
  o.common.out = "runs/dcgan";
  o.common.epochs = 25;
  o.common.batch_size = 128;
  o.common.lr = 2e-4;

  CLI::App cli{kDescription, "weft-dcgan"};
  cli.get_formatter()->column_width(36);
  app::add_common_options(cli, o.common,
                          "Fashion-MNIST folder (the stand-in) or an ImageFolder of shoe photos");
  // A GAN classifies nothing: the classifier apps' --predict and --top-k are not offered.
  cli.remove_option(cli.get_option("--predict"));
  cli.remove_option(cli.get_option("--top-k"));
  app::add_export_onnx_option(cli, o.export_onnx)
      ->description("write the generator as ONNX (opset 17) to FILE and the discriminator to "
                    "FILE-discriminator.onnx: after training, or with --weights without training");
  app::add_skip_bad_images_option(cli, o.skip_bad_images);
  cli.add_option("--beta1", o.beta1, "Adam beta1 for both networks")->capture_default_str();
  cli.add_option("--features", o.features, "ngf = ndf: the width of both networks")
      ->capture_default_str()->check(app::in_range(1, 1024));
  cli.add_option("--z-dim", o.z_dim, "noise size")->capture_default_str()->check(app::in_range(1, 4096));
  cli.add_option("--classes", o.classes, "Fashion-MNIST classes: shoes or all")
      ->capture_default_str()->check(CLI::IsMember({"shoes", "all"}));
  cli.add_option("--size", o.size, "ImageFolder data: image side (4 * 2^L: 32, 64, 128)")
      ->capture_default_str();
  cli.add_option("--judge", o.judge,
                 "weft-fashion-mnist's model.safetensors: Frechet distance and class share");
  cli.add_option("--judge-samples", o.judge_samples, "generated images the judge looks at")
      ->capture_default_str()->check(app::in_range(int64_t{2}, int64_t{1} << 30));

  CLI::App* generate = cli.add_subcommand("generate", "write N generated images per class as an "
                                                      "ImageFolder (--out; default RUN/synthetic)");
  generate->fallthrough();
  generate->add_option("--count", o.count, "images per class")->capture_default_str()
      ->check(app::in_range(int64_t{1}, int64_t{1} << 30));

  CLI::App* synthetic_test = cli.add_subcommand(
      "synthetic-test", "seed 000's claim: a shoe classifier with and without synthetic images");
  synthetic_test->fallthrough();
  synthetic_test->add_option("--synthetic", o.synthetic, "the folder `generate` wrote")->required();
  synthetic_test->add_option("--real-per-class", o.real_per_class, "real training images per class")
      ->capture_default_str()->check(app::in_range(int64_t{1}, int64_t{1} << 30));
  synthetic_test->add_option("--synthetic-per-class", o.synthetic_per_class,
                             "synthetic images per class (0: all)")->capture_default_str();
  synthetic_test->add_option("--seeds", o.seeds, "one run pair per seed")->delimiter(',')
      ->capture_default_str();
  synthetic_test->add_option("--classifier-epochs", o.classifier_epochs, "classifier epochs")
      ->capture_default_str()->check(app::in_range(1, 10000));
  synthetic_test->add_option("--classifier-lr", o.classifier_lr, "classifier Adam learning rate")
      ->capture_default_str();
  synthetic_test->add_option("--classifier-batch", o.classifier_batch, "classifier batch size")
      ->capture_default_str()->check(app::in_range(1, 65536));
  synthetic_test->add_flag("--equal-steps", o.equal_steps,
                           "give the run with synthetic images as many optimizer steps as the "
                           "real-only run (default: as many epochs, as the seed did)");

  return app::run_main("dcgan", cli, argc, argv, o.common, [&] {
    if (generate->parsed()) {
      if (cli.count("--out") == 0 && !o.common.weights.empty()) {
        const std::filesystem::path weights(o.common.weights);
        const std::filesystem::path run =
            std::filesystem::is_directory(weights) ? weights : weights.parent_path();
        o.common.out = (run / "synthetic").string();
      }
      return dcgan_app::run_generate(o);
    }
    if (synthetic_test->parsed()) {
      if (cli.count("--out") == 0) o.common.out = "runs/dcgan-synthetic-test";
      return dcgan_app::run_synthetic_test(o);
    }
    return dcgan_app::run_training(o);
  });
}
