// Reverse-mode automatic differentiation on a dynamic tape.
//
// Every differentiable op that sees an input with requires_grad (or with history) creates one
// Node for its output: the node remembers where each input's gradient goes (an Edge: the node
// that made the input, or the leaf whose .grad takes it) and a closure that maps the gradient of
// the output to the gradients of the inputs. Tensor::backward() orders the nodes reachable from
// the loss topologically and runs the closures from the loss back to the leaves.
//
// The = versus += rule:
//   * A node's closure *returns fresh* input gradients; kernels called inside write them with =.
//   * The engine *accumulates* (+=): when a tensor feeds several ops (a parameter used twice,
//     as the siamese network's shared tower), the gradients arriving from each use are summed
//     into one pending gradient before that tensor's own node runs, and into `.grad` for leaves.
//   * `.grad` of a leaf keeps accumulating across backward calls until zero_grad() drops it,
//     as in PyTorch.
//
// Saved tensors: a node does not hold its inputs, only their edges, so an activation that no
// backward formula reads is freed as soon as the forward is done with it (a ResNet block's last
// batch-norm output, read by nothing after the residual sum). A closure saves what its formula
// reads, as detached handles (`x.detach()`: same data, no history), and one that needs the op's
// own output captures `output.detach()`, never the output itself, so no node keeps its own
// output alive through a reference cycle. After backward the graph's closures are released;
// calling backward twice on the same graph is an error.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace weft {

// Where the gradient of one input of a node goes, without the input's data.
struct Edge {
  std::shared_ptr<Node> producer;    // the node of the op that made the input; null for a leaf
  std::shared_ptr<TensorImpl> leaf;  // a leaf that required a gradient when the op ran, or null
  Shape shape;                       // the input's shape, which its gradient must have
  bool defined = false;              // false for an input slot the op left undefined
};

struct Node {
  std::string name;                 // the op, for error messages ("conv2d")
  std::vector<Edge> inputs;         // one per input of the op, in order
  std::weak_ptr<TensorImpl> output;  // for retain_grad
  // Gradient of the output -> gradients of `inputs` (same order; undefined = no gradient).
  std::function<std::vector<Tensor>(const Tensor& grad_output)> backward;

  // Frees the chain of producer nodes that only this node keeps alive with a loop, not by
  // recursion: a graph that is dropped without backward() (100 000 chained ops) would
  // otherwise destroy node -> input tensor -> its node -> ... one stack frame each and
  // overflow the stack.
  ~Node();
};

// Whether ops record the tape. Off inside a NoGradGuard (evaluation, optimizer updates).
bool grad_mode_enabled();

class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

// True when an op with these inputs must record a node.
bool any_requires_grad(const std::vector<Tensor>& inputs);

// Record a node for `output` if grad mode is on and some input needs a gradient.
void record(Tensor& output, const char* name, std::vector<Tensor> inputs,
            std::function<std::vector<Tensor>(const Tensor& grad_output)> backward);

// Run backward from `root` with its gradient `seed` (see Tensor::backward).
void run_backward(const Tensor& root, const Tensor& seed);

// Whether `grad` is known to hold 1 without reading the device: it is the gradient of one that
// backward() made itself for a one-element root (no seed passed), and the node running is the
// root's own (its first, before any other node or hook could see that tensor). A loss whose
// forward already wrote d loss / d input (cross_entropy) then hands that back as it is.
bool is_backward_seed_of_one(const Tensor& grad);

// Gradient-ready notifications, for exchanging gradients while backward still runs (the
// data-parallel gradient reducer, engine/distributed/gradient_reducer.h). During backward, a
// hook is called once for every leaf that requires a gradient, as soon as the last node that
// feeds it has run: from then on this backward adds nothing more to its `.grad` (which may be
// undefined, when no gradient reached it). Leaves are announced in the order their gradients
// become final, so the loss's last layers come first. Hooks run on the thread of backward().
using GradientReadyHook = std::function<void(TensorImpl* leaf)>;
// Returns an id for remove_gradient_ready_hook.
int add_gradient_ready_hook(GradientReadyHook hook);
void remove_gradient_ready_hook(int id);

}  // namespace weft
