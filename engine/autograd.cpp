// The tape and the backward pass (see autograd.h for the = versus += rule).
#include "engine/autograd.h"

#include <unordered_map>
#include <unordered_set>

#include "engine/dispatch.h"
#include "kernels/error.h"

namespace weft {
namespace {
thread_local bool grad_enabled = true;
// The seed of one made by run_backward, while the root's node runs (is_backward_seed_of_one).
thread_local const TensorImpl* running_seed_of_one = nullptr;

// Sets running_seed_of_one for one node's backward, and restores it even if that throws.
class SeedOfOneScope {
 public:
  explicit SeedOfOneScope(const TensorImpl* seed) : previous_(running_seed_of_one) {
    running_seed_of_one = seed;
  }
  ~SeedOfOneScope() { running_seed_of_one = previous_; }
  SeedOfOneScope(const SeedOfOneScope&) = delete;
  SeedOfOneScope& operator=(const SeedOfOneScope&) = delete;

 private:
  const TensorImpl* previous_;
};

std::vector<std::pair<int, GradientReadyHook>>& ready_hooks() {
  static std::vector<std::pair<int, GradientReadyHook>> hooks;
  return hooks;
}

// For each position of `order`, the leaves (requiring a gradient) whose last consumer is the
// node at that position: after it runs, their gradients are final for this backward.
std::vector<std::vector<TensorImpl*>> leaves_final_after(
    const std::vector<std::shared_ptr<Node>>& order) {
  std::unordered_map<TensorImpl*, size_t> last_use;
  std::vector<TensorImpl*> leaves;  // in first-seen order, so announcements are deterministic
  for (size_t i = 0; i < order.size(); ++i) {
    for (const Edge& input : order[i]->inputs) {
      if (input.leaf == nullptr || !input.leaf->requires_grad) continue;
      auto [slot, inserted] = last_use.emplace(input.leaf.get(), i);
      if (inserted) leaves.push_back(input.leaf.get());
      slot->second = i;
    }
  }
  std::vector<std::vector<TensorImpl*>> final_after(order.size());
  for (TensorImpl* leaf : leaves) final_after[last_use[leaf]].push_back(leaf);
  return final_after;
}

// Add `incoming` into `slot`. The first gradient to arrive is kept as it is (=); a later one
// is added (+=) into a *new* tensor, because a gradient may share storage with another one
// (add's backward hands the same tensor to both of its inputs; a view shares its base's data),
// unless `slot` is the only handle on its data, as a residual block's input gradient usually is
// when its second part arrives: then in place, which saves the copy and the second buffer of an
// activation's size.
void accumulate(Tensor& slot, const Tensor& incoming) {
  if (!slot.defined()) {
    slot = incoming;
    return;
  }
  WEFT_CHECK(slot.shape() == incoming.shape(), "gradient of shape ", shape_str(incoming.shape()),
             " cannot be added to one of shape ", shape_str(slot.shape()));
  const bool sole_owner =
      slot.impl_ptr().use_count() == 1 && slot.impl()->storage.use_count() == 1;
  if (!sole_owner) slot = slot.clone();
  dispatch(slot.device())
      .axpy_accumulate(slot.numel(), 1.0f, incoming.data<float>(), slot.data<float>());
}

// Nodes reachable from `root`, each after every node that consumes its output (so the list,
// walked from the front, visits the loss first and the leaves' producers last). Iterative, so a
// deep network does not overflow the call stack. The list holds shared pointers: backward frees
// each node's edges as it goes, and those may be the last owners of nodes further down.
std::vector<std::shared_ptr<Node>> reverse_topological_order(const std::shared_ptr<Node>& root) {
  std::vector<std::shared_ptr<Node>> post_order;
  std::unordered_set<Node*> visited;
  std::vector<std::pair<std::shared_ptr<Node>, size_t>> stack;  // (node, next input to visit)
  stack.emplace_back(root, 0);
  visited.insert(root.get());
  while (!stack.empty()) {
    Node* node = stack.back().first.get();
    size_t& next = stack.back().second;
    if (next < node->inputs.size()) {
      const std::shared_ptr<Node>& child = node->inputs[next++].producer;
      if (child != nullptr && visited.insert(child.get()).second) stack.emplace_back(child, 0);
    } else {
      post_order.push_back(std::move(stack.back().first));
      stack.pop_back();
    }
  }
  return {post_order.rbegin(), post_order.rend()};
}
}  // namespace

Node::~Node() {
  // Move out of each dying node the producer nodes that would die with it, so that every node
  // is destroyed here with its edges already released and its own destructor returns at once.
  std::vector<std::shared_ptr<Node>> dying;
  auto release_inputs = [&dying](std::vector<Edge>& edges) {
    for (Edge& edge : edges) {
      // One at a time, so that [a, a] frees a's node too (the second edge is then the last).
      std::shared_ptr<Node> producer = std::move(edge.producer);
      if (producer != nullptr && producer.use_count() == 1) dying.push_back(std::move(producer));
    }
    edges.clear();
  };
  release_inputs(inputs);
  while (!dying.empty()) {
    std::shared_ptr<Node> node = std::move(dying.back());
    dying.pop_back();
    release_inputs(node->inputs);
  }
}

bool grad_mode_enabled() { return grad_enabled; }

NoGradGuard::NoGradGuard() : previous_(grad_enabled) { grad_enabled = false; }
NoGradGuard::~NoGradGuard() { grad_enabled = previous_; }

bool any_requires_grad(const std::vector<Tensor>& inputs) {
  for (const Tensor& t : inputs) {
    if (t.defined() && (t.requires_grad() || t.grad_fn())) return true;
  }
  return false;
}

void record(Tensor& output, const char* name, std::vector<Tensor> inputs,
            std::function<std::vector<Tensor>(const Tensor& grad_output)> backward) {
  if (!grad_mode_enabled() || !any_requires_grad(inputs)) return;
  auto node = std::make_shared<Node>();
  node->name = name;
  node->inputs.reserve(inputs.size());
  for (const Tensor& input : inputs) {
    Edge edge;
    if (input.defined()) {
      edge.producer = input.grad_fn();
      if (edge.producer == nullptr && input.requires_grad()) edge.leaf = input.impl_ptr();
      edge.shape = input.shape();
      edge.defined = true;
    }
    node->inputs.push_back(std::move(edge));
  }
  node->output = output.impl_ptr();
  node->backward = std::move(backward);
  output.impl()->grad_fn = std::move(node);
}

void run_backward(const Tensor& root, const Tensor& seed) {
  WEFT_CHECK(root.defined(), "backward() of an undefined tensor");
  Tensor root_grad = seed;
  const bool seed_of_one = !root_grad.defined();
  if (seed_of_one) {
    WEFT_CHECK(root.numel() == 1, "backward() without a gradient needs a one-element tensor, got ",
               root.str(), "; pass the gradient explicitly");
    root_grad = Tensor::full(root.shape(), 1.0f, root.device());
  }
  WEFT_CHECK(root_grad.shape() == root.shape(), "backward(): gradient ", root_grad.str(),
             " does not match ", root.str());

  if (!root.grad_fn()) {
    WEFT_CHECK(root.requires_grad(), "backward() on a tensor that does not require gradients");
    accumulate(root.impl()->grad, root_grad);
    return;
  }

  NoGradGuard no_tape;  // gradients are plain values: backward is not itself recorded
  std::unordered_map<Node*, Tensor> pending;
  const std::shared_ptr<Node> root_node = root.grad_fn();
  pending[root_node.get()] = root_grad;

  const std::vector<std::shared_ptr<Node>> order = reverse_topological_order(root_node);
  std::vector<std::vector<TensorImpl*>> final_after;
  if (!ready_hooks().empty()) final_after = leaves_final_after(order);
  auto announce = [&](size_t position) {
    if (final_after.empty()) return;
    for (TensorImpl* leaf : final_after[position]) {
      for (const auto& [id, hook] : ready_hooks()) hook(leaf);
    }
  };
  for (size_t position = 0; position < order.size(); ++position) {
    Node* node = order[position].get();
    auto found = pending.find(node);
    if (found == pending.end()) {  // no gradient reached this node
      announce(position);
      continue;
    }
    Tensor grad_output = std::move(found->second);
    pending.erase(found);
    WEFT_CHECK(node->backward, "backward through '", node->name,
               "' a second time: the graph was freed by the first backward()");

    if (auto output = node->output.lock(); output && output->retains_grad) {
      accumulate(output->grad, grad_output.clone());
    }
    std::vector<Tensor> input_grads;
    {
      // Only the root's node, which runs first, is told that its gradient is the seed of one.
      const bool root_seed = seed_of_one && node == root_node.get();
      SeedOfOneScope scope(root_seed ? grad_output.impl() : nullptr);
      input_grads = node->backward(grad_output);
    }
    WEFT_CHECK(input_grads.size() == node->inputs.size(), "backward of '", node->name,
               "' returned ", input_grads.size(), " gradients for ", node->inputs.size(),
               " inputs");
    for (size_t i = 0; i < input_grads.size(); ++i) {
      const Edge& input = node->inputs[i];
      Tensor& grad = input_grads[i];
      if (!input.defined || !grad.defined()) continue;
      WEFT_CHECK(grad.shape() == input.shape, "backward of '", node->name, "' produced a ",
                 shape_str(grad.shape()), " gradient for input ", i, " of shape ",
                 shape_str(input.shape));
      if (input.producer != nullptr) {
        accumulate(pending[input.producer.get()], grad);
      } else if (input.leaf != nullptr && input.leaf->requires_grad) {
        accumulate(input.leaf->grad, grad);
      }
    }
    // Free what the node saved; its closure is not needed again.
    node->backward = nullptr;
    node->inputs.clear();
    announce(position);
  }
}

bool is_backward_seed_of_one(const Tensor& grad) {
  return running_seed_of_one != nullptr && grad.defined() && grad.impl() == running_seed_of_one;
}

int add_gradient_ready_hook(GradientReadyHook hook) {
  static int next_id = 1;
  ready_hooks().emplace_back(next_id, std::move(hook));
  return next_id++;
}

void remove_gradient_ready_hook(int id) {
  auto& hooks = ready_hooks();
  for (auto it = hooks.begin(); it != hooks.end(); ++it) {
    if (it->first == id) {
      hooks.erase(it);
      return;
    }
  }
}

}  // namespace weft
