#include "kernels/onednn/engine.hpp"

#include "kernels/kernels.hpp"

namespace bp::kernels::onednn {

dnnl::engine& cpu_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

bool bf16_native() {
  // The effective ISA is the CPU's, capped by ONEDNN_MAX_CPU_ISA; its bits include those of every
  // ISA below it.
  const auto isa = static_cast<unsigned>(dnnl::get_effective_cpu_isa());
  const auto bf16 = static_cast<unsigned>(dnnl::cpu_isa::avx512_core_bf16);
  return (isa & bf16) == bf16;
}

dnnl::stream& cpu_stream() {
  // One per thread: a stream is not meant to be used by two threads at once.
  thread_local dnnl::stream stream(cpu_engine());
  return stream;
}

}  // namespace bp::kernels::onednn
