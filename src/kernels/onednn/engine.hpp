// The one oneDNN CPU engine and stream that every fast kernel runs on. Internal.
#pragma once

#include <oneapi/dnnl/dnnl.hpp>

namespace bp::kernels::onednn {

dnnl::engine& cpu_engine();
// Kernels execute in order on this stream and wait for it before returning.
dnnl::stream& cpu_stream();

}  // namespace bp::kernels::onednn
