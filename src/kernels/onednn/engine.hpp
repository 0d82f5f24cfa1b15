// The one oneDNN CPU engine that every fast kernel runs on, and each thread's stream. Internal.
#pragma once

#include <omp.h>
#include <oneapi/dnnl/dnnl.hpp>

#include "backprop/error.hpp"

namespace bp::kernels::onednn {

// Runs f(), turning a dnnl::error (oneDNN's failures: out of memory, say) into a bp::Error that
// names `operation`, so that the library's own text never reaches a user.
template <class F>
decltype(auto) checked(const char* operation, F&& f) {
  try {
    return f();
  } catch (const dnnl::error& e) {
    fail("{}: the oneDNN kernel failed (status {})", operation, static_cast<int>(e.status));
  }
}

dnnl::engine& cpu_engine();
// The calling thread's stream: kernels execute in order on it and wait for it before returning.
dnnl::stream& cpu_stream();

// Primitive caches are per thread (an entry's memory objects are rebound on every call, so two
// threads running kernels at once — a batch split across threads — each need their own), and a
// primitive plans its work for the thread count it is created under. Inside a parallel region
// oneDNN runs single-threaded, so there the plan is for one thread: planned_threads() is the count
// that belongs in a cache key, and a PlanFor object holds it while a primitive is created.
inline int planned_threads() {
  return omp_in_parallel() ? 1 : omp_get_max_threads();
}
class PlanFor {
 public:
  explicit PlanFor(int threads) : saved_(omp_get_max_threads()) { omp_set_num_threads(threads); }
  ~PlanFor() { omp_set_num_threads(saved_); }
  PlanFor(const PlanFor&) = delete;
  PlanFor& operator=(const PlanFor&) = delete;

 private:
  int saved_;
};

}  // namespace bp::kernels::onednn
