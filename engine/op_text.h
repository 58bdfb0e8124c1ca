// Op calls as text: the shape part of an autotune key (engine/dispatch.cpp) and the shape column
// of the op profile (engine/profile.h). Each params struct of kernels/params.h has a describe();
// call_shape() describes a whole call of a backend op from its argument list, naming the plain
// integers by the op table's parameter names and leaving out the pointers:
//
//   call_shape("(int n, int in_features, int out_features, const FusedActivation& act, ...)",
//              42, 12544, 100, relu, x, w, bias, y)
//     -> "n=42 in_features=12544 out_features=100 +relu"
#pragma once

#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "kernels/backend.h"
#include "kernels/params.h"

namespace weft {

// " +relu", " +leaky_relu(0.2)" or nothing.
std::string activation_suffix(const FusedActivation& act);

std::string describe(const Conv2dParams& p);           // "N=.. C=.. H=.. W=.. O=.. k=.. s=.. ..."
std::string describe(const ConvTranspose2dParams& p);  // the same with output padding "op="
std::string describe(const Pool2dParams& p);
std::string describe(const BatchNormParams& p);
std::string describe(const DropoutParams& p);
std::string describe(const BroadcastParams& p);
std::string describe(const GemmParams& p);
std::string describe(const ImageGatherParams& p);
std::string describe(const SgdStep& s);
std::string describe(const AdamStep& s);
std::string describe(Activation f);
std::string describe(BinaryOp op);

namespace op_text {

// The parameter names of a parenthesised C++ parameter list, as the op table writes it.
std::vector<std::string> parameter_names(const char* params);

// One argument's part of a call's text: a params struct described, an integer as name=value,
// nothing for pointers and floats (data and scalars such as a learning rate).
inline std::string part(const std::string& name, int64_t value) {
  return name + "=" + std::to_string(value);
}
template <class T>
std::string part(const std::string& name, const T& value) {
  (void)name;
  if constexpr (std::is_pointer_v<T> || std::is_floating_point_v<T>) {
    return {};
  } else if constexpr (std::is_same_v<T, FusedActivation>) {
    const std::string text = activation_suffix(value);
    return text.empty() ? text : text.substr(1);
  } else if constexpr (std::is_integral_v<T>) {
    return part(name, static_cast<int64_t>(value));
  } else {
    return describe(value);
  }
}

}  // namespace op_text

// The text of one call of a backend op: `params` is the op's parameter list as the op table
// writes it (WEFT_BACKEND_OPS), `args` the call's arguments in that order.
template <class... Args>
std::string call_shape(const char* params, const Args&... args) {
  const std::vector<std::string> names = op_text::parameter_names(params);
  std::string out;
  size_t index = 0;
  const auto add = [&](const std::string& text) {
    ++index;
    if (text.empty()) return;
    if (!out.empty()) out += " ";
    out += text;
  };
  (add(op_text::part(index < names.size() ? names[index] : std::string("?"), args)), ...);
  return out;
}

}  // namespace weft
