// The direct-loop definitions of pooling (pool.h).
#include "kernels/reference/pool.h"

#include <algorithm>
#include <limits>
#include <vector>

namespace weft::reference {

namespace {

int64_t planes(const Pool2dParams& p) {
  return int64_t{p.batch} * p.channels;
}
int64_t in_plane(const Pool2dParams& p) {
  return int64_t{p.in_h} * p.in_w;
}
int64_t out_plane(const Pool2dParams& p) {
  return int64_t{p.out_h()} * p.out_w();
}

// Calls cell(plane, out_index, in_index_or_minus_1) for every (output, window position), in
// row-major window order; in_index (within the plane) is -1 where the position lies in the
// padding.
template <typename Cell>
void for_each_window_cell(const Pool2dParams& p, Cell cell) {
  const int oh_size = p.out_h(), ow_size = p.out_w();
  for (int64_t plane = 0; plane < planes(p); ++plane)
    for (int oh = 0; oh < oh_size; ++oh)
      for (int ow = 0; ow < ow_size; ++ow)
        for (int kh = 0; kh < p.kernel_h; ++kh)
          for (int kw = 0; kw < p.kernel_w; ++kw) {
            const int h = oh * p.stride_h - p.pad_h + kh;
            const int w = ow * p.stride_w - p.pad_w + kw;
            const bool inside = h >= 0 && h < p.in_h && w >= 0 && w < p.in_w;
            cell(plane, int64_t{oh} * ow_size + ow, inside ? int64_t{h} * p.in_w + w : -1);
          }
}

// The divisor of average pooling's window (oh, ow).
double window_divisor(const Pool2dParams& p, int oh, int ow) {
  double count = 0.0;
  for (int h = oh * p.stride_h - p.pad_h; h < oh * p.stride_h - p.pad_h + p.kernel_h; ++h) {
    for (int w = ow * p.stride_w - p.pad_w; w < ow * p.stride_w - p.pad_w + p.kernel_w; ++w) {
      const bool real = h >= 0 && h < p.in_h && w >= 0 && w < p.in_w;
      const bool padded =
          h >= -p.pad_h && h < p.in_h + p.pad_h && w >= -p.pad_w && w < p.in_w + p.pad_w;
      if (real || (p.count_include_pad && padded)) count += 1.0;
    }
  }
  return count;
}

}  // namespace

void max_pool2d_forward(const Pool2dParams& p, const float* x, double* y, int32_t* argmax) {
  const int64_t y_count = planes(p) * out_plane(p);
  std::fill(y, y + y_count, -std::numeric_limits<double>::infinity());
  std::fill(argmax, argmax + y_count, -1);
  for_each_window_cell(p, [&](int64_t plane, int64_t out, int64_t in) {
    if (in < 0) return;
    const int64_t yi = plane * out_plane(p) + out;
    const double value = p.activation.apply(x[plane * in_plane(p) + in]);
    if (argmax[yi] < 0 || value > y[yi]) {
      y[yi] = value;
      argmax[yi] = static_cast<int32_t>(in);
    }
  });
}

void max_pool2d_backward(const Pool2dParams& p, const float* dy, const float* y,
                         const int32_t* argmax, double* dx) {
  std::fill(dx, dx + planes(p) * in_plane(p), 0.0);
  for (int64_t yi = 0; yi < planes(p) * out_plane(p); ++yi) {
    const int64_t plane = yi / out_plane(p);
    dx[plane * in_plane(p) + argmax[yi]] += dy[yi];
  }
  if (!p.activation.active()) return;
  // Every window a cell wins has y = act(that cell), so each of them gives the same factor.
  const std::vector<double> sums(dx, dx + planes(p) * in_plane(p));
  for (int64_t yi = 0; yi < planes(p) * out_plane(p); ++yi) {
    const int64_t cell = yi / out_plane(p) * in_plane(p) + argmax[yi];
    const bool positive = y[yi] > 0.0f;
    const bool relu = p.activation.kind == FusedActivation::Kind::relu;
    dx[cell] = positive ? sums[cell] : relu ? 0.0 : p.activation.alpha * sums[cell];
  }
}

void avg_pool2d_forward(const Pool2dParams& p, const float* x, double* y) {
  std::fill(y, y + planes(p) * out_plane(p), 0.0);
  for_each_window_cell(p, [&](int64_t plane, int64_t out, int64_t in) {
    if (in >= 0) y[plane * out_plane(p) + out] += x[plane * in_plane(p) + in];
  });
  for (int64_t plane = 0; plane < planes(p); ++plane)
    for (int oh = 0; oh < p.out_h(); ++oh)
      for (int ow = 0; ow < p.out_w(); ++ow) {
        y[plane * out_plane(p) + int64_t{oh} * p.out_w() + ow] /= window_divisor(p, oh, ow);
      }
}

void avg_pool2d_backward(const Pool2dParams& p, const float* dy, double* dx) {
  std::fill(dx, dx + planes(p) * in_plane(p), 0.0);
  for_each_window_cell(p, [&](int64_t plane, int64_t out, int64_t in) {
    if (in < 0) return;
    const int oh = static_cast<int>(out / p.out_w()), ow = static_cast<int>(out % p.out_w());
    dx[plane * in_plane(p) + in] += dy[plane * out_plane(p) + out] / window_divisor(p, oh, ow);
  });
}

void global_avg_pool_forward(int batch, int channels, int plane, const float* x, double* y) {
  for (int64_t i = 0; i < int64_t{batch} * channels; ++i) {
    y[i] = 0.0;
    for (int s = 0; s < plane; ++s) y[i] += double{x[i * plane + s]} / plane;
  }
}

void global_avg_pool_backward(int batch, int channels, int plane, const float* dy, double* dx) {
  for (int64_t i = 0; i < int64_t{batch} * channels; ++i) {
    for (int s = 0; s < plane; ++s) dx[i * plane + s] = double{dy[i]} / plane;
  }
}

}  // namespace weft::reference
