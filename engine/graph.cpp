// Graph capture and replay on a CUDA device or the emulated one (see graph.h).
#include "engine/graph.h"

#include <atomic>
#include <cstdlib>
#include <mutex>
#include <optional>

#include "engine/allocator.h"
#include "kernels/emu_memory.h"
#include "kernels/emu_graph.h"
#include "kernels/error.h"
#include "kernels/runtime_counters.h"
#ifdef WEFT_HAVE_CUDA
#include "kernels/cuda_runtime/runtime.h"
#endif

namespace weft::graph {
namespace {

std::mutex mode_mutex;
std::optional<Mode> chosen_mode;

thread_local Graph* current = nullptr;

void open_pool(Device device, int id) {
  if (device.is_emu()) {
    emu_memory::open_private_pool(id);
    return;
  }
#ifdef WEFT_HAVE_CUDA
  cuda::open_private_pool(device.index, id);
#endif
}

void close_pool(Device device) {
  if (device.is_emu()) {
    emu_memory::close_private_pool();
    return;
  }
#ifdef WEFT_HAVE_CUDA
  cuda::close_private_pool(device.index);
#endif
}

void dissolve_pool(Device device, int id) {
  if (device.is_emu()) {
    emu_memory::dissolve_private_pool(id);
    return;
  }
#ifdef WEFT_HAVE_CUDA
  cuda::dissolve_private_pool(device.index, id);
#endif
}

}  // namespace

bool parse_mode(const std::string& text, Mode* out) {
  if (text == "on") *out = Mode::on;
  else if (text == "off") *out = Mode::off;
  else if (text == "auto") *out = Mode::automatic;
  else return false;
  return true;
}

const char* mode_name(Mode mode) {
  switch (mode) {
    case Mode::on: return "on";
    case Mode::off: return "off";
    case Mode::automatic: return "auto";
  }
  return "auto";
}

Mode mode() {
  std::lock_guard<std::mutex> lock(mode_mutex);
  if (!chosen_mode) {
    Mode m = Mode::automatic;
    const char* text = std::getenv("WEFT_CUDA_GRAPHS");
    if (text != nullptr && *text != '\0' && !parse_mode(text, &m)) {
      throw Error(std::string("WEFT_CUDA_GRAPHS must be on, off or auto, got '") + text + "'");
    }
    chosen_mode = m;
  }
  return *chosen_mode;
}

void set_mode(Mode m) {
  std::lock_guard<std::mutex> lock(mode_mutex);
  chosen_mode = m;
}

bool enabled_for(Device device) {
  switch (mode()) {
    case Mode::on: return device.is_cuda() || device.is_emu();
    case Mode::automatic: return device.is_cuda();
    case Mode::off: return false;
  }
  return false;
}

bool capturing(Device device) { return current != nullptr && current->device() == device; }
bool capturing() { return current != nullptr; }

void on_replay(std::function<void()> advance, std::function<void()> undo,
               std::function<void()> stage) {
  if (current == nullptr) return;
  if (advance) current->advances_.push_back(std::move(advance));
  if (undo) current->undos_.push_back(std::move(undo));
  if (stage) current->stages_.push_back(std::move(stage));
}

Tensor staging_tensor(const Shape& shape, DType dtype, Device device) {
  if (current == nullptr || current->device() != device) return Tensor::empty(shape, dtype, device);
  close_pool(device);
  Tensor t;
  try {
    t = Tensor::empty(shape, dtype, device);
  } catch (...) {
    open_pool(device, current->pool_id_);
    throw;
  }
  open_pool(device, current->pool_id_);
  return t;
}

const uint64_t* random_shift(Generator& generator) {
  if (current == nullptr) return nullptr;
  for (Graph::RandomStream& stream : current->random_) {
    if (stream.generator == &generator) {
      return static_cast<const uint64_t*>(stream.shift.raw_data());
    }
  }
  Graph::RandomStream stream;
  stream.generator = &generator;
  stream.begin = generator.offset();
  stream.shift = staging_tensor({1}, DType::i64, current->device());
  current->random_.push_back(stream);
  return static_cast<const uint64_t*>(stream.shift.raw_data());
}

Graph::Graph(Device device) : device_(device) {
  WEFT_CHECK(device.is_cuda() || device.is_emu(), "graphs are captured on a CUDA device or on ",
             "emu, not on ", device.str());
#ifndef WEFT_HAVE_CUDA
  WEFT_CHECK(!device.is_cuda(), "device ", device.str(), ": this weft was built without CUDA");
#endif
  static std::atomic<int> next_pool{1};
  pool_id_ = next_pool.fetch_add(1);
}

Graph::~Graph() {
#ifdef WEFT_HAVE_CUDA
  if (cuda_exec_ != nullptr) {
    try {
      // The last replay may still run: wait for it before the executable graph goes.
      cuda::synchronize(device_.index);
    } catch (const Error&) {
      // A failed device is reported by whatever touches it next.
    }
    cuda::destroy_graph(cuda::CapturedGraph{cuda_exec_, cuda_nodes_});
  }
#endif
  random_.clear();
  dissolve_pool(device_, pool_id_);
}

void Graph::capture(const std::function<void()>& body) {
  WEFT_CHECK(!captured_, "a graph is captured once");
  WEFT_CHECK(current == nullptr, "a graph capture is already running on this thread");
  current = this;
  open_pool(device_, pool_id_);
  count::set_capturing(true);
  if (device_.is_emu()) {
    recording_ = std::make_unique<emu_graph::Recording>();
    emu_graph::set_active(recording_.get());
  }
#ifdef WEFT_HAVE_CUDA
  if (device_.is_cuda()) cuda::begin_capture(device_.index);
#endif
  const auto finish = [this] {
    emu_graph::set_active(nullptr);
    count::set_capturing(false);
    close_pool(device_);
    current = nullptr;
  };
  try {
    body();
  } catch (...) {
#ifdef WEFT_HAVE_CUDA
    if (device_.is_cuda()) cuda::abandon_capture(device_.index);
#endif
    finish();
    // Take back what the step changed on the host, newest first, and the generators' draws.
    for (auto undo = undos_.rbegin(); undo != undos_.rend(); ++undo) (*undo)();
    for (const RandomStream& stream : random_) {
      stream.generator->set_state(stream.generator->seed(), stream.begin);
    }
    recording_.reset();
    advances_.clear();
    undos_.clear();
    stages_.clear();
    random_.clear();
    throw;
  }
#ifdef WEFT_HAVE_CUDA
  if (device_.is_cuda()) {
    try {
      const cuda::CapturedGraph g = cuda::end_capture(device_.index);
      cuda_exec_ = g.exec;
      cuda_nodes_ = g.nodes;
    } catch (...) {
      finish();
      throw;
    }
  }
#endif
  finish();
  // Each random stream: the captured step drew `drawn` numbers; a replay draws as many more, and
  // its kernels add to their captured offsets how far the generator has moved since.
  for (const RandomStream& stream : random_) {
    Generator* generator = stream.generator;
    const uint64_t begin = stream.begin, drawn = generator->offset() - stream.begin;
    void* shift = stream.shift.raw_data();
    const Device device = device_;
    advances_.push_back([generator, drawn] {
      generator->set_state(generator->seed(), generator->offset() + drawn);
    });
    stages_.push_back([generator, begin, drawn, shift, device] {
      const uint64_t value = generator->offset() - drawn - begin;
      copy_bytes(device, shift, Device::cpu(), &value, sizeof value);
    });
  }
  captured_ = true;
}

void Graph::replay() {
  WEFT_CHECK(captured_, "replay of a graph that was not captured");
  if (replays_ > 0) {
    for (const auto& advance : advances_) advance();
  }
  for (const auto& stage : stages_) stage();
  if (device_.is_emu()) {
    recording_->replay();
  } else {
#ifdef WEFT_HAVE_CUDA
    cuda::launch_graph(device_.index, cuda::CapturedGraph{cuda_exec_, cuda_nodes_});
#endif
  }
  ++replays_;
}

size_t Graph::nodes() const {
  return recording_ != nullptr ? recording_->work.size() : cuda_nodes_;
}

std::vector<std::string> Graph::node_names() const {
  std::vector<std::string> names;
  if (recording_ != nullptr) {
    for (const emu_graph::Work& item : recording_->work) names.emplace_back(item.name);
  }
  return names;
}

}  // namespace weft::graph
