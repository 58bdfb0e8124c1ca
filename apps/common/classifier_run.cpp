// The shared train-evaluate-report run of a single-label classifier (see classifier_run.h).
#include "apps/common/classifier_run.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <set>

#include "apps/common/reports.h"
#include "engine/data/balance.h"
#include "engine/data/loader.h"
#include "kernels/error.h"

namespace weft::app {

namespace {

// A loader over `images` in dataset order (evaluation) or shuffled and augmented (training).
std::unique_ptr<data::Loader> make_loader(const data::LabeledImages& images,
                                          const data::Transform& transform, int64_t batch_size,
                                          bool shuffle, int workers, uint64_t seed) {
  auto dataset = std::make_shared<data::ImageDataset>(images.images, images.labels,
                                                      std::vector<int64_t>{}, transform);
  data::LoaderOptions options;
  options.batch_size = batch_size;
  options.shuffle = shuffle;
  options.workers = workers;
  options.seed = seed;
  return std::make_unique<data::Loader>(dataset, options);
}

void check_data(const ClassifierData& data) {
  const data::LabeledImages* parts[] = {&data.train, &data.validation, &data.test};
  const char* names[] = {"training", "validation", "test"};
  for (int i = 0; i < 3; ++i) {
    WEFT_CHECK(parts[i]->size() > 0, "the ", names[i], " split is empty (", data.source, ")");
    WEFT_CHECK(image_shape(*parts[i]) == image_shape(data.train), "the ", names[i],
               " images are ", shape_str(image_shape(*parts[i])), " but the training images ",
               shape_str(image_shape(data.train)));
  }
  WEFT_CHECK(!data.train.class_names.empty(), "the training split has no class names");
  // A classifier of one class scores 100% and learns nothing: refuse it.
  std::set<int32_t> present;
  for (int32_t label : data.train.labels.to_vector<int32_t>()) present.insert(label);
  if (present.size() < 2) {
    std::string found;
    for (int32_t label : present) {
      found = label >= 0 && label < static_cast<int32_t>(data.train.class_names.size())
                  ? data.train.class_names[static_cast<size_t>(label)]
                  : std::to_string(label);
    }
    throw Error("the training images of " + data.source + " are all of one class (" + found +
                "); a classifier needs at least two classes");
  }
}

// Up to `count` test images spread evenly over the split, for the sample grid.
std::vector<int64_t> sample_rows(int64_t size, int64_t count) {
  std::vector<int64_t> rows;
  const int64_t n = std::min(size, count);
  for (int64_t i = 0; i < n; ++i) rows.push_back(i * size / n);
  return rows;
}

}  // namespace

Shape image_shape(const data::LabeledImages& data) {
  const Shape& shape = data.images.shape();
  return {shape.at(1), shape.at(2), shape.at(3)};
}

nlohmann::ordered_json history_json(const std::vector<train::EpochRecord>& history) {
  nlohmann::ordered_json rows = nlohmann::ordered_json::array();
  for (const train::EpochRecord& record : history) {
    nlohmann::ordered_json row;
    row["epoch"] = record.epoch;
    for (const auto& [name, value] : record.metrics.entries()) row[name] = value;
    row["lr"] = record.lr;
    row["train_seconds"] = record.train_seconds;
    row["seconds"] = record.seconds;
    rows.push_back(row);
  }
  return rows;
}

nlohmann::ordered_json time_to_reach(const std::vector<train::EpochRecord>& history,
                                     const std::string& metric, double target) {
  double seconds = 0, train_seconds = 0;
  for (const train::EpochRecord& record : history) {
    seconds += record.seconds;
    train_seconds += record.train_seconds;
    const std::optional<double> value = record.metrics.find(metric);
    if (value && *value >= target) {
      return nlohmann::ordered_json{
          {"epoch", record.epoch}, {"seconds", seconds}, {"train_seconds", train_seconds}};
    }
  }
  return nullptr;
}

ClassifierOutcome run_classifier(nn::Module& model, optim::Optimizer& optimizer,
                                 const ClassifierData& data, const ClassifierRun& run) {
  const Stopwatch stopwatch;
  const CommonOptions& common = run.common;
  check_data(data);
  const std::vector<std::string>& class_names = data.train.class_names;
  prepare_run_folder(common);
  if (!common.weights.empty()) {
    load_weights(model, common.weights);
    std::printf("weft-%s: loaded weights from %s\n", run.app.c_str(), common.weights.c_str());
  }
  const Shape shape = image_shape(data.train);
  std::printf("weft-%s: %lld train / %lld validation / %lld test images of %s, %zu classes, "
              "%lld parameters, %s lr %g, batch %d, device %s\n  data: %s\n",
              run.app.c_str(), static_cast<long long>(data.train.size()),
              static_cast<long long>(data.validation.size()),
              static_cast<long long>(data.test.size()), shape_str(shape).c_str(),
              class_names.size(), static_cast<long long>(model.parameter_count()),
              optimizer.name().c_str(), static_cast<double>(optimizer.lr()), common.batch_size,
              run.device.str().c_str(), data.source.c_str());
  std::fflush(stdout);

  const data::Transform train_transform{run.augment, run.normalize};
  const data::Transform eval_transform{std::nullopt, run.normalize};
  const int workers = run.workers > 0 ? run.workers : loader_workers(common, run.device);
  print_loader_workers(workers);
  auto train_loader =
      make_loader(data.train, train_transform, common.batch_size, true, workers, common.seed);
  auto validation_loader =
      make_loader(data.validation, eval_transform, run.eval_batch_size, false, 0, common.seed);
  auto test_loader =
      make_loader(data.test, eval_transform, run.eval_batch_size, false, 0, common.seed);
  const train::Objective objective = train::Objective::single_label;

  ClassifierOutcome outcome;
  if (!common.eval_only) {
    train::TrainerOptions options;
    options.epochs = common.epochs;
    options.run_dir = common.out;
    options.seed = common.seed;
    options.config = run.config;
    options.config_may_change = run.config_may_change;
    options.resume = common.resume;
    options.skip_nonfinite_steps = common.skip_nonfinite_steps;
    options.profile_steps = common.profile_steps;
    train::Trainer trainer(model, optimizer, options);
    for (const auto& callback : run.callbacks) trainer.add_callback(callback);
    trainer.add_callback(std::make_shared<train::ModelCheckpoint>());
    const train::StepHooks hooks = trainer.step_hooks();
    outcome.training = trainer.fit(
        [&](int epoch) {
          const train::EpochResult r = train::train_loader_epoch(
              model, optimizer, *train_loader, epoch, run.device, objective, hooks,
              run.label_smoothing);
          return train::Metrics{{"loss", r.loss}, {"accuracy", r.accuracy}};
        },
        [&](int) {
          const train::Predictions v = train::predict(model, *validation_loader, run.device,
                                                      objective, run.test_time_augment);
          train::Metrics metrics{{"val_loss", v.loss}, {"val_accuracy", v.accuracy()}};
          if (run.test_every_epoch) {
            const train::Predictions t = train::predict(model, *test_loader, run.device,
                                                        objective, run.test_time_augment);
            metrics.set("epoch_test_accuracy", t.accuracy());
          }
          return metrics;
        });
    if (outcome.training.interrupted) {
      outcome.exit_code = outcome.training.exit_code();
      return outcome;
    }
  }

  outcome.test =
      train::predict(model, *test_loader, run.device, objective, run.test_time_augment);
  const double test_accuracy = outcome.test.accuracy();
  outcome.seconds = stopwatch.seconds();
  std::printf("test accuracy %.4f (loss %.4f) after %d epochs, %.0f s\n", test_accuracy,
              outcome.test.loss, outcome.training.epochs_completed, outcome.seconds);

  const std::string model_path = (std::filesystem::path(common.out) / "model.safetensors").string();
  if (!common.eval_only) save_model(model_path, model, run.app, class_names, run.model_metadata);

  ClassifierReportInput report_input;
  report_input.title = run.title;
  report_input.class_names = class_names;
  report_input.truth = outcome.test.labels;
  report_input.predicted = outcome.test.predicted_classes();
  report_input.train_counts = data::class_counts(data.train);
  const std::vector<int64_t> rows = sample_rows(data.test.size(), 24);
  report_input.sample_images = data::gather_rows(data.test.images, rows);
  for (int64_t r : rows) {
    report_input.sample_truth.push_back(report_input.truth[static_cast<size_t>(r)]);
    report_input.sample_predicted.push_back(report_input.predicted[static_cast<size_t>(r)]);
  }
  report_input.history = outcome.training.history;
  const nlohmann::ordered_json classification = write_classifier_report(common.out, report_input);

  nlohmann::ordered_json& report = outcome.report;
  report = report_header(run.app, "test_accuracy", test_accuracy,
                         outcome.training.epochs_completed, run.device, outcome.seconds,
                         run.config);
  report["test_loss"] = outcome.test.loss;
  report["test_macro_f1"] = classification["macro_f1"];
  report["data"] = data.source;
  report["class_names"] = class_names;
  report["images"] = {{"train", data.train.size()},
                      {"validation", data.validation.size()},
                      {"test", data.test.size()},
                      {"shape", shape}};
  report["parameters"] = model.parameter_count();
  report["epochs_requested"] = common.eval_only ? 0 : common.epochs;
  report["stopped_early"] = outcome.training.stopped_early;
  report["stop_reason"] = outcome.training.stop_reason;
  report["resumed_from"] = common.resume;
  report["weights"] = common.weights;
  report["eval_only"] = common.eval_only;
  report["classification"] = classification;
  report["history"] = history_json(outcome.training.history);
  write_report(common.out, report);
  std::printf("wrote report.json, classification_report.txt%s and figures/ to %s\n",
              common.eval_only ? "" : ", model.safetensors", common.out.c_str());
  return outcome;
}

}  // namespace weft::app
