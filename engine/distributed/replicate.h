// Keeping the ranks of a data-parallel run in step outside the gradient exchange: the same
// starting weights everywhere, and the same metrics on every rank (so callbacks - early
// stopping, plateau schedules - decide the same on all of them).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/nn/module.h"

namespace weft::dist {

// Copy rank 0's parameters and buffers into every rank's model (a no-op for one process).
void broadcast_state(const nn::Module& model);

// A data-parallel run's settings in a run config: "world_size", "sync_batchnorm"
// (sync_batchnorm.h) and, when the config has an integer "batch_size" (per rank),
// "global_batch_size". The trainer's --resume check compares them, so a run resumed with another
// number of ranks or the other batch-norm mode is refused. Nothing for one process (so configs and
// checkpoints of single-process runs stay as they were).
void describe_ranks(nlohmann::json& config);

// The mean over the ranks of each value (every rank passes the same number of values).
std::vector<double> mean_over_ranks(std::vector<double> values, const std::string& what);

}  // namespace weft::dist
