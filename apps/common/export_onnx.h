// --export-onnx FILE, shared by the apps with a trained model: registering the flag, deciding
// whether the run trains first, and writing the file (models/onnx_export.h does the lowering).
//
//   weft-fashion-mnist --epochs 15 --out runs/f --export-onnx runs/f/model.onnx  # train, export
//   weft-fashion-mnist --weights runs/f/model.safetensors --export-onnx f.onnx   # export only
//
// With --weights, --export-onnx exports the weights' model and trains nothing (with --predict
// it also predicts); otherwise the model the run ends with is exported after training (after
// --eval-only's evaluation). The flag is checked when it is parsed (a folder, or a folder that
// cannot be written, is refused before any training); folders in the path that do not exist yet
// are created, as --out's are. The file is written atomically and the app prints one line naming
// it. The ONNX graph takes the model's normalised input; its metadata says how to normalise.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "apps/common/app_common.h"
#include "models/onnx_export.h"

namespace weft::app {

// Register --export-onnx FILE on `cli`, bound to `path`.
CLI::Option* add_export_onnx_option(CLI::App& cli, std::string& path);

// True when --export-onnx comes with --weights and without --eval-only: export the weights'
// model and train nothing.
bool export_without_training(const CommonOptions& common, const std::string& path);

// Write `model` to `path` as ONNX with "app" added to the metadata, and print
//   weft-<app>: wrote <path> (ONNX opset 17, IR 8): inputs images [batch, 1, 28, 28]
// Does nothing when `path` is empty.
void write_onnx(const std::string& app, const std::string& path, const nn::Module& model,
                models::OnnxExportOptions options);

}  // namespace weft::app
