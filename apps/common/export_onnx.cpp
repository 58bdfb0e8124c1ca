// --export-onnx for the apps (see export_onnx.h).
#include "apps/common/export_onnx.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <system_error>

#include "engine/io/onnx_model.h"
#include "kernels/error.h"

namespace weft::app {
namespace {

namespace fs = std::filesystem;

// The folder `path` is written into: its parent, or "." for a bare file name.
fs::path folder_of(const std::string& path) {
  const fs::path parent = fs::path(path).parent_path();
  return parent.empty() ? fs::path(".") : parent;
}

// Checked when the flag is parsed, so that a run does not train for hours and then fail to
// write its file: "" when `path` can be written (its folder, or the nearest folder above it that
// exists, is a writable folder; the missing ones are created by write_onnx, as --out's are),
// otherwise why not.
std::string check_writable_file(const std::string& path) {
  std::error_code error;
  if (path.empty()) return "needs a file name";
  if (fs::is_directory(path, error)) return path + " is a folder (expected a file name)";
  fs::path folder = folder_of(path);
  while (!fs::exists(folder, error)) {
    const fs::path up = folder.parent_path();
    if (up.empty() || up == folder) {
      folder = ".";
      break;
    }
    folder = up;
  }
  if (!fs::is_directory(folder, error)) {
    return "cannot write " + path + ": " + folder.string() + " is not a folder";
  }
  if (::access(folder.c_str(), W_OK | X_OK) != 0) {
    return "cannot write " + path + ": the folder " + folder.string() + " is not writable";
  }
  return {};
}

}  // namespace

CLI::Option* add_export_onnx_option(CLI::App& cli, std::string& path) {
  return cli.add_option("--export-onnx", path,
                 "write the model as ONNX (opset 17) to FILE: after training, or with --weights "
                 "the weights' model without training")
      ->type_name("FILE")
      ->check(CLI::Validator(
          [](std::string& text) { return check_writable_file(text); }, ""));
}

bool export_without_training(const CommonOptions& common, const std::string& path) {
  return !path.empty() && !common.weights.empty() && !common.eval_only;
}

void write_onnx(const std::string& app, const std::string& path, const nn::Module& model,
                models::OnnxExportOptions options) {
  if (path.empty()) return;
  options.metadata.emplace("app", app);
  std::error_code error;
  fs::create_directories(folder_of(path), error);
  if (error) {
    throw Error("--export-onnx " + path + ": cannot create the folder " +
                folder_of(path).string() + ": " + error.message());
  }
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
