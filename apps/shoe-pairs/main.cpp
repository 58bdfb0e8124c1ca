// weft-shoe-pairs: seed 001's question - are these two shoes the two shoes of one pair? - with
// both of the seed's approaches (one stacked image, or two images as 6 channels) and a true
// siamese network (models/pair_cnn.h), trained as models/pair_training.h describes.
//
//   weft-shoe-pairs --model channel --out runs/shoe-pairs            the stand-in, 30 epochs
//   weft-shoe-pairs --data photos/ --model siamese --size 224       real pair photos
//   weft-shoe-pairs --sanity                                         train = validation, > 90%?
//   weft-shoe-pairs --weights runs/shoe-pairs/model.safetensors --predict l.jpg r.jpg
//
// See pairs_app.h for where each part lives.
#include <CLI/CLI.hpp>

#include "apps/common/export_onnx.h"
#include "apps/shoe-pairs/pairs_app.h"
#include "engine/data/fashion_mnist.h"

namespace {

constexpr const char* kDescription = R"(weft-shoe-pairs: same pair or not (seed 001).

Models (--model): cnn      the seed's "CNN": left photo stacked above the right photo
                  channel  the seed's "CNNChannel": the two photos as one 6-channel input
                  siamese  one shared tower per photo, a head on the two embeddings
All: four blocks conv 5x5 -> [BN] -> ReLU -> maxpool with 4/8/16/32 channels, FC 100, two logits,
cross-entropy. The seed's settings are the defaults: Adam 1e-3, weight decay 1e-4, batch 42
(half positive), 30 epochs, the best validation epoch's weights kept (best.safetensors) and
used for the test.

Examples: positive = the two shoes of one pair; negative = a left shoe with the right shoe of
another pair of the same owner (--negatives same-owner, the seed's hard negatives) or of anyone.
Owners are split 70/15/15 into train / validation / test: no owner in two parts.

Folder layout for real pair photos (--data):
  root/<owner>/<pair>/left.<ext>     one photo of the left shoe  (.jpg .jpeg .png .bmp .pgm .ppm)
  root/<owner>/<pair>/right.<ext>    one photo of the right shoe
e.g. shoes/alice/sneakers/left.jpg, shoes/alice/sneakers/right.jpg, shoes/alice/boots/...
Owners and pairs are sorted by name; names starting with "." are ignored; "left" and "right" are
matched without regard to case. Photos are letterboxed to --size x --size RGB.

Stand-in (--data a Fashion-MNIST folder, the default here): each Fashion-MNIST shoe (Sandal,
Sneaker, Ankle boot) is a left shoe; its right shoe is the image mirrored with a small random
shift, turn and zoom; synthetic owners of 3 pairs of one class, so hard negatives are other
shoes of the same class. Grayscale, padded to --size (default 32).

--sanity trains and validates on the same few pairs and fails (exit 1) unless accuracy > 90%.
--predict LEFT RIGHT [LEFT RIGHT ...] prints P(same pair) for each two files (needs --weights).)";

}  // namespace

int main(int argc, char** argv) {
  using namespace weft;
  pairs_app::Options o;
  o.common.data = data::kFashionMnistDir;
  o.common.out = "runs/shoe-pairs";
  o.common.epochs = 30;
  o.common.batch_size = 42;
  o.common.lr = 1e-3;

  CLI::App cli{kDescription, "weft-shoe-pairs"};
  cli.get_formatter()->column_width(36);
  app::add_common_options(cli, o.common,
                          "pair photos (root/<owner>/<pair>/left|right.jpg) or a Fashion-MNIST "
                          "folder for the stand-in");
  app::add_export_onnx_option(cli, o.export_onnx);
  cli.add_option("--model", o.model, "cnn (stacked), channel (6-channel) or siamese")
      ->capture_default_str()->check(CLI::IsMember({"cnn", "channel", "siamese"}));
  cli.add_option("--size", o.size, "side of one shoe photo in pixels (224 in the seed)")
      ->capture_default_str()->check(app::in_range(16, 1024));
  cli.add_option("--weight-decay", o.weight_decay, "Adam's L2 weight decay")->capture_default_str();
  cli.add_option("--negatives", o.negatives, "same-owner (hard) or anyone")
      ->capture_default_str()->check(CLI::IsMember({"same-owner", "anyone"}));
  cli.add_option("--pairs-per-owner", o.pairs_per_owner, "stand-in: pairs of each synthetic owner")
      ->capture_default_str()->check(app::in_range(1, 1000));
  cli.add_option("--validation", o.validation, "share of the owners for validation")
      ->capture_default_str();
  cli.add_option("--test", o.test, "share of the owners for the test")->capture_default_str();
  cli.add_flag("--sanity", o.sanity, "train and validate on the same few pairs; must exceed 90%");
  app::add_skip_bad_images_option(cli, o.skip_bad_images);
  cli.add_option("--sanity-pairs", o.sanity_pairs, "--sanity: how many pairs")
      ->capture_default_str()->check(app::in_range(2, 100000));
  cli.add_option("--sanity-batch", o.sanity_batch, "--sanity: batch size")
      ->capture_default_str()->check(app::in_range(2, 65536));

  return app::run_main("shoe-pairs", cli, argc, argv, o.common, [&] {
    if (o.sanity) {
      if (cli.count("--out") == 0) o.common.out = "runs/shoe-pairs-sanity";
      return pairs_app::run_sanity(o);
    }
    return pairs_app::run(o);
  });
}
