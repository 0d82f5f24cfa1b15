// The one oneDNN CPU engine that every fast kernel runs on, and each thread's stream. Internal.
#pragma once

#include <oneapi/dnnl/dnnl.hpp>

namespace bp::kernels::onednn {

dnnl::engine& cpu_engine();
// The calling thread's stream: kernels execute in order on it and wait for it before returning.
dnnl::stream& cpu_stream();

}  // namespace bp::kernels::onednn
