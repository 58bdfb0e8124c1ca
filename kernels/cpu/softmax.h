// CPU reference for softmax and log-softmax over the last dimension of a [rows, cols] matrix,
// computed stably (the row maximum is subtracted before exponentiation).
// Write rule: outputs are overwritten.
#pragma once

namespace weft::cpu {

void softmax_forward(int rows, int cols, const float* x, float* y);
// dx = y * (dy - sum(dy * y)) per row
void softmax_backward(int rows, int cols, const float* y, const float* dy, float* dx);

void log_softmax_forward(int rows, int cols, const float* x, float* y);
// dx = dy - exp(y) * sum(dy) per row
void log_softmax_backward(int rows, int cols, const float* y, const float* dy, float* dx);

}  // namespace weft::cpu
