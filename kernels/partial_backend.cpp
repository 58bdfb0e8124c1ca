// PartialBackend (partial_backend.h): every method throws weft::NotImplemented.
#include "kernels/partial_backend.h"

#include <string>

#include "engine/error.h"

namespace weft {

void PartialBackend::not_implemented(const char* op) const {
  throw NotImplemented(std::string(op) + " is not implemented by the " + name() + " backend");
}

void PartialBackend::conv2d_forward(const Conv2dParams&, const float*, const float*, const float*,
                                    float*) {
  not_implemented("conv2d_forward");
}
void PartialBackend::conv2d_backward_data(const Conv2dParams&, const float*, const float*, float*) {
  not_implemented("conv2d_backward_data");
}
void PartialBackend::conv2d_backward_filter(const Conv2dParams&, const float*, const float*, float*,
                                            float*) {
  not_implemented("conv2d_backward_filter");
}
void PartialBackend::conv_transpose2d_forward(const ConvTranspose2dParams&, const float*,
                                              const float*, const float*, float*) {
  not_implemented("conv_transpose2d_forward");
}
void PartialBackend::conv_transpose2d_backward_data(const ConvTranspose2dParams&, const float*,
                                                    const float*, float*) {
  not_implemented("conv_transpose2d_backward_data");
}
void PartialBackend::conv_transpose2d_backward_filter(const ConvTranspose2dParams&, const float*,
                                                      const float*, float*, float*) {
  not_implemented("conv_transpose2d_backward_filter");
}
void PartialBackend::gemm(const GemmParams&, const float*, const float*, float*) {
  not_implemented("gemm");
}
void PartialBackend::linear_forward(int, int, int, const float*, const float*, const float*,
                                    float*) {
  not_implemented("linear_forward");
}
void PartialBackend::linear_backward(int, int, int, const float*, const float*, const float*,
                                     float*, float*, float*) {
  not_implemented("linear_backward");
}
void PartialBackend::max_pool2d_forward(const Pool2dParams&, const float*, float*, int32_t*) {
  not_implemented("max_pool2d_forward");
}
void PartialBackend::max_pool2d_backward(const Pool2dParams&, const float*, const int32_t*,
                                         float*) {
  not_implemented("max_pool2d_backward");
}
void PartialBackend::avg_pool2d_forward(const Pool2dParams&, const float*, float*) {
  not_implemented("avg_pool2d_forward");
}
void PartialBackend::avg_pool2d_backward(const Pool2dParams&, const float*, float*) {
  not_implemented("avg_pool2d_backward");
}
void PartialBackend::global_avg_pool_forward(int, int, int, const float*, float*) {
  not_implemented("global_avg_pool_forward");
}
void PartialBackend::global_avg_pool_backward(int, int, int, const float*, float*) {
  not_implemented("global_avg_pool_backward");
}
void PartialBackend::batch_norm_forward_train(const BatchNormParams&, const float*, const float*,
                                              const float*, float*, float*, float*, float*,
                                              float*) {
  not_implemented("batch_norm_forward_train");
}
void PartialBackend::batch_norm_forward_eval(const BatchNormParams&, const float*, const float*,
                                             const float*, const float*, const float*, float*) {
  not_implemented("batch_norm_forward_eval");
}
void PartialBackend::batch_norm_backward(const BatchNormParams&, const float*, const float*,
                                         const float*, const float*, const float*, float*, float*,
                                         float*) {
  not_implemented("batch_norm_backward");
}
void PartialBackend::batch_norm_backward_eval(const BatchNormParams&, const float*, const float*,
                                              const float*, const float*, const float*, float*,
                                              float*, float*) {
  not_implemented("batch_norm_backward_eval");
}
void PartialBackend::dropout_forward(const DropoutParams&, const float*, float*) {
  not_implemented("dropout_forward");
}
void PartialBackend::dropout_backward(const DropoutParams&, const float*, float*) {
  not_implemented("dropout_backward");
}
void PartialBackend::activation_forward(Activation, float, int64_t, const float*, float*) {
  not_implemented("activation_forward");
}
void PartialBackend::activation_backward(Activation, float, int64_t, const float*, const float*,
                                         const float*, float*) {
  not_implemented("activation_backward");
}
void PartialBackend::binary_forward(BinaryOp, const BroadcastParams&, const float*, const float*,
                                    float*) {
  not_implemented("binary_forward");
}
void PartialBackend::reduce_broadcast(const BroadcastParams&, const int64_t*, const float*, int64_t,
                                      float*) {
  not_implemented("reduce_broadcast");
}
void PartialBackend::affine(int64_t, float, float, const float*, float*) {
  not_implemented("affine");
}
void PartialBackend::scale_by(int64_t, const float*, const float*, float*) {
  not_implemented("scale_by");
}
void PartialBackend::axpy_accumulate(int64_t, float, const float*, float*) {
  not_implemented("axpy_accumulate");
}
void PartialBackend::fill(int64_t, float, float*) {
  not_implemented("fill");
}
void PartialBackend::sum(int64_t, const float*, float*) {
  not_implemented("sum");
}
void PartialBackend::u8_to_f32(int64_t, const uint8_t*, float, float, float*) {
  not_implemented("u8_to_f32");
}
void PartialBackend::softmax_forward(int, int, const float*, float*) {
  not_implemented("softmax_forward");
}
void PartialBackend::softmax_backward(int, int, const float*, const float*, float*) {
  not_implemented("softmax_backward");
}
void PartialBackend::log_softmax_forward(int, int, const float*, float*) {
  not_implemented("log_softmax_forward");
}
void PartialBackend::log_softmax_backward(int, int, const float*, const float*, float*) {
  not_implemented("log_softmax_backward");
}
void PartialBackend::cross_entropy_forward(int, int, const float*, const int32_t*, const float*,
                                           float, float*) {
  not_implemented("cross_entropy_forward");
}
void PartialBackend::cross_entropy_backward(int, int, const float*, const int32_t*, const float*,
                                            float, const float*, float*) {
  not_implemented("cross_entropy_backward");
}
void PartialBackend::bce_with_logits_forward(int64_t, const float*, const float*, float*) {
  not_implemented("bce_with_logits_forward");
}
void PartialBackend::bce_with_logits_backward(int64_t, const float*, const float*, const float*,
                                              float*) {
  not_implemented("bce_with_logits_backward");
}
void PartialBackend::bce_forward(int64_t, const float*, const float*, float*) {
  not_implemented("bce_forward");
}
void PartialBackend::bce_backward(int64_t, const float*, const float*, const float*, float*) {
  not_implemented("bce_backward");
}
void PartialBackend::mse_forward(int64_t, const float*, const float*, float*) {
  not_implemented("mse_forward");
}
void PartialBackend::mse_backward(int64_t, const float*, const float*, const float*, float*) {
  not_implemented("mse_backward");
}
void PartialBackend::sgd_update(const SgdStep&, float*, const float*, float*) {
  not_implemented("sgd_update");
}
void PartialBackend::adam_update(const AdamStep&, float*, const float*, float*, float*) {
  not_implemented("adam_update");
}

}  // namespace weft
