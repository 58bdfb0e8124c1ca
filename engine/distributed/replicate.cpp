// Rank 0's state to every rank, and metrics averaged over the ranks (see replicate.h).
#include "engine/distributed/replicate.h"

#include <string>

#include "engine/distributed/communicator.h"
#include "engine/distributed/sync_batchnorm.h"

namespace weft::dist {

void broadcast_state(const nn::Module& model) {
  if (!distributed()) return;
  for (const auto& [name, tensor] : model.state_dict()) {
    const int64_t bytes = tensor.numel() * static_cast<int64_t>(dtype_size(tensor.dtype()));
    if (tensor.device().is_cpu()) {
      world().broadcast(tensor.raw_data(), bytes, 0, "initial state " + name);
      continue;
    }
    Tensor host = tensor.cpu();
    world().broadcast(host.raw_data(), bytes, 0, "initial state " + name);
    if (!is_main()) const_cast<Tensor&>(tensor).copy_(host);
  }
}

void describe_ranks(nlohmann::json& config) {
  if (!distributed() || !config.is_object()) return;
  const int ranks = world().world_size();
  config["world_size"] = ranks;
  config["sync_batchnorm"] = sync_batchnorm();
  if (config.contains("batch_size") && config["batch_size"].is_number_integer()) {
    config["global_batch_size"] = config["batch_size"].get<int64_t>() * ranks;
  }
}

std::vector<double> mean_over_ranks(std::vector<double> values, const std::string& what) {
  if (!distributed() || values.empty()) return values;
  world().allreduce_sum(values.data(), static_cast<int64_t>(values.size()), what);
  for (double& v : values) v /= static_cast<double>(world().world_size());
  return values;
}

}  // namespace weft::dist
