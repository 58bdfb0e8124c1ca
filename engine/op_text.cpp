// Op calls as text (op_text.h): each params struct described, and the parameter names of the op
// table's parameter lists.
#include "engine/op_text.h"

#include <cctype>
#include <sstream>

namespace weft {

std::string activation_suffix(const FusedActivation& act) {
  if (act.kind == FusedActivation::Kind::relu) return " +relu";
  if (act.kind != FusedActivation::Kind::leaky_relu) return "";
  std::ostringstream s;
  s << " +leaky_relu(" << act.alpha << ")";
  return s.str();
}

std::string describe(const Conv2dParams& p) {
  std::ostringstream s;
  s << "N=" << p.batch << " C=" << p.in_channels << " H=" << p.in_h << " W=" << p.in_w
    << " O=" << p.out_channels << " k=" << p.kernel_h << "x" << p.kernel_w << " s=" << p.stride_h
    << "," << p.stride_w << " p=" << p.pad_h << "," << p.pad_w << " d=" << p.dilation_h << ","
    << p.dilation_w << activation_suffix(p.activation);
  return s.str();
}

std::string describe(const ConvTranspose2dParams& p) {
  std::ostringstream s;
  s << "N=" << p.batch << " C=" << p.in_channels << " H=" << p.in_h << " W=" << p.in_w
    << " O=" << p.out_channels << " k=" << p.kernel_h << "x" << p.kernel_w << " s=" << p.stride_h
    << "," << p.stride_w << " p=" << p.pad_h << "," << p.pad_w << " op=" << p.output_pad_h << ","
    << p.output_pad_w << " d=" << p.dilation_h << "," << p.dilation_w;
  return s.str();
}

std::string describe(const Pool2dParams& p) {
  std::ostringstream s;
  s << "N=" << p.batch << " C=" << p.channels << " H=" << p.in_h << " W=" << p.in_w
    << " k=" << p.kernel_h << "x" << p.kernel_w << " s=" << p.stride_h << "," << p.stride_w
    << " p=" << p.pad_h << "," << p.pad_w << activation_suffix(p.activation);
  return s.str();
}

std::string describe(const BatchNormParams& p) {
  std::ostringstream s;
  s << "N=" << p.batch << " C=" << p.channels << " S=" << p.spatial
    << activation_suffix(p.activation) << (p.sync != nullptr ? " sync" : "");
  return s.str();
}

std::string describe(const DropoutParams& p) {
  std::ostringstream s;
  s << "count=" << p.count << " p=" << p.p;
  return s.str();
}

std::string describe(const BroadcastParams& p) {
  std::string out = "out=";
  for (int d = 0; d < p.ndim; ++d) {
    if (d > 0) out += "x";
    out += std::to_string(p.out_shape[d]);
  }
  return out;
}

std::string describe(const GemmParams& p) {
  std::ostringstream s;
  s << "m=" << p.m << " n=" << p.n << " k=" << p.k << " " << (p.trans_a ? "T" : "N")
    << (p.trans_b ? "T" : "N") << " beta=" << p.beta;
  return s.str();
}

std::string describe(const ImageGatherParams& p) {
  std::ostringstream s;
  s << "rows=" << p.rows << " C=" << p.channels << " H=" << p.height << " W=" << p.width;
  return s.str();
}

std::string describe(const SgdStep& s) {
  return "count=" + std::to_string(s.count) + (s.momentum != 0.0f ? " momentum" : "");
}

std::string describe(const AdamStep& s) {
  return "count=" + std::to_string(s.count) + (s.decoupled_weight_decay ? " adamw" : "");
}

std::string describe(Activation f) {
  switch (f) {
    case Activation::relu:
      return "relu";
    case Activation::leaky_relu:
      return "leaky_relu";
    case Activation::elu:
      return "elu";
    case Activation::sigmoid:
      return "sigmoid";
    case Activation::tanh:
      return "tanh";
  }
  return "?";
}

std::string describe(BinaryOp op) {
  switch (op) {
    case BinaryOp::add:
      return "add";
    case BinaryOp::sub:
      return "sub";
    case BinaryOp::mul:
      return "mul";
    case BinaryOp::div:
      return "div";
  }
  return "?";
}

namespace op_text {

// "(const Conv2dParams& p, const float* x)" -> {"p", "x"}: the last identifier of each
// comma-separated declaration.
std::vector<std::string> parameter_names(const char* params) {
  std::vector<std::string> names;
  std::string declaration;
  const auto finish = [&] {
    size_t end = declaration.size();
    while (end > 0 && std::isspace(static_cast<unsigned char>(declaration[end - 1])) != 0) --end;
    size_t begin = end;
    while (begin > 0 && (std::isalnum(static_cast<unsigned char>(declaration[begin - 1])) != 0 ||
                         declaration[begin - 1] == '_')) {
      --begin;
    }
    if (end > begin) names.push_back(declaration.substr(begin, end - begin));
    declaration.clear();
  };
  for (const char* c = params; *c != '\0'; ++c) {
    if (*c == '(' || *c == ')') continue;
    if (*c == ',') {
      finish();
    } else {
      declaration += *c;
    }
  }
  finish();
  return names;
}

}  // namespace op_text
}  // namespace weft
