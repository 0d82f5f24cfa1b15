// Gradient averaging in buckets, started from the autograd engine's GradReadyHook while backward
// is still running.
#include <cmath>
#include <optional>
#include <unordered_map>

#include "backprop/autograd.hpp"
#include "backprop/distributed.hpp"
#include "backprop/error.hpp"
#include "core/clock.hpp"
#include "core/tensor_impl.hpp"

#if BP_HAVE_MPI
#include <mpi.h>
#endif

namespace bp::distributed {

namespace {

struct Bucket {
  std::vector<size_t> params;  // indices into State::params
  std::vector<float> data;
  int64_t unready = 0;  // gradients still to pack in this pass
  bool started = false;
#if BP_HAVE_MPI
  MPI_Request request = MPI_REQUEST_NULL;
#endif
};

}  // namespace

struct GradientReducer::State {
  Communicator& comm;
  std::vector<Tensor> params;
  std::vector<size_t> bucket_of, offset_of;  // per parameter
  std::vector<bool> ready;                   // per parameter, this pass
  std::unordered_map<TensorImpl*, size_t> index_of;
  std::vector<Bucket> buckets;
  size_t next_to_start = 0;  // buckets start in index order on every rank (MPI's rule)
  size_t started_early = 0;
  float weight = 1.0f;
  std::optional<autograd::GradReadyHook> hook;

  State(Communicator& c, std::vector<Tensor> p) : comm(c), params(std::move(p)) {}

  // Copies weight × the parameter's gradient (zeros where it has none) into its bucket.
  void pack(size_t i) {
    ready[i] = true;
    Bucket& b = buckets[bucket_of[i]];
    float* dst = b.data.data() + offset_of[i];
    const TensorImpl& impl = *params[i].impl();
    if (impl.grad) {
      const float* src = impl.grad->data();
      for (int64_t k = 0; k < impl.count; ++k) dst[k] = weight * src[k];
    } else {
      std::fill(dst, dst + impl.count, 0.0f);
    }
    --b.unready;
  }

  void start_ready_buckets() {
    while (next_to_start < buckets.size() && buckets[next_to_start].unready == 0) {
      Bucket& b = buckets[next_to_start++];
      b.started = true;
#if BP_HAVE_MPI
      if (comm.size() > 1)
        MPI_Iallreduce(MPI_IN_PLACE, b.data.data(), static_cast<int>(b.data.size()), MPI_FLOAT,
                       MPI_SUM, MPI_COMM_WORLD, &b.request);
#endif
    }
  }

  // Lets MPI move started reductions along (it progresses them only inside its own calls).
  void progress() {
#if BP_HAVE_MPI
    if (comm.size() == 1) return;
    for (size_t k = 0; k < next_to_start; ++k) {
      if (buckets[k].request == MPI_REQUEST_NULL) continue;
      int done = 0;
      MPI_Test(&buckets[k].request, &done, MPI_STATUS_IGNORE);
    }
#endif
  }

  void on_ready(const Tensor& leaf) {
    auto it = index_of.find(leaf.impl().get());
    if (it == index_of.end() || ready[it->second]) return;
    pack(it->second);
    start_ready_buckets();
    progress();
  }
};

GradientReducer::GradientReducer(Communicator& comm, std::vector<Tensor> params,
                                 int64_t bucket_bytes)
    : state_(std::make_unique<State>(comm, std::move(params))) {
  BP_CHECK(bucket_bytes > 0, "GradientReducer: bucket size must be positive (got {})",
           bucket_bytes);
  State& s = *state_;
  const size_t n = s.params.size();
  s.bucket_of.resize(n);
  s.offset_of.resize(n);
  s.ready.assign(n, false);
  const int64_t cap = std::max<int64_t>(1, bucket_bytes / static_cast<int64_t>(sizeof(float)));
  // Backward finishes the last layers first: fill buckets from the last parameter back.
  for (size_t k = n; k-- > 0;) {
    const Tensor& p = s.params[k];
    BP_CHECK(p.defined() && p.requires_grad(),
             "GradientReducer: parameter {} does not require a gradient", k);
    BP_CHECK(s.index_of.emplace(p.impl().get(), k).second,
             "GradientReducer: parameter {} is listed twice", k);
    const int64_t count = p.numel();
    BP_CHECK(count < (int64_t{1} << 31), "GradientReducer: parameter {} has too many elements", k);
    if (s.buckets.empty() || static_cast<int64_t>(s.buckets.back().data.size()) + count > cap)
      s.buckets.emplace_back();
    Bucket& b = s.buckets.back();
    s.bucket_of[k] = s.buckets.size() - 1;
    s.offset_of[k] = b.data.size();
    b.params.push_back(k);
    b.data.resize(b.data.size() + static_cast<size_t>(count));
  }
}

GradientReducer::~GradientReducer() = default;

int64_t GradientReducer::bucket_count() const {
  return static_cast<int64_t>(state_->buckets.size());
}

int64_t GradientReducer::buckets_started_early() const {
  return static_cast<int64_t>(state_->started_early);
}

void GradientReducer::begin(double weight) {
  State& s = *state_;
  BP_CHECK(!s.hook, "GradientReducer::begin: the previous pass was not finished");
  BP_CHECK(std::isfinite(weight) && weight >= 0,
           "GradientReducer::begin: weight must be a finite number >= 0 (got {})", weight);
  s.weight = static_cast<float>(weight);
  std::fill(s.ready.begin(), s.ready.end(), false);
  for (Bucket& b : s.buckets) {
    b.unready = static_cast<int64_t>(b.params.size());
    b.started = false;
  }
  s.next_to_start = 0;
  s.hook.emplace([&s](const Tensor& leaf) { s.on_ready(leaf); });
}

void GradientReducer::finish() {
  State& s = *state_;
  BP_CHECK(s.hook, "GradientReducer::finish: no pass was begun");
  s.hook.reset();
  s.started_early = s.next_to_start;
  // Parameters the graph did not reach (unused layers, or a rank without samples) count as zero.
  for (size_t i = 0; i < s.params.size(); ++i)
    if (!s.ready[i]) s.pack(i);
  s.start_ready_buckets();
#if BP_HAVE_MPI
  if (s.comm.size() > 1) {
    const double start = now_seconds();
    for (Bucket& b : s.buckets) MPI_Wait(&b.request, MPI_STATUS_IGNORE);
    s.comm.add_wait_seconds(now_seconds() - start);
  }
#endif
  for (size_t i = 0; i < s.params.size(); ++i) {
    TensorImpl& impl = *s.params[i].impl();
    if (!impl.grad) impl.grad = Tensor::zeros(impl.shape).impl();
    const float* src = s.buckets[s.bucket_of[i]].data.data() + s.offset_of[i];
    std::copy(src, src + impl.count, impl.grad->data());
  }
}

}  // namespace bp::distributed
