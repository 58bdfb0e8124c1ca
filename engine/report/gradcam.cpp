// Grad-CAM heatmaps and their overlays (see gradcam.h).
#include "engine/report/gradcam.h"

#include <algorithm>
#include <cmath>

#include "engine/autograd.h"
#include "kernels/error.h"

namespace weft::report {

namespace {

// cam / max(cam), or all zeros when nothing is positive.
void normalise_to_unit(std::vector<float>& cam) {
  const float largest = cam.empty() ? 0.0f : *std::max_element(cam.begin(), cam.end());
  for (float& v : cam) v = largest > 0 ? v / largest : 0.0f;
}

// Restores a module's mode and clears its gradients when Grad-CAM is done with it.
class ModuleForExplaining {
 public:
  explicit ModuleForExplaining(nn::Module* module)
      : module_(module), was_training_(module && module->is_training()) {
    if (module_) module_->eval();
  }
  ~ModuleForExplaining() {
    if (!module_) return;
    module_->zero_grad();
    module_->train(was_training_);
  }
  ModuleForExplaining(const ModuleForExplaining&) = delete;
  ModuleForExplaining& operator=(const ModuleForExplaining&) = delete;

 private:
  nn::Module* module_;
  bool was_training_;
};

}  // namespace

std::vector<GradCam> grad_cam(const GradCamModel& model, const Tensor& images,
                              const std::vector<int>& targets) {
  WEFT_CHECK(model.features && model.head, "grad_cam: features and head must both be set");
  WEFT_CHECK(images.ndim() == 4, "grad_cam: expected images [N, C, H, W], got ", images.str());
  const int64_t n = images.dim(0);
  WEFT_CHECK(targets.empty() || static_cast<int64_t>(targets.size()) == n, "grad_cam: ",
             targets.size(), " targets for ", n, " images");
  WEFT_CHECK(grad_mode_enabled(), "grad_cam needs gradients: call it outside a NoGradGuard");
  const ModuleForExplaining guard(model.module);

  Tensor activation = model.features(images);
  WEFT_CHECK(activation.ndim() == 4 && activation.dim(0) == n,
             "grad_cam: features should give [N, K, h, w], got ", activation.str());
  if (activation.grad_fn()) {
    activation.retain_grad();
  } else {
    // Nothing before A needs a gradient (a frozen backbone, or no tape): A becomes a leaf,
    // whose gradient backward keeps anyway.
    activation = activation.detach();
    activation.set_requires_grad(true);
  }
  const Tensor logits = model.head(activation);
  WEFT_CHECK(logits.ndim() == 2 && logits.dim(0) == n, "grad_cam: head should give [N, classes], "
             "got ", logits.str());
  const int64_t classes = logits.dim(1);
  const std::vector<float> logit_values = logits.to_vector<float>();

  // d(sum over images of y_target) / d logits: one-hot rows.
  std::vector<float> one_hot(static_cast<size_t>(n * classes), 0.0f);
  std::vector<GradCam> results(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    GradCam& r = results[static_cast<size_t>(i)];
    const auto row = logit_values.begin() + i * classes;
    r.predicted = static_cast<int>(std::max_element(row, row + classes) - row);
    r.target = targets.empty() || targets[static_cast<size_t>(i)] < 0
                   ? r.predicted
                   : targets[static_cast<size_t>(i)];
    WEFT_CHECK(r.target < classes, "grad_cam: target class ", r.target, " but the model has ",
               classes, " classes");
    r.score = logit_values[static_cast<size_t>(i * classes + r.target)];
    one_hot[static_cast<size_t>(i * classes + r.target)] = 1.0f;
  }
  logits.backward(Tensor::from_vector(one_hot, {n, classes}).to(logits.device()));
  WEFT_CHECK(activation.grad().defined(), "grad_cam: no gradient reached the features");

  const std::vector<float> a = activation.to_vector<float>();
  const std::vector<float> grad = activation.grad().to_vector<float>();
  const int64_t k = activation.dim(1), h = activation.dim(2), w = activation.dim(3);
  const int64_t plane = h * w;
  for (int64_t i = 0; i < n; ++i) {
    GradCam& r = results[static_cast<size_t>(i)];
    r.feature_height = static_cast<int>(h);
    r.feature_width = static_cast<int>(w);
    r.coarse.assign(static_cast<size_t>(plane), 0.0f);
    for (int64_t c = 0; c < k; ++c) {
      const size_t base = static_cast<size_t>((i * k + c) * plane);
      double alpha = 0;
      for (int64_t p = 0; p < plane; ++p) alpha += grad[base + static_cast<size_t>(p)];
      alpha /= static_cast<double>(plane);
      for (int64_t p = 0; p < plane; ++p) {
        r.coarse[static_cast<size_t>(p)] +=
            static_cast<float>(alpha) * a[base + static_cast<size_t>(p)];
      }
    }
    for (float& v : r.coarse) v = std::max(v, 0.0f);
    normalise_to_unit(r.coarse);
    r.height = static_cast<int>(images.dim(2));
    r.width = static_cast<int>(images.dim(3));
    r.heatmap = upsample_bilinear(r.coarse, r.feature_height, r.feature_width, r.height, r.width);
    normalise_to_unit(r.heatmap);
  }
  return results;
}

std::vector<float> upsample_bilinear(const std::vector<float>& map, int h, int w, int out_h,
                                     int out_w) {
  WEFT_CHECK(h > 0 && w > 0 && out_h > 0 && out_w > 0 &&
                 map.size() == static_cast<size_t>(h) * static_cast<size_t>(w),
             "upsample_bilinear: a ", h, "x", w, " map with ", map.size(), " values to ", out_h,
             "x", out_w);
  std::vector<float> out(static_cast<size_t>(out_h) * static_cast<size_t>(out_w));
  const double scale_y = static_cast<double>(h) / out_h, scale_x = static_cast<double>(w) / out_w;
  for (int y = 0; y < out_h; ++y) {
    // The source position of the output pixel's centre, clamped to the outer pixel centres.
    const double sy = std::clamp((y + 0.5) * scale_y - 0.5, 0.0, static_cast<double>(h - 1));
    const int y0 = static_cast<int>(sy), y1 = std::min(y0 + 1, h - 1);
    const double fy = sy - y0;
    for (int x = 0; x < out_w; ++x) {
      const double sx = std::clamp((x + 0.5) * scale_x - 0.5, 0.0, static_cast<double>(w - 1));
      const int x0 = static_cast<int>(sx), x1 = std::min(x0 + 1, w - 1);
      const double fx = sx - x0;
      auto at = [&](int yy, int xx) { return static_cast<double>(map[static_cast<size_t>(yy * w + xx)]); };
      const double top = at(y0, x0) * (1 - fx) + at(y0, x1) * fx;
      const double bottom = at(y1, x0) * (1 - fx) + at(y1, x1) * fx;
      out[static_cast<size_t>(y * out_w + x)] = static_cast<float>(top * (1 - fy) + bottom * fy);
    }
  }
  return out;
}

Color jet(float t) {
  t = std::clamp(t, 0.0f, 1.0f);
  // Matplotlib's jet: each channel a trapezoid over [0, 1].
  auto channel = [](float x) {
    return static_cast<uint8_t>(std::lround(255.0f * std::clamp(1.5f - std::fabs(x), 0.0f, 1.0f)));
  };
  return {channel(4.0f * t - 3.0f), channel(4.0f * t - 2.0f), channel(4.0f * t - 1.0f)};
}

std::vector<uint8_t> overlay_heatmap(const uint8_t* image, int channels, int height, int width,
                                     const std::vector<float>& heatmap, float alpha) {
  WEFT_CHECK(channels == 1 || channels == 3, "overlay_heatmap: 1 or 3 channels, got ", channels);
  const size_t plane = static_cast<size_t>(height) * static_cast<size_t>(width);
  WEFT_CHECK(heatmap.size() == plane, "overlay_heatmap: heatmap of ", heatmap.size(),
             " values for a ", height, "x", width, " image");
  std::vector<uint8_t> out(3 * plane);
  for (size_t p = 0; p < plane; ++p) {
    const Color c = jet(heatmap[p]);
    const uint8_t colour[3] = {c.r, c.g, c.b};
    for (size_t ch = 0; ch < 3; ++ch) {
      const float pixel = image[(channels == 1 ? 0 : ch) * plane + p];
      const float mixed = (1 - alpha) * pixel + alpha * colour[ch];
      out[ch * plane + p] = static_cast<uint8_t>(std::lround(std::clamp(mixed, 0.0f, 255.0f)));
    }
  }
  return out;
}

void save_gradcam_png(const std::string& path, const uint8_t* image, int channels, int height,
                      int width, const std::vector<float>& heatmap, const std::string& caption) {
  const std::vector<uint8_t> blended = overlay_heatmap(image, channels, height, width, heatmap);
  const int zoom = std::max(1, (224 + width - 1) / width);
  constexpr int kMargin = 12, kScale = 2;
  const int caption_h = Canvas::text_height(caption, kScale) + kMargin;
  const int tile_w = width * zoom, tile_h = height * zoom;
  Canvas canvas(std::max(3 * kMargin + 2 * tile_w, Canvas::text_width(caption, kScale) + 2 * kMargin),
                kMargin + caption_h + tile_h + kMargin);
  canvas.text(kMargin, kMargin, caption, colors::text, kScale);
  const int top = kMargin + caption_h;
  canvas.blit(image, channels, height, width, kMargin, top, zoom);
  canvas.blit(blended.data(), 3, height, width, 2 * kMargin + tile_w, top, zoom);
  canvas.save_png(path);
}

}  // namespace weft::report
