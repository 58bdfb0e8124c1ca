// Averaging gradients over the ranks of a data-parallel run, in buckets, in gradient-ready
// order, started while backward still runs.
//
// Every optimizer of a distributed run owns one (engine/optim/optimizer.cpp): zero_grad()
// calls begin_step(), and step() calls finish_step() before its update, so every loop that
// trains through an Optimizer - all the apps' loops - exchanges gradients without knowing it.
//
// Buckets: the parameters are grouped into buckets of about WEFT_DIST_BUCKET_MB (default 4)
// MiB of float32 gradients. The first step groups them in reverse registration order (the
// last layers' gradients are ready first); from the second step on, in the order backward
// announced them on the first step (autograd.h, add_gradient_ready_hook) - the same on every
// rank, since every rank runs the same graph.
//
// Overlap: a bucket's exchange is started as soon as backward has announced all its gradients.
//   * GPU ranks (NCCL): the bucket is packed on the compute stream, the NCCL stream waits for an
//     event recorded after the packing, and ncclAllReduce(ncclAvg) runs on the NCCL stream
//     while the compute stream goes on with the rest of backward; finish_step makes the
//     compute stream wait for the NCCL stream's event before unpacking. No host
//     synchronisation (engine/distributed/nccl_reducer.cpp; compiled, not yet run on a GPU).
//   * CPU ranks (MPI): the bucket is packed into host memory and MPI_Iallreduce started; each
//     later announcement polls the started exchanges (MPI moves data only inside its calls;
//     Open MPI has no progress thread by default) and finish_step waits for the rest. On a CPU
//     the ranks' compute and MPI's copies share the same cores, so the overlap hides latency
//     more than it adds bandwidth.
// A gradient that grows again after its bucket was started (a second backward before the step, as
// in a GAN loop whose generator step also reaches the discriminator's parameters; weft's gan_step
// freezes them) marks the bucket stale: finish_step exchanges it again. The average is the sum
// divided by the number of ranks.
//
// Every step also agrees on stopping (train::agree_stop, engine/train/interrupt.h): the ranks
// exchange their local stop requests, so a signal on any rank stops all of them after the same
// step. WEFT_DIST_CHECK=1 compares a checksum of the parameters across ranks after every
// update and fails naming the step when they differ (a host copy per step: for debugging).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace weft::dist {

// Time spent in gradient exchanges by all reducers of this process (for the compute /
// communication split, printed at shutdown with WEFT_DIST_PROFILE=1).
struct ExchangeTotals {
  int64_t steps = 0;
  double exchange_seconds = 0;  // starting buckets, waiting for them, packing and unpacking
  int64_t bytes = 0;            // gradient bytes exchanged by this rank
};
ExchangeTotals& exchange_totals();

class GradientReducer {
 public:
  // The reducer for `params` (all on one device): MPI for CPU tensors, NCCL for CUDA tensors.
  // weft::Error for other devices or when the needed library is not built in.
  static std::unique_ptr<GradientReducer> create(const std::vector<Tensor>& params);

  virtual ~GradientReducer();
  GradientReducer(const GradientReducer&) = delete;
  GradientReducer& operator=(const GradientReducer&) = delete;

  // A new step: the gradients were dropped (zero_grad) and backward will announce them again.
  void begin_step();
  // Every parameter's gradient becomes the mean over the ranks (undefined stays undefined:
  // every rank ran the same graph). Then the ranks agree whether to stop.
  void finish_step();
  // WEFT_DIST_CHECK=1: the parameters are identical on every rank after update `step`.
  void check_identical(int64_t step);

  int64_t bucket_count() const { return static_cast<int64_t>(buckets_.size()); }

 protected:
  struct Bucket {
    std::vector<size_t> params;  // indices into params_
    std::vector<int64_t> offsets;  // element offset of each in the flat bucket
    int64_t elements = 0;
    size_t announced = 0;  // parameters announced in this step
    bool started = false;
    bool stale = false;
  };

  explicit GradientReducer(std::vector<Tensor> params);
  // Pack bucket `b`'s gradients (zeros for undefined ones) and start its exchange.
  virtual void start(size_t b) = 0;
  // Wait for bucket `b`'s started exchange.
  virtual void complete(size_t b) = 0;
  // Write the averaged bucket back as fresh gradient tensors (never in place: a gradient may
  // share storage with another tensor).
  virtual void unpack(size_t b) = 0;
  // Let started exchanges advance between announcements.
  virtual void progress() {}
  // Rebuild per-bucket buffers after the buckets changed.
  virtual void buckets_changed() {}

  std::vector<Tensor> params_;
  std::vector<Bucket> buckets_;

 private:
  void group(const std::vector<size_t>& order);
  void on_ready(TensorImpl* leaf);
  void agree_on_stopping();

  enum class Phase { idle, collecting };
  Phase phase_ = Phase::collecting;
  int hook_id_ = 0;
  int64_t bucket_limit_ = 0;  // elements
  std::vector<int64_t> bucket_of_;  // per parameter
  std::vector<bool> announced_;     // per parameter, this step
  std::vector<TensorImpl*> impls_;
  std::vector<size_t> ready_order_;  // the first step's announcement order
  bool regrouped_ = false;
};

#ifdef WEFT_HAVE_NCCL
// GPU ranks: one NCCL communicator (its unique id broadcast from rank 0 over MPI).
std::unique_ptr<GradientReducer> make_nccl_reducer(const std::vector<Tensor>& params);
#endif

}  // namespace weft::dist
