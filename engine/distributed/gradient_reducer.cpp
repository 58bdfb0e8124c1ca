// Bucketed gradient averaging over the ranks, and the CPU ranks' MPI exchange (see
// gradient_reducer.h).
#include "engine/distributed/gradient_reducer.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <unordered_map>

#include "engine/autograd.h"
#include "engine/distributed/communicator.h"
#include "engine/train/interrupt.h"
#include "kernels/error.h"

namespace weft::dist {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

int64_t bucket_limit_elements() {
  double megabytes = 4.0;
  if (const char* text = std::getenv("WEFT_DIST_BUCKET_MB"); text != nullptr && *text != '\0') {
    char* end = nullptr;
    megabytes = std::strtod(text, &end);
    WEFT_CHECK(end != nullptr && *end == '\0' && megabytes > 0, "WEFT_DIST_BUCKET_MB='", text,
               "' must be a positive number of MiB");
  }
  return std::max<int64_t>(1, static_cast<int64_t>(megabytes * 1024 * 1024 / sizeof(float)));
}

bool environment_flag(const char* name) {
  const char* text = std::getenv(name);
  return text != nullptr && std::strcmp(text, "1") == 0;
}

// CPU ranks: each bucket is a host buffer summed with MPI_Iallreduce.
class HostReducer : public GradientReducer {
 public:
  explicit HostReducer(std::vector<Tensor> params) : GradientReducer(std::move(params)) {
    buckets_changed();
  }

 protected:
  void buckets_changed() override {
    buffers_.assign(buckets_.size(), {});
    requests_.assign(buckets_.size(), 0);
    for (size_t b = 0; b < buckets_.size(); ++b) {
      buffers_[b].assign(static_cast<size_t>(buckets_[b].elements), 0.0f);
    }
  }

  void start(size_t b) override {
    const Bucket& bucket = buckets_[b];
    float* buffer = buffers_[b].data();
    for (size_t k = 0; k < bucket.params.size(); ++k) {
      const Tensor& p = params_[bucket.params[k]];
      float* dst = buffer + bucket.offsets[k];
      const size_t bytes = static_cast<size_t>(p.numel()) * sizeof(float);
      if (p.grad().defined()) {
        std::memcpy(dst, p.grad().data<float>(), bytes);
      } else {
        std::memset(dst, 0, bytes);
      }
    }
    requests_[b] = world().start_allreduce_sum(buffer, bucket.elements,
                                               "gradient bucket " + std::to_string(b) + ", " +
                                                   std::to_string(bucket.elements) + " floats");
  }

  void complete(size_t b) override { world().wait(requests_[b]); }

  void unpack(size_t b) override {
    const Bucket& bucket = buckets_[b];
    const float scale = 1.0f / static_cast<float>(world().world_size());
    for (size_t k = 0; k < bucket.params.size(); ++k) {
      Tensor& p = params_[bucket.params[k]];
      if (!p.grad().defined()) continue;
      Tensor mean = Tensor::empty(p.shape());
      const float* src = buffers_[b].data() + bucket.offsets[k];
      float* dst = mean.data<float>();
      for (int64_t i = 0; i < p.numel(); ++i) dst[i] = src[i] * scale;
      p.mutable_grad() = mean;
    }
  }

  void progress() override { world().progress(); }

 private:
  std::vector<std::vector<float>> buffers_;
  std::vector<int64_t> requests_;
};

// FNV-1a over the bytes of every parameter, folded to 62 bits (fits an int64 and its negation).
int64_t parameter_checksum(const std::vector<Tensor>& params) {
  uint64_t hash = 1469598103934665603ull;
  for (const Tensor& p : params) {
    const std::vector<float> values = p.to_vector<float>();
    const auto* bytes = reinterpret_cast<const unsigned char*>(values.data());
    for (size_t i = 0; i < values.size() * sizeof(float); ++i) {
      hash = (hash ^ bytes[i]) * 1099511628211ull;
    }
  }
  return static_cast<int64_t>(hash >> 2);
}

}  // namespace

ExchangeTotals& exchange_totals() {
  static ExchangeTotals totals;
  return totals;
}

std::unique_ptr<GradientReducer> GradientReducer::create(const std::vector<Tensor>& params) {
  WEFT_CHECK(!params.empty(), "the gradient reducer needs at least one parameter");
  const Device device = params.front().device();
  for (const Tensor& p : params) {
    WEFT_CHECK(p.device() == device, "data-parallel training needs all of an optimizer's "
               "parameters on one device; found ", p.device().str(), " and ", device.str());
  }
  if (device.is_cpu()) return std::unique_ptr<GradientReducer>(new HostReducer(params));
#ifdef WEFT_HAVE_NCCL
  if (device.is_cuda()) return make_nccl_reducer(params);
#endif
  throw Error("data-parallel training runs on cpu" +
              std::string(device.is_cuda() ? " (this weft was built without NCCL, which GPU "
                                             "ranks need)"
                                           : " or cuda") +
              ", not on " + device.str());
}

GradientReducer::GradientReducer(std::vector<Tensor> params)
    : params_(std::move(params)), bucket_limit_(bucket_limit_elements()) {
  announced_.assign(params_.size(), false);
  std::unordered_map<TensorImpl*, size_t> seen;
  for (size_t i = 0; i < params_.size(); ++i) {
    WEFT_CHECK(seen.emplace(params_[i].impl(), i).second, "parameter ", i,
               " is given to the optimizer twice");
    impls_.push_back(params_[i].impl());
  }
  std::vector<size_t> reverse(params_.size());
  for (size_t i = 0; i < reverse.size(); ++i) reverse[i] = params_.size() - 1 - i;
  group(reverse);
  hook_id_ = add_gradient_ready_hook([this](TensorImpl* leaf) { on_ready(leaf); });
}

GradientReducer::~GradientReducer() { remove_gradient_ready_hook(hook_id_); }

void GradientReducer::group(const std::vector<size_t>& order) {
  buckets_.clear();
  bucket_of_.assign(params_.size(), 0);
  for (const size_t i : order) {
    const int64_t n = params_[i].numel();
    if (buckets_.empty() || buckets_.back().elements + n > bucket_limit_) buckets_.emplace_back();
    Bucket& bucket = buckets_.back();
    bucket.params.push_back(i);
    bucket.offsets.push_back(bucket.elements);
    bucket.elements += n;
    bucket_of_[i] = static_cast<int64_t>(buckets_.size() - 1);
  }
}

void GradientReducer::begin_step() {
  phase_ = Phase::collecting;
  std::fill(announced_.begin(), announced_.end(), false);
  for (Bucket& bucket : buckets_) {
    WEFT_CHECK(!bucket.started, "begin_step: a bucket's exchange is still in flight");
    bucket.announced = 0;
    bucket.stale = false;
  }
}

void GradientReducer::on_ready(TensorImpl* leaf) {
  if (phase_ != Phase::collecting) return;
  const auto found = std::find(impls_.begin(), impls_.end(), leaf);
  if (found == impls_.end()) return;  // another optimizer's parameter
  const auto began = Clock::now();
  const size_t i = static_cast<size_t>(found - impls_.begin());
  Bucket& bucket = buckets_[static_cast<size_t>(bucket_of_[i])];
  if (!regrouped_ && ready_order_.size() < params_.size() &&
      std::find(ready_order_.begin(), ready_order_.end(), i) == ready_order_.end()) {
    ready_order_.push_back(i);
  }
  if (announced_[i]) {
    // A second backward added to this gradient: an exchange already started is out of date.
    if (bucket.started) bucket.stale = true;
  } else {
    announced_[i] = true;
    ++bucket.announced;
    if (bucket.announced == bucket.params.size() && !bucket.started) {
      start(static_cast<size_t>(bucket_of_[i]));
      bucket.started = true;
    }
  }
  progress();
  exchange_totals().exchange_seconds += seconds_since(began);
}

void GradientReducer::finish_step() {
  const auto began = Clock::now();
  for (size_t b = 0; b < buckets_.size(); ++b) {
    Bucket& bucket = buckets_[b];
    if (bucket.started && bucket.stale) {
      complete(b);
      bucket.started = false;
    }
    if (!bucket.started) {
      start(b);
      bucket.started = true;
    }
  }
  for (size_t b = 0; b < buckets_.size(); ++b) {
    complete(b);
    unpack(b);
    buckets_[b].started = false;
    exchange_totals().bytes += buckets_[b].elements * static_cast<int64_t>(sizeof(float));
  }
  phase_ = Phase::idle;
  if (!regrouped_) {
    // From the second step on, buckets follow the order backward made the gradients ready.
    regrouped_ = true;
    for (size_t i = 0; i < params_.size(); ++i) {
      if (std::find(ready_order_.begin(), ready_order_.end(), i) == ready_order_.end()) {
        ready_order_.push_back(i);
      }
    }
    group(ready_order_);
    buckets_changed();
  }
  agree_on_stopping();
  exchange_totals().exchange_seconds += seconds_since(began);
  exchange_totals().steps += 1;
}

void GradientReducer::agree_on_stopping() {
  // SIGINT (2) and SIGTERM (15) travel as themselves, request_stop() (-1) as 1; the largest wins.
  int64_t local = 0;
  if (train::local_stop_requested()) local = std::max(1, train::local_stop_signal());
  world().allreduce_max(&local, 1, "stop agreement");
  if (local != 0 && !train::stop_requested()) {
    train::agree_stop(local == 1 ? 0 : static_cast<int>(local));
  }
}

void GradientReducer::check_identical(int64_t step) {
  static const bool enabled = environment_flag("WEFT_DIST_CHECK");
  if (!enabled) return;
  const int64_t checksum = parameter_checksum(params_);
  int64_t range[2] = {checksum, -checksum};
  world().allreduce_max(range, 2, "parameter checksum");
  WEFT_CHECK(range[0] == -range[1], world().who(), ": after step ", step,
             " the parameters differ between ranks (checksums from ", -range[1], " to ",
             range[0], "; WEFT_DIST_CHECK=1)");
}

}  // namespace weft::dist
