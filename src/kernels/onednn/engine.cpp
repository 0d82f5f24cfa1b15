#include "kernels/onednn/engine.hpp"

namespace bp::kernels::onednn {

dnnl::engine& cpu_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

dnnl::stream& cpu_stream() {
  // One per thread: a stream is not meant to be used by two threads at once.
  thread_local dnnl::stream stream(cpu_engine());
  return stream;
}

}  // namespace bp::kernels::onednn
