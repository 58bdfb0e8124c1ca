// The synchronised batch norm's option and exchanges (sync_batchnorm.h): a host all-reduce for
// CPU ranks, an NCCL all-reduce on the kernels' stream for GPU ranks.
#include "engine/distributed/sync_batchnorm.h"

#include <memory>
#include <vector>

#include "engine/distributed/communicator.h"
#include "kernels/error.h"

#ifdef WEFT_HAVE_NCCL
#include "engine/distributed/nccl_comm.h"
#endif

namespace weft::dist {

namespace {

constexpr const char* kWhat = "synchronised batch norm statistics";

bool& enabled_flag() {
  static bool enabled = false;
  return enabled;
}

struct DeviceExchange {
  Device device;
  BatchNormSync sync;
#ifdef WEFT_HAVE_NCCL
  std::unique_ptr<NcclComm> comm;
#endif
};

std::vector<std::unique_ptr<DeviceExchange>>& exchanges() {
  static std::vector<std::unique_ptr<DeviceExchange>> all;
  return all;
}

void host_exchange(void*, double* data, int64_t count, void*) {
  world().allreduce_sum(data, count, kWhat);
}

#ifdef WEFT_HAVE_NCCL
void nccl_exchange(void* context, double* data, int64_t count, void* stream) {
  auto* exchange = static_cast<DeviceExchange*>(context);
  exchange->comm->all_reduce(data, data, static_cast<size_t>(count), ncclDouble, ncclSum,
                             static_cast<cudaStream_t>(stream), kWhat);
}
#endif

}  // namespace

void set_sync_batchnorm(bool enabled) { enabled_flag() = enabled; }

bool sync_batchnorm() { return enabled_flag(); }

const BatchNormSync* batch_norm_sync(Device device) {
  if (!enabled_flag() || !distributed()) return nullptr;
  for (const auto& exchange : exchanges()) {
    if (exchange->device == device) return &exchange->sync;
  }
  auto exchange = std::make_unique<DeviceExchange>();
  exchange->device = device;
  exchange->sync.rank = world().rank();
  exchange->sync.ranks = world().world_size();
  exchange->sync.context = exchange.get();
  if (device.is_cpu()) {
    exchange->sync.exchange = host_exchange;
  } else if (device.is_cuda()) {
#ifdef WEFT_HAVE_NCCL
    exchange->comm = std::make_unique<NcclComm>(device.index, "batch norm");
    exchange->sync.exchange = nccl_exchange;
#else
    throw Error("synchronised batch norm on " + device.str() +
                " needs NCCL, and this weft was built without it");
#endif
  } else {
    throw Error("synchronised batch norm runs on cpu or cuda ranks, not on " + device.str());
  }
  exchanges().push_back(std::move(exchange));
  return &exchanges().back()->sync;
}

void release_sync_batchnorm() { exchanges().clear(); }

}  // namespace weft::dist
