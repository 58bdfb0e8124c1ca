// --export-onnx for the apps (see export_onnx.h).
#include "apps/common/export_onnx.h"

#include <cstdio>

#include "engine/io/onnx_model.h"

namespace weft::app {

CLI::Option* add_export_onnx_option(CLI::App& cli, std::string& path) {
  return cli.add_option("--export-onnx", path,
                 "write the model as ONNX (opset 17) to FILE: after training, or with --weights "
                 "the weights' model without training")
      ->type_name("FILE");
}

bool export_without_training(const CommonOptions& common, const std::string& path) {
  return !path.empty() && !common.weights.empty() && !common.eval_only;
}

void write_onnx(const std::string& app, const std::string& path, const nn::Module& model,
                models::OnnxExportOptions options) {
  if (path.empty()) return;
  options.metadata.emplace("app", app);
  models::export_onnx(model, path, options);
  std::string inputs;
  for (const models::OnnxInput& input : models::onnx_inputs(model, options)) {
    inputs += (inputs.empty() ? "" : ", ") + input.name + " [batch";
    for (int64_t d : input.shape) inputs += ", " + std::to_string(d);
    inputs += "]";
  }
  std::printf("weft-%s: wrote %s (ONNX opset %lld, IR %lld): inputs %s\n", app.c_str(),
              path.c_str(), static_cast<long long>(onnx::kOpsetVersion),
              static_cast<long long>(onnx::kIrVersion), inputs.c_str());
}

}  // namespace weft::app
