// Hand-written CUDA kernel for inverted dropout, alone or after an activation (declared in
// dropout.h).
//
// One Philox-4x32-10 call yields the uniforms of four consecutive stream positions (word w of
// counter k belongs to position 4k + w), so the kernel gives each thread one counter, not one
// element, and uses all four words of each call. Element i is stream position offset + i. The
// ten round keys of the seed are computed once on the host (philox_keys) and passed with the
// launch, so a call's rounds are two multiplies and two XORs each, without the key additions.
//
// Vector path (when the elements of whole counters start 16-byte aligned in both arrays): the
// first `head` = (-offset) mod 4 elements come before the first whole counter. Thread t of a
// grid of T threads takes the quads q = t, t + T, t + 2T, ... < (count - head) / 4, two per turn
// of its loop (both loads issued before either's arithmetic, for bytes in flight); for each it
// computes philox4x32_10((offset + head) / 4 + q, seed), loads elements head + 4q .. head + 4q + 3
// as one float4, and stores the four masked values as one float4: word w goes to element
// head + 4q + w, whose position offset + head + 4q + w is exactly word w of that counter. The up
// to 3 head elements and up to 3 tail elements after the last whole counter are done by threads
// 0 .. 5, one element each, with philox_uniform_at (the same word of the same counter).
// Scalar path (otherwise): thread k (grid-stride over the counters that positions offset ..
// offset + count - 1 touch) computes philox4x32_10(offset / 4 + k, seed) and handles the up to
// four elements of that counter, one float at a time; positions outside the tensor's stretch
// are skipped. Both paths give every element the same word as the CPU reference
// (philox_uniform_at), so the random stream is unchanged; which path runs is decided on the
// device, since in a captured graph the offset is the captured one plus a word read from device
// memory (offset_shift). Grid: a few waves of the card (card_grid_blocks, common.h). No shared
// memory, no state: the mask is a pure function of (seed, offset + i).
//
// Bit-exact agreement with the CPU reference: the same Philox words, the same float comparison
// `uniform >= p`, and the same product x * scale with scale = 1 / (1 - p) computed once on the
// host in float. p <= 0 keeps everything with scale 1 and p >= 1 drops everything, which is what
// the reference's copy and zero-fill special cases produce.
//
// One kernel, templated on what a kept element becomes (a dropped one is 0), does all four ops:
//   Scaled            in * scale                          dropout forward and backward
//   ActivatedScaled   act(in) * scale                     activation_dropout forward
//   GatedScaled       act'(gate) times in * scale         activation_dropout backward, gate = x
// The fused ones read the same elements per thread as dropout (the backward also loads x's
// element, or float4 of them, beside dy's: the vector path needs x aligned too) and compute
// the same floats in the same order as the activation kernel followed by dropout, or dropout's
// backward followed by the activation's: one launch instead of two each way.
#include "kernels/cuda/dropout.h"

#include <cstdint>

#include "kernels/cuda/common.h"
#include "kernels/cuda/launch.h"
#include "kernels/philox.h"

namespace weft::cuda {
inline namespace WEFT_KERNEL_ABI {
namespace {

// The value of a kept element given the input's element v and the gate's g (v where there is
// no gate).
struct Scaled {
  float scale;
  __device__ float operator()(float v, float) const { return v * scale; }
};
struct ActivatedScaled {
  FusedActivation act;
  float scale;
  __device__ float operator()(float v, float) const { return act.apply(v) * scale; }
};
struct GatedScaled {
  FusedActivation act;
  float scale;
  __device__ float operator()(float v, float g) const {
    return act.gradient_at_input(g, v * scale);
  }
};

__device__ __forceinline__ float masked(float kept, float uniform, float p) {
  return uniform >= p ? kept : 0.0f;
}

// The four elements of one whole counter: word w of philox4x32_10(counter, seed) decides
// element w of the quad.
template <class Map>
__device__ __forceinline__ float4 masked_quad(const Map& map, float4 v, float4 g, uint64_t counter,
                                              const PhiloxKeys& keys, float p) {
  const Philox4x32 bits = philox4x32_10(counter, keys);
  return make_float4(masked(map(v.x, g.x), philox_uniform(bits.v[0]), p),
                     masked(map(v.y, g.y), philox_uniform(bits.v[1]), p),
                     masked(map(v.z, g.z), philox_uniform(bits.v[2]), p),
                     masked(map(v.w, g.w), philox_uniform(bits.v[3]), p));
}

// gate: null, or an array read beside `in` (GatedScaled's x). At least 4 blocks per SM: at
// most 64 registers (ptxas chose 70 for two quads, 3 blocks; at 5 blocks, 48 registers, it
// spilled).
template <class Map>
__global__ void __launch_bounds__(kBlockThreads, 4)
    dropout_kernel(int64_t count, PhiloxKeys keys, uint64_t base_offset,
                   const uint64_t* offset_shift, float p, Map map, const float* in,
                   const float* gate, float* out) {
  const uint64_t offset = base_offset + (offset_shift != nullptr ? *offset_shift : 0);
  const int64_t to_boundary = static_cast<int64_t>((4 - offset % 4) % 4);
  const int64_t head = to_boundary < count ? to_boundary : count;
  if (aligned16(in + head) && aligned16(out + head) &&
      (gate == nullptr || aligned16(gate + head))) {
    const int64_t quads = (count - head) / 4;
    const uint64_t first = (offset + static_cast<uint64_t>(head)) / 4;
    const float* in_body = in + head;
    float* out_body = out + head;
    const float* gate_body = gate != nullptr ? gate + head : nullptr;
    // Two quads per turn (q and q + stride), both loaded before either's Philox: twice the bytes
    // in flight per thread. With one quad per thread at 62-75% occupancy this kernel reached 57%
    // of the copy bandwidth on the second lease (ReLU, one quad at 100%, 89-94%); two quads at
    // 50% (the launch bounds below keep it there) are 1.6x the bytes in flight per SM.
    const int64_t stride = grid_thread_count();
    for (int64_t q = grid_thread_index(); q < quads; q += 2 * stride) {
      const int64_t q2 = q + stride;
      const bool second = q2 < quads;
      // Without a second quad the thread reads its first again (a cached read, no branch), so
      // that nothing holds the second load back behind the first quad's arithmetic.
      const int64_t q2_read = second ? q2 : q;
      const float4 v = load4(in_body, q);
      const float4 v2 = load4(in_body, q2_read);
      const float4 g = gate_body != nullptr ? load4(gate_body, q) : v;
      const float4 g2 = gate_body != nullptr ? load4(gate_body, q2_read) : v2;
      store4(out_body, q, masked_quad(map, v, g, first + static_cast<uint64_t>(q), keys, p));
      if (second) {
        store4(out_body, q2, masked_quad(map, v2, g2, first + static_cast<uint64_t>(q2), keys, p));
      }
    }
    // Threads 0 .. head - 1: the head; the next ones: the tail after the last whole counter.
    const int64_t t = grid_thread_index();
    const int64_t tail_start = head + quads * 4;
    const int64_t i = t < head ? t : tail_start + (t - head);
    if (t < head || i < count) {
      out[i] = masked(map(in[i], gate != nullptr ? gate[i] : in[i]),
                      philox_uniform_at(keys, offset, static_cast<uint64_t>(i)), p);
    }
    return;
  }
  const uint64_t first = offset / 4;
  const uint64_t last = (offset + static_cast<uint64_t>(count) - 1) / 4;
  const int64_t counters = static_cast<int64_t>(last - first) + 1;
  for (int64_t k = grid_thread_index(); k < counters; k += grid_thread_count()) {
    const uint64_t counter = first + static_cast<uint64_t>(k);
    const Philox4x32 bits = philox4x32_10(counter, keys);
    for (int word = 0; word < 4; ++word) {
      const uint64_t position = counter * 4 + static_cast<uint64_t>(word);
      if (position < offset || position - offset >= static_cast<uint64_t>(count)) continue;
      const int64_t i = static_cast<int64_t>(position - offset);
      out[i] =
          masked(map(in[i], gate != nullptr ? gate[i] : in[i]), philox_uniform(bits.v[word]), p);
    }
  }
}

// 1 / (1 - p) as the reference forms it; 1 for p <= 0 (all kept), 0 for p >= 1 (none is).
float keep_scale(const DropoutParams& p) {
  return p.p <= 0.0f ? 1.0f : (p.p >= 1.0f ? 0.0f : 1.0f / (1.0f - p.p));
}

template <class Map>
void apply_mask(const DropoutParams& p, Map map, const float* in, const float* gate, float* out,
                cudaStream_t stream) {
  if (p.count <= 0) return;
  // With a graph's shift the offset is known only on the device: size the grid for the most
  // counters `count` positions can touch (any alignment); the threads past the end do nothing.
  const uint64_t first = p.offset / 4;
  const uint64_t last = (p.offset + static_cast<uint64_t>(p.count) - 1) / 4;
  const int64_t counters = p.offset_shift != nullptr ? (p.count + 3) / 4 + 1
                                                     : static_cast<int64_t>(last - first) + 1;
  WEFT_LAUNCH(dropout_kernel<Map>, card_grid_blocks(counters), kBlockThreads, 0, stream, p.count,
              philox_keys(p.seed), p.offset, p.offset_shift, p.p, map, in, gate, out);
}

}  // namespace

void dropout_forward(const DropoutParams& p, const float* x, float* y, cudaStream_t stream) {
  apply_mask(p, Scaled{keep_scale(p)}, x, nullptr, y, stream);
}

void dropout_backward(const DropoutParams& p, const float* dy, float* dx, cudaStream_t stream) {
  apply_mask(p, Scaled{keep_scale(p)}, dy, nullptr, dx, stream);
}

void activation_dropout_forward(const DropoutParams& p, const FusedActivation& act, const float* x,
                                float* y, cudaStream_t stream) {
  apply_mask(p, ActivatedScaled{act, keep_scale(p)}, x, nullptr, y, stream);
}

void activation_dropout_backward(const DropoutParams& p, const FusedActivation& act, const float* x,
                                 const float* dy, float* dx, cudaStream_t stream) {
  apply_mask(p, GatedScaled{act, keep_scale(p)}, dy, x, dx, stream);
}

}  // namespace WEFT_KERNEL_ABI
}  // namespace weft::cuda
