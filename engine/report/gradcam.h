// Grad-CAM: where in an image a convolutional classifier found the evidence for a class
// (Selvaraju et al., "Grad-CAM: Visual Explanations from Deep Networks via Gradient-based
// Localization", 2017). Seed 002 shows such heatmaps for its ResNet-50.
//
// For an image x and a target class c, with A = the last convolutional block's activation
// [K, h, w] and y_c the class's logit:
//
//   alpha_k = mean over (i, j) of d y_c / d A_k[i, j]       how much channel k matters for c
//   cam     = ReLU( sum_k alpha_k * A_k )                    [h, w]: positive evidence only
//
// then cam is divided by its maximum (so 1 marks the strongest evidence; all zeros when there is
// none) and upsampled bilinearly to the input size. The gradient at A comes from one backward
// pass from the logits with a one-hot gradient, A being kept with Tensor::retain_grad.
//
// The model is given as two functions, features (images -> A) and head (A -> logits), as
// models::ResNet splits itself (features(), head()); any model can be cut that way.
// Overlays blend the heatmap, coloured with the "jet" map, onto the image; save_gradcam_png
// writes the image and its overlay side by side, enlarged, with a caption.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/nn/module.h"
#include "engine/report/canvas.h"
#include "engine/tensor.h"

namespace weft::report {

struct GradCamModel {
  std::function<Tensor(const Tensor&)> features;  // images [N, C, H, W] -> A [N, K, h, w]
  std::function<Tensor(const Tensor&)> head;      // A -> logits [N, classes]
  // When set, it runs in eval mode (BatchNorm's running statistics, no dropout) and its
  // parameter gradients are cleared afterwards; its train/eval mode is restored.
  nn::Module* module = nullptr;
};

struct GradCam {
  int target = 0;      // the class explained
  float score = 0;     // its logit
  int predicted = 0;   // the model's top class
  int height = 0, width = 0;             // of heatmap: the input's size
  std::vector<float> heatmap;            // [height * width], 0..1
  int feature_height = 0, feature_width = 0;
  std::vector<float> coarse;             // [feature_height * feature_width], 0..1
};

// images: float [N, C, H, W] as the model takes them, on its device. targets: one class per
// image, or -1 for the image's predicted class; empty means -1 for all.
std::vector<GradCam> grad_cam(const GradCamModel& model, const Tensor& images,
                              const std::vector<int>& targets = {});

// Bilinear resize of a [h, w] map to [out_h, out_w], pixel centres aligned (OpenCV's resize,
// PyTorch's align_corners=False), edges clamped.
std::vector<float> upsample_bilinear(const std::vector<float>& map, int h, int w, int out_h,
                                     int out_w);

// The "jet" colour map: 0 dark blue, 0.35 cyan, 0.5 green, 0.65 yellow, 1 dark red.
Color jet(float t);

// uint8 [channels, height, width] (1 or 3 channels) blended with jet(heatmap):
// (1 - alpha) * image + alpha * colour. Returns uint8 [3, height, width].
std::vector<uint8_t> overlay_heatmap(const uint8_t* image, int channels, int height, int width,
                                     const std::vector<float>& heatmap, float alpha = 0.45f);

// The image and its overlay side by side, each enlarged to at least 224 pixels wide, with
// `caption` above; written atomically as PNG.
void save_gradcam_png(const std::string& path, const uint8_t* image, int channels, int height,
                      int width, const std::vector<float>& heatmap, const std::string& caption);

}  // namespace weft::report
