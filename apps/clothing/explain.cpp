// weft-clothing's Grad-CAM: heatmap overlays for test images after a run and for image files
// given with --gradcam (see clothing.h; the method is engine/report/gradcam.h).
#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "clothing.h"
#include "engine/data/image_io.h"
#include "engine/report/figure.h"
#include "engine/report/gradcam.h"
#include "kernels/error.h"
#include "models/image_classifier.h"

namespace weft::clothing {

namespace fs = std::filesystem;

namespace {

// uint8 [N, C, H, W] images -> the float tensor the model takes, on `device`.
Tensor model_input(const Tensor& images, const data::Normalize& normalize, const Device& device) {
  const int64_t n = images.dim(0), c = images.dim(1), plane = images.dim(2) * images.dim(3);
  const uint8_t* pixels = images.data<uint8_t>();
  std::vector<float> values(pixels, pixels + images.numel());
  for (int64_t i = 0; i < n; ++i) {
    data::normalize_in_place(normalize, values.data() + i * c * plane, static_cast<int>(c), plane);
  }
  return Tensor::from_vector(values, images.shape()).to(device);
}

report::GradCamModel cam_model(const std::shared_ptr<nn::Module>& model) {
  const models::ClassifierParts parts = models::classifier_parts(model);
  return {parts.features, parts.head, model.get()};
}

// A file name fragment: letters and digits kept, the rest '_'.
std::string file_safe(std::string text) {
  for (char& c : text) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return text;
}

}  // namespace

std::vector<std::string> explain_test_images(const std::shared_ptr<nn::Module>& model,
                                             const data::LabeledImages& test, const Options& o,
                                             const std::string& run_dir, const Device& device) {
  if (o.gradcam_samples <= 0) return {};
  // The first `gradcam_samples` test images of each class, so the minority classes show too.
  const std::vector<int32_t> labels = test.labels.to_vector<int32_t>();
  std::vector<int64_t> rows;
  std::vector<int> taken(test.class_names.size(), 0);
  for (size_t i = 0; i < labels.size(); ++i) {
    int& count = taken[static_cast<size_t>(labels[i])];
    if (count < o.gradcam_samples) {
      rows.push_back(static_cast<int64_t>(i));
      ++count;
    }
  }
  const Tensor images = data::gather_rows(test.images, rows);
  const std::vector<report::GradCam> cams =
      report::grad_cam(cam_model(model), model_input(images, normalization(o), device));

  const fs::path folder = fs::path(run_dir) / "gradcam";
  fs::create_directories(folder);
  const int64_t c = images.dim(1), h = images.dim(2), w = images.dim(3);
  Tensor overlays = Tensor::empty({images.dim(0), 3, h, w}, DType::u8);
  std::vector<std::string> captions, files;
  std::vector<report::Color> colors;
  for (size_t k = 0; k < rows.size(); ++k) {
    const report::GradCam& cam = cams[k];
    const uint8_t* image = images.data<uint8_t>() + static_cast<int64_t>(k) * c * h * w;
    const std::vector<uint8_t> blended = report::overlay_heatmap(
        image, static_cast<int>(c), static_cast<int>(h), static_cast<int>(w), cam.heatmap);
    std::copy(blended.begin(), blended.end(), overlays.data<uint8_t>() + static_cast<int64_t>(k) * 3 * h * w);
    const std::string truth = test.class_names[static_cast<size_t>(labels[static_cast<size_t>(rows[k])])];
    const std::string predicted = test.class_names[static_cast<size_t>(cam.predicted)];
    captions.push_back(truth + "\n" + predicted);
    colors.push_back(truth == predicted ? report::colors::good : report::colors::bad);
    const std::string name = "test-" + std::to_string(rows[k]) + "-" + file_safe(truth) + ".png";
    report::save_gradcam_png((folder / name).string(), image, static_cast<int>(c),
                             static_cast<int>(h), static_cast<int>(w), cam.heatmap,
                             "true " + truth + ", predicted " + predicted + ": Grad-CAM of " + predicted);
    files.push_back("gradcam/" + name);
  }
  report::SampleGridOptions grid;
  grid.columns = std::min<int>(8, static_cast<int>(rows.size()));
  grid.title = "Grad-CAM of the predicted class: true / predicted";
  grid.caption_colors = colors;
  report::save_sample_grid((fs::path(run_dir) / "figures" / "gradcam.png").string(), overlays,
                           captions, grid);
  files.push_back("figures/gradcam.png");
  return files;
}

void explain_files(const std::shared_ptr<nn::Module>& model,
                   const std::vector<std::string>& class_names, const Options& o,
                   const Device& device) {
  int target = -1;
  if (!o.gradcam_class.empty()) {
    const auto found = std::find(class_names.begin(), class_names.end(), o.gradcam_class);
    WEFT_CHECK(found != class_names.end(), "--gradcam-class ", o.gradcam_class,
               ": not one of the classes");
    target = static_cast<int>(found - class_names.begin());
  }
  const fs::path folder = fs::path(o.common.out) / "gradcam";
  fs::create_directories(folder);
  const data::ImageOptions options = image_options(o);
  for (const std::string& file : o.gradcam) {
    std::vector<uint8_t> pixels;
    int h = 0, w = 0;
    data::decode_image_file(file, options, pixels, h, w);
    const Tensor image = Tensor::from_vector(pixels, {1, options.channels, h, w});
    const report::GradCam cam = report::grad_cam(cam_model(model),
                                                 model_input(image, normalization(o), device),
                                                 {target})
                                    .front();
    const std::string explained = class_names.at(static_cast<size_t>(cam.target));
    const std::string out =
        (folder / (file_safe(fs::path(file).stem().string()) + "-" + file_safe(explained) + ".png"))
            .string();
    report::save_gradcam_png(out, pixels.data(), options.channels, h, w, cam.heatmap,
                             explained + " (predicted " +
                                 class_names.at(static_cast<size_t>(cam.predicted)) + ")");
    std::printf("%s: Grad-CAM of %s (logit %.3f, predicted %s) -> %s\n", file.c_str(),
                explained.c_str(), static_cast<double>(cam.score),
                class_names.at(static_cast<size_t>(cam.predicted)).c_str(), out.c_str());
  }
}

}  // namespace weft::clothing
