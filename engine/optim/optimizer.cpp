// Optimizer steps and their saved state (see optimizer.h).
#include "engine/optim/optimizer.h"

#include <sstream>

#include "engine/allocator.h"
#include "engine/dispatch.h"
#include "engine/distributed/communicator.h"
#include "engine/graph.h"
#include "kernels/error.h"

namespace weft::optim {

Optimizer::Optimizer(std::vector<Tensor> params, float lr) : params_(std::move(params)), lr_(lr) {
  for (size_t i = 0; i < params_.size(); ++i) {
    WEFT_CHECK(params_[i].defined() && params_[i].dtype() == DType::f32, "optimizer parameter ",
               i, " must be a float tensor");
  }
}

Optimizer::~Optimizer() = default;

dist::GradientReducer* Optimizer::reducer() {
  if (!dist::distributed() || params_.empty()) return nullptr;
  if (!reducer_) reducer_ = dist::GradientReducer::create(params_);
  return reducer_.get();
}

void Optimizer::zero_grad() {
  for (Tensor& p : params_) p.zero_grad();
  if (dist::GradientReducer* r = reducer()) r->begin_step();
}

void Optimizer::step() {
  dist::GradientReducer* r = reducer();
  if (r != nullptr) r->finish_step();
  ++step_count_;
  // In a capture the count moves at each replay, before the update's scalars are staged.
  graph::on_replay([this] { ++step_count_; }, [this] { --step_count_; });
  update();
  if (r != nullptr) r->check_identical(step_count_);
}

Tensor& Optimizer::buffer(std::vector<Tensor>& buffers, size_t index) {
  if (buffers.size() < params_.size()) buffers.resize(params_.size());
  Tensor& b = buffers[index];
  if (!b.defined()) {
    b = Tensor::zeros_like(params_[index]);
  } else if (b.device() != params_[index].device()) {
    b.move_to_(params_[index].device());  // the model moved after the state was created
  }
  return b;
}

const float* Optimizer::captured_scalars(size_t slot, Device device,
                                         const std::function<std::vector<float>()>& values) {
  if (!graph::capturing(device)) return nullptr;
  const auto count = static_cast<int64_t>(values().size());
  if (graph_scalars_.size() <= slot) graph_scalars_.resize(slot + 1);
  Tensor& scalars = graph_scalars_[slot];
  if (!scalars.defined() || scalars.device() != device || scalars.numel() != count) {
    scalars = graph::staging_tensor({count}, DType::f32, device);
  }
  void* where = scalars.raw_data();
  graph::on_replay({}, {},
                   [where, device, values] {
                     const std::vector<float> v = values();
                     copy_bytes(device, where, Device::cpu(), v.data(), v.size() * sizeof(float));
                   });
  return scalars.data<float>();
}

std::map<std::string, std::string> Optimizer::state_metadata() const {
  std::ostringstream lr;
  lr.precision(9);
  lr << lr_;
  return {{"optimizer", name()}, {"optimizer.step", std::to_string(step_count_)},
          {"optimizer.lr", lr.str()}};
}

namespace {

// The tensors one multi-tensor update takes: parameters of one device (and, for SGD, one
// first-step flag), their gradients and up to two state buffers.
struct TensorGroup {
  Device device;
  bool first_step = false;
  bool decay = true;  // weight decay applies (false: a 1-d tensor with decay_vectors off)
  std::vector<int64_t> counts;
  std::vector<float*> params, state1, state2;
  std::vector<const float*> grads;

  void add(Tensor& p, float* first_state, float* second_state) {
    counts.push_back(p.numel());
    params.push_back(p.data<float>());
    grads.push_back(p.grad().data<float>());
    state1.push_back(first_state);
    state2.push_back(second_state);
  }
  int size() const { return static_cast<int>(params.size()); }
};

TensorGroup& group_for(std::vector<TensorGroup>& groups, Device device, bool first_step,
                       bool decay) {
  for (TensorGroup& g : groups) {
    if (g.device == device && g.first_step == first_step && g.decay == decay) return g;
  }
  groups.push_back({});
  groups.back().device = device;
  groups.back().first_step = first_step;
  groups.back().decay = decay;
  return groups.back();
}

// Whether weight decay applies to `p`: always, unless 1-d tensors (biases, batch-norm scale and
// shift) are excluded.
bool decays(const Tensor& p, bool decay_vectors) { return decay_vectors || p.ndim() > 1; }
NamedTensors named_buffers(const std::vector<std::pair<std::string, const std::vector<Tensor>*>>& lists) {
  NamedTensors out;
  for (const auto& [name, list] : lists) {
    for (size_t i = 0; i < list->size(); ++i) {
      if ((*list)[i].defined()) out.emplace_back(std::to_string(i) + "." + name, (*list)[i]);
    }
  }
  return out;
}
}  // namespace

void Optimizer::load_state(const std::map<std::string, Tensor>& tensors,
                           const std::map<std::string, std::string>& metadata) {
  auto read = [&](const std::string& key) {
    auto found = metadata.find(key);
    WEFT_CHECK(found != metadata.end(), "optimizer state: metadata '", key, "' is missing");
    return found->second;
  };
  WEFT_CHECK(read("optimizer") == name(), "optimizer state was saved by ", read("optimizer"),
             ", this run uses ", name());
  try {
    step_count_ = std::stoll(read("optimizer.step"));
    lr_ = std::stof(read("optimizer.lr"));
  } catch (const std::logic_error&) {
    throw Error("optimizer state: step or learning rate is not a number");
  }
  for (auto& [buffer_name, list] : buffer_lists()) {
    list->assign(params_.size(), Tensor());
    for (size_t i = 0; i < params_.size(); ++i) {
      auto found = tensors.find(std::to_string(i) + "." + buffer_name);
      if (found == tensors.end()) continue;
      WEFT_CHECK(found->second.shape() == params_[i].shape(), "optimizer state '", found->first,
                 "' has shape ", shape_str(found->second.shape()), " but parameter ", i,
                 " has shape ", shape_str(params_[i].shape()));
      (*list)[i] = found->second.to(params_[i].device()).clone();
    }
  }
}

SGD::SGD(std::vector<Tensor> params, const SgdOptions& o) : Optimizer(std::move(params), o.lr), options(o) {
  WEFT_CHECK(!o.nesterov || (o.momentum > 0 && o.dampening == 0),
             "SGD: Nesterov momentum needs momentum > 0 and zero dampening");
}

void SGD::update() {
  // One multi-tensor update per device and first-step flag (in practice one for the model).
  std::vector<TensorGroup> groups;
  for (size_t i = 0; i < params_.size(); ++i) {
    Tensor& p = params_[i];
    if (!p.grad().defined()) continue;
    const bool first = options.momentum != 0.0f && (momentum_.size() <= i || !momentum_[i].defined());
    float* momentum = options.momentum != 0.0f ? buffer(momentum_, i).data<float>() : nullptr;
    const bool decay = decays(p, options.decay_vectors || options.weight_decay == 0.0f);
    group_for(groups, p.device(), first, decay).add(p, momentum, nullptr);
  }
  for (size_t slot = 0; slot < groups.size(); ++slot) {
    const TensorGroup& g = groups[slot];
    SgdStep s;
    s.device_scalars =
        captured_scalars(slot, g.device, [this] { return std::vector<float>{lr_}; });
    WEFT_CHECK(s.device_scalars == nullptr || !g.first_step,
               "SGD: the first step with momentum cannot be captured in a graph (run one step ",
               "before the capture)");
    s.lr = lr_;
    s.momentum = options.momentum;
    s.dampening = options.dampening;
    s.weight_decay = g.decay ? options.weight_decay : 0.0f;
    s.nesterov = options.nesterov;
    s.first_step = g.first_step;
    dispatch(g.device).sgd_update_multi(s, g.size(), g.counts.data(), g.params.data(),
                                        g.grads.data(),
                                        options.momentum != 0.0f ? g.state1.data() : nullptr);
  }
}

NamedTensors SGD::state_tensors() const { return named_buffers({{"momentum_buffer", &momentum_}}); }

Adam::Adam(std::vector<Tensor> params, const AdamOptions& o, bool decoupled)
    : Optimizer(std::move(params), o.lr), options(o), decoupled_(decoupled) {}

void Adam::update() {
  std::vector<TensorGroup> groups;  // one multi-tensor update per device
  for (size_t i = 0; i < params_.size(); ++i) {
    Tensor& p = params_[i];
    if (!p.grad().defined()) continue;
    float* m = buffer(exp_avg_, i).data<float>();
    float* v = buffer(exp_avg_sq_, i).data<float>();
    const bool decay = decays(p, options.decay_vectors || options.weight_decay == 0.0f);
    group_for(groups, p.device(), false, decay).add(p, m, v);
  }
  for (size_t slot = 0; slot < groups.size(); ++slot) {
    const TensorGroup& g = groups[slot];
    AdamStep s;
    s.lr = lr_;
    s.beta1 = options.beta1;
    s.beta2 = options.beta2;
    s.eps = options.eps;
    s.weight_decay = g.decay ? options.weight_decay : 0.0f;
    s.decoupled_weight_decay = decoupled_;
    s.step = step_count_;
    s.device_scalars = captured_scalars(slot, g.device, [this, s] {
      AdamStep now = s;
      now.lr = lr_;
      now.step = step_count_;
      const AdamScalars a = adam_scalars(now);
      return std::vector<float>{a.step_size, a.bias2_sqrt, a.decay};
    });
    dispatch(g.device).adam_update_multi(s, g.size(), g.counts.data(), g.params.data(),
                                         g.grads.data(), g.state1.data(), g.state2.data());
  }
}

NamedTensors Adam::state_tensors() const {
  return named_buffers({{"exp_avg", &exp_avg_}, {"exp_avg_sq", &exp_avg_sq_}});
}

}  // namespace weft::optim
