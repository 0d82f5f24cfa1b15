#include "kernels/onednn/bound_primitive.hpp"

#include "kernels/onednn/engine.hpp"

namespace bp::kernels::onednn {

BoundPrimitive bind_arguments(const dnnl::primitive_desc& pd) {
  BoundPrimitive p{dnnl::primitive(pd), {}};
  for (int arg : {DNNL_ARG_SRC, DNNL_ARG_DST, DNNL_ARG_DIFF_DST, DNNL_ARG_DIFF_SRC, DNNL_ARG_MEAN,
                  DNNL_ARG_VARIANCE, DNNL_ARG_SCALE, DNNL_ARG_SHIFT, DNNL_ARG_DIFF_SCALE,
                  DNNL_ARG_DIFF_SHIFT}) {
    const dnnl::memory::desc md = pd.query_md(dnnl::query::exec_arg_md, arg);
    if (md != dnnl::memory::desc()) p.args.emplace(arg, dnnl::memory(md, cpu_engine(), nullptr));
  }
  return p;
}

void execute(BoundPrimitive& p, const char* operation,
             std::initializer_list<std::pair<int, const float*>> data) {
  for (auto [arg, buffer] : data) {
    auto it = p.args.find(arg);
    if (it != p.args.end()) it->second.set_data_handle(const_cast<float*>(buffer));
  }
  checked(operation, [&] {
    p.primitive.execute(cpu_stream(), p.args);
    cpu_stream().wait();
  });
}

}  // namespace bp::kernels::onednn
