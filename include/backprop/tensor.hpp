// Tensor: an N-dimensional float32 array, row-major and contiguous, that can record the operations
// applied to it so that gradients flow back to it (reverse-mode automatic differentiation).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <iosfwd>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "backprop/export.hpp"
#include "backprop/random.hpp"
#include "backprop/shape.hpp"

namespace bp {

struct TensorImpl;
namespace autograd {
struct Node;
}

// A Tensor is a cheap handle: copies share the same data and autograd state (like
// torch::Tensor). Data is always contiguous and row-major, in 64-byte-aligned storage; reshape()
// shares the storage, while transpose()/permute() copy. A default-constructed Tensor is
// "undefined" and most calls on it throw bp::Error.
class BP_API Tensor {
 public:
  Tensor() = default;

  // ---- factories (all throw bp::Error on a negative extent) ----
  static Tensor empty(const Shape& shape, bool requires_grad = false);
  static Tensor zeros(const Shape& shape, bool requires_grad = false);
  static Tensor ones(const Shape& shape, bool requires_grad = false);
  static Tensor full(const Shape& shape, float value, bool requires_grad = false);
  static Tensor scalar(float value, bool requires_grad = false);
  // Copies `values`; throws bp::Error unless values.size() == numel(shape).
  static Tensor from_data(std::span<const float> values, const Shape& shape,
                          bool requires_grad = false);
  static Tensor from_data(std::initializer_list<float> values, const Shape& shape,
                          bool requires_grad = false);
  // start, start+step, ... < end (1-D). Throws bp::Error if step is 0 or the count is negative.
  static Tensor arange(float start, float end, float step = 1.0f);
  static Tensor uniform(const Shape& shape, float low, float high, Generator& gen,
                        bool requires_grad = false);
  static Tensor normal(const Shape& shape, float mean, float stddev, Generator& gen,
                       bool requires_grad = false);

  // ---- inspection ----
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const;
  int64_t dim() const { return static_cast<int64_t>(shape().size()); }
  int64_t numel() const;
  // Extent of axis d (negative counts from the end).
  int64_t size(int64_t d) const;
  float* data();
  const float* data() const;
  std::span<float> values();
  std::span<const float> values() const;
  std::vector<float> to_vector() const;
  // The single value of a one-element tensor; throws otherwise.
  float item() const;
  // Element access by full index; throws bp::Error on a wrong rank or an index out of range.
  float& at(std::initializer_list<int64_t> index);
  float at(std::initializer_list<int64_t> index) const;

  // ---- autograd ----
  bool requires_grad() const;
  // Only leaves (tensors not produced by a recorded op) may change this flag.
  Tensor& set_requires_grad(bool requires_grad = true);
  bool is_leaf() const;
  // The accumulated gradient (undefined until a backward pass reaches this tensor).
  Tensor grad() const;
  // Sets the gradient to zero (keeping its buffer), or does nothing if there is none.
  void zero_grad();
  // Drops the gradient buffer.
  void clear_grad();
  // Non-leaf tensors keep their gradient too after this is called.
  Tensor& retain_grad();
  // Backpropagates from this one-element tensor (upstream gradient 1).
  void backward(bool retain_graph = false) const;
  // Backpropagates with an explicit upstream gradient of the same shape.
  void backward(const Tensor& gradient, bool retain_graph = false) const;
  // A tensor sharing this data but cut from the graph (requires_grad false).
  Tensor detach() const;
  // A deep copy of the data, cut from the graph.
  Tensor clone() const;
  // The node that produced this tensor (null for leaves).
  const std::shared_ptr<autograd::Node>& grad_fn() const;

  // ---- in-place, never recorded (for initialisers and optimizers) ----
  // How many times the data was changed in place: fill_, copy_, bump_version() and an optimizer's
  // step each add one. Shared by every tensor viewing the same data (detach, reshape). backward()
  // compares it with the version a tensor had when an op saved it, and code that caches something
  // derived from the data (a converted copy of a weight) can compare it too.
  uint64_t version() const;
  // Adds one to version(); call it after writing through data() in place.
  void bump_version();
  Tensor& fill_(float value);
  // Copies values from `other`, which must have the same shape (reshape it first to copy across
  // shapes). Throws bp::Error naming both shapes otherwise.
  Tensor& copy_(const Tensor& other);

  // ---- shape (recorded, differentiable) ----
  Tensor reshape(const Shape& shape) const;  // one extent may be -1
  Tensor view(const Shape& shape) const { return reshape(shape); }
  Tensor flatten(int64_t start_dim = 1) const;

  std::string to_string() const;
  // True when both handles refer to the same tensor.
  bool is_same(const Tensor& other) const { return impl_ == other.impl_; }

  // Internal: the implementation object.
  const std::shared_ptr<TensorImpl>& impl() const { return impl_; }
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

 private:
  std::shared_ptr<TensorImpl> impl_;
};

BP_API std::ostream& operator<<(std::ostream& os, const Tensor& t);

// True when shapes are equal and every element differs by at most atol + rtol * |b|.
BP_API bool allclose(const Tensor& a, const Tensor& b, float rtol = 1e-5f, float atol = 1e-8f);

// ---- grad mode ----
BP_API bool grad_enabled();
// Within its scope no operation is recorded (like torch::NoGradGuard).
class BP_API NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

// Number of threads used by kernels (one pool for everything). 0 means all cores.
BP_API void set_num_threads(int threads);
BP_API int num_threads();

// Tensor memory. Freed tensor buffers are kept (up to 2 GiB) and handed out again by exact size,
// so a training step that repeats the previous one's shapes takes no memory from the system.
struct BP_API MemoryStats {
  int64_t system_allocations = 0;  // buffers taken from the system since the program started
  int64_t cached_bytes = 0;        // freed buffers kept for reuse
};
BP_API MemoryStats memory_stats();

// Which kernels run: the fast CPU path (oneDNN where it has the kernel; the default) or the plain
// C++ reference kernels that define what every kernel computes.
enum class Backend { fast, reference };
BP_API void set_backend(Backend backend);
BP_API Backend backend();

// The arithmetic of matrix products and convolutions (forward and both backward products) on the
// fast backend: fp32, or mixed precision bf16 — operands rounded to bfloat16 (8-bit mantissa,
// fp32's range), products accumulated and returned in fp32. Everything else stays fp32: weights,
// gradients, optimizer state, losses, softmax, normalisation and elementwise layers. The reference
// backend and one-row products (batch-1 inference) are always fp32, and so is every product where
// oneDNN has no bf16 kernel for this CPU (no AVX-512).
enum class Precision { fp32, bf16 };
BP_API void set_precision(Precision precision);
BP_API Precision precision();
// "fp32" or "bf16", and back; parse_precision throws bp::Error naming `what` on any other text.
BP_API const char* to_string(Precision precision);
BP_API Precision parse_precision(const std::string& text, const std::string& what);
// True when this CPU computes bf16 products natively (AVX-512 BF16 or AMX, as far as oneDNN's
// ONEDNN_MAX_CPU_ISA allows); otherwise bf16 is emulated or falls back to fp32, slower than fp32.
BP_API bool bf16_native();
// Sets the precision for its scope and restores the previous one.
class BP_API PrecisionGuard {
 public:
  explicit PrecisionGuard(Precision precision);
  ~PrecisionGuard();
  PrecisionGuard(const PrecisionGuard&) = delete;
  PrecisionGuard& operator=(const PrecisionGuard&) = delete;

 private:
  Precision previous_;
};

}  // namespace bp
