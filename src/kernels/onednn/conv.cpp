// Convolution and pooling through oneDNN primitives on plain NCHW / (g)OIHW buffers. Creating a
// primitive JIT-compiles a kernel, so one is made per configuration and kept; later calls only
// rebind the data pointers. A configuration oneDNN refuses is remembered as such, and the caller
// runs the reference kernel instead.
#include <oneapi/dnnl/dnnl.hpp>

#include <map>
#include <mutex>
#include <optional>
#include <tuple>
#include <unordered_map>

#include "kernels/conv.hpp"

namespace bp::kernels::onednn {

namespace {

using dnnl::memory;
using tag = memory::format_tag;
constexpr auto f32 = memory::data_type::f32;

dnnl::engine& cpu_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

dnnl::stream& cpu_stream() {
  static dnnl::stream stream(cpu_engine());
  return stream;
}

// One lock for all the caches here: primitives share the memory objects they are bound to.
std::mutex& cache_mutex() {
  static std::mutex mutex;
  return mutex;
}

bool has_zero_extent(const ConvShape& s) {
  return s.n == 0 || s.c_in == 0 || s.h == 0 || s.w == 0 || s.c_out == 0 || s.oh == 0 || s.ow == 0;
}

// ---- convolution ----

enum class ConvPass { forward, backward_data, backward_weights };

struct ConvKey {
  ConvShape s;
  ConvPass pass;
  bool bias;
  auto tie() const {
    return std::tie(s.n, s.c_in, s.h, s.w, s.c_out, s.kh, s.kw, s.oh, s.ow, s.stride_h, s.stride_w,
                    s.pad_h, s.pad_w, s.dil_h, s.dil_w, s.groups, pass, bias);
  }
  bool operator<(const ConvKey& o) const { return tie() < o.tie(); }
};

struct ConvEntry {
  dnnl::primitive primitive;
  memory src, weights, bias, dst;  // the forward roles; the backward passes bind their diffs
};

struct ConvDescs {
  memory::desc src, weights, bias, dst;
  memory::dims strides, dilates, pad_l, pad_r;
};

ConvDescs conv_descs(const ConvShape& s, bool bias) {
  ConvDescs d;
  d.src = memory::desc({s.n, s.c_in, s.h, s.w}, f32, tag::nchw);
  d.dst = memory::desc({s.n, s.c_out, s.oh, s.ow}, f32, tag::nchw);
  // (O, I/g, kh, kw) in memory is exactly goihw with O split into (g, O/g).
  d.weights = s.groups == 1
                  ? memory::desc({s.c_out, s.c_in, s.kh, s.kw}, f32, tag::oihw)
                  : memory::desc({s.groups, s.c_out / s.groups, s.c_in / s.groups, s.kh, s.kw}, f32,
                                 tag::goihw);
  if (bias) d.bias = memory::desc({s.c_out}, f32, tag::x);
  d.strides = {s.stride_h, s.stride_w};
  d.dilates = {s.dil_h - 1, s.dil_w - 1};  // oneDNN counts the gaps: 0 is a dense kernel
  d.pad_l = {s.pad_h, s.pad_w};
  // Symmetric padding: oneDNN's size formula floors like ours, so it gives (oh, ow) too, and the
  // trailing rows the division drops are never read.
  d.pad_r = d.pad_l;
  return d;
}

dnnl::convolution_forward::primitive_desc conv_forward_pd(const ConvDescs& d, bool bias) {
  auto desc = bias ? dnnl::convolution_forward::desc(
                         dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct,
                         d.src, d.weights, d.bias, d.dst, d.strides, d.dilates, d.pad_l, d.pad_r)
                   : dnnl::convolution_forward::desc(
                         dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct,
                         d.src, d.weights, d.dst, d.strides, d.dilates, d.pad_l, d.pad_r);
  return {desc, cpu_engine()};
}

ConvEntry make_conv(const ConvKey& key) {
  dnnl::engine& eng = cpu_engine();
  ConvDescs d = conv_descs(key.s, key.bias);
  auto fwd = conv_forward_pd(d, key.bias);
  ConvEntry e;
  switch (key.pass) {
    case ConvPass::forward:
      e.primitive = dnnl::convolution_forward(fwd);
      break;
    case ConvPass::backward_data: {
      dnnl::convolution_backward_data::desc desc(dnnl::algorithm::convolution_direct, d.src,
                                                 d.weights, d.dst, d.strides, d.dilates, d.pad_l,
                                                 d.pad_r);
      e.primitive = dnnl::convolution_backward_data(
          dnnl::convolution_backward_data::primitive_desc(desc, eng, fwd));
      break;
    }
    case ConvPass::backward_weights: {
      auto desc = key.bias ? dnnl::convolution_backward_weights::desc(
                                 dnnl::algorithm::convolution_direct, d.src, d.weights, d.bias,
                                 d.dst, d.strides, d.dilates, d.pad_l, d.pad_r)
                           : dnnl::convolution_backward_weights::desc(
                                 dnnl::algorithm::convolution_direct, d.src, d.weights, d.dst,
                                 d.strides, d.dilates, d.pad_l, d.pad_r);
      e.primitive = dnnl::convolution_backward_weights(
          dnnl::convolution_backward_weights::primitive_desc(desc, eng, fwd));
      break;
    }
  }
  e.src = memory(d.src, eng, nullptr);
  e.weights = memory(d.weights, eng, nullptr);
  if (key.bias) e.bias = memory(d.bias, eng, nullptr);
  e.dst = memory(d.dst, eng, nullptr);
  return e;
}

// The cached entry for `key`, or null when oneDNN does not take it (also cached).
ConvEntry* conv_entry(const ConvKey& key) {
  static std::map<ConvKey, std::optional<ConvEntry>> cache;
  auto it = cache.find(key);
  if (it == cache.end()) {
    std::optional<ConvEntry> entry;
    try {
      entry = make_conv(key);
    } catch (const dnnl::error&) {
      entry.reset();
    }
    it = cache.emplace(key, std::move(entry)).first;
  }
  return it->second ? &*it->second : nullptr;
}

}  // namespace

bool conv2d_forward(const ConvShape& s, const float* x, const float* weight, const float* bias,
                    float* y) {
  if (has_zero_extent(s)) return false;
  std::lock_guard<std::mutex> lock(cache_mutex());
  ConvEntry* e = conv_entry({s, ConvPass::forward, bias != nullptr});
  if (!e) return false;
  e->src.set_data_handle(const_cast<float*>(x));
  e->weights.set_data_handle(const_cast<float*>(weight));
  e->dst.set_data_handle(y);
  std::unordered_map<int, memory> args{
      {DNNL_ARG_SRC, e->src}, {DNNL_ARG_WEIGHTS, e->weights}, {DNNL_ARG_DST, e->dst}};
  if (bias) {
    e->bias.set_data_handle(const_cast<float*>(bias));
    args.emplace(DNNL_ARG_BIAS, e->bias);
  }
  e->primitive.execute(cpu_stream(), args);
  cpu_stream().wait();
  return true;
}

bool conv2d_backward_data(const ConvShape& s, const float* gy, const float* weight, float* gx) {
  if (has_zero_extent(s)) return false;
  std::lock_guard<std::mutex> lock(cache_mutex());
  ConvEntry* e = conv_entry({s, ConvPass::backward_data, false});
  if (!e) return false;
  e->src.set_data_handle(gx);
  e->weights.set_data_handle(const_cast<float*>(weight));
  e->dst.set_data_handle(const_cast<float*>(gy));
  e->primitive.execute(
      cpu_stream(),
      {{DNNL_ARG_DIFF_SRC, e->src}, {DNNL_ARG_WEIGHTS, e->weights}, {DNNL_ARG_DIFF_DST, e->dst}});
  cpu_stream().wait();
  return true;
}

bool conv2d_backward_weights(const ConvShape& s, const float* x, const float* gy, float* gw,
                             float* gb) {
  if (has_zero_extent(s)) return false;
  std::lock_guard<std::mutex> lock(cache_mutex());
  ConvEntry* e = conv_entry({s, ConvPass::backward_weights, gb != nullptr});
  if (!e) return false;
  e->src.set_data_handle(const_cast<float*>(x));
  e->weights.set_data_handle(gw);
  e->dst.set_data_handle(const_cast<float*>(gy));
  std::unordered_map<int, memory> args{
      {DNNL_ARG_SRC, e->src}, {DNNL_ARG_DIFF_WEIGHTS, e->weights}, {DNNL_ARG_DIFF_DST, e->dst}};
  if (gb) {
    e->bias.set_data_handle(gb);
    args.emplace(DNNL_ARG_DIFF_BIAS, e->bias);
  }
  e->primitive.execute(cpu_stream(), args);
  cpu_stream().wait();
  return true;
}

// ---- pooling ----

namespace {

enum class PoolPass { max_training, max_inference, max_backward, avg_forward, avg_backward };

struct PoolKey {
  PoolShape s;
  PoolPass pass;
  bool include_pad;
  auto tie() const {
    return std::tie(s.n, s.c, s.h, s.w, s.kh, s.kw, s.oh, s.ow, s.stride_h, s.stride_w, s.pad_h,
                    s.pad_w, pass, include_pad);
  }
  bool operator<(const PoolKey& o) const { return tie() < o.tie(); }
};

struct PoolEntry {
  dnnl::primitive primitive;
  memory src, dst, workspace;  // src/dst hold the diffs in a backward pass
  size_t workspace_bytes = 0;
};

bool has_zero_extent(const PoolShape& s) {
  return s.n == 0 || s.c == 0 || s.h == 0 || s.w == 0 || s.oh == 0 || s.ow == 0;
}

// Symmetric, as for convolution.
memory::dims pool_pad_r(const PoolShape& s) {
  return {s.pad_h, s.pad_w};
}

dnnl::pooling_forward::primitive_desc pool_forward_pd(const PoolShape& s, dnnl::prop_kind prop,
                                                      dnnl::algorithm alg) {
  memory::desc src({s.n, s.c, s.h, s.w}, f32, tag::nchw);
  memory::desc dst({s.n, s.c, s.oh, s.ow}, f32, tag::nchw);
  dnnl::pooling_forward::desc desc(prop, alg, src, dst, {s.stride_h, s.stride_w}, {s.kh, s.kw},
                                   {s.pad_h, s.pad_w}, pool_pad_r(s));
  return {desc, cpu_engine()};
}

PoolEntry make_pool(const PoolKey& key) {
  const PoolShape& s = key.s;
  dnnl::engine& eng = cpu_engine();
  const bool max = key.pass == PoolPass::max_training || key.pass == PoolPass::max_inference ||
                   key.pass == PoolPass::max_backward;
  const auto alg = max               ? dnnl::algorithm::pooling_max
                   : key.include_pad ? dnnl::algorithm::pooling_avg_include_padding
                                     : dnnl::algorithm::pooling_avg_exclude_padding;
  const auto prop = key.pass == PoolPass::max_inference ? dnnl::prop_kind::forward_inference
                                                        : dnnl::prop_kind::forward_training;
  auto fwd = pool_forward_pd(s, prop, alg);
  PoolEntry e;
  if (key.pass == PoolPass::max_backward || key.pass == PoolPass::avg_backward) {
    dnnl::pooling_backward::desc desc(alg, fwd.src_desc(), fwd.dst_desc(), {s.stride_h, s.stride_w},
                                      {s.kh, s.kw}, {s.pad_h, s.pad_w}, pool_pad_r(s));
    e.primitive = dnnl::pooling_backward(dnnl::pooling_backward::primitive_desc(desc, eng, fwd));
  } else {
    e.primitive = dnnl::pooling_forward(fwd);
  }
  e.src = memory(fwd.src_desc(), eng, nullptr);
  e.dst = memory(fwd.dst_desc(), eng, nullptr);
  if (max && prop == dnnl::prop_kind::forward_training) {
    e.workspace = memory(fwd.workspace_desc(), eng, nullptr);
    e.workspace_bytes = fwd.workspace_desc().get_size();
  }
  return e;
}

PoolEntry* pool_entry(const PoolKey& key) {
  static std::map<PoolKey, std::optional<PoolEntry>> cache;
  auto it = cache.find(key);
  if (it == cache.end()) {
    std::optional<PoolEntry> entry;
    try {
      entry = make_pool(key);
    } catch (const dnnl::error&) {
      entry.reset();
    }
    it = cache.emplace(key, std::move(entry)).first;
  }
  return it->second ? &*it->second : nullptr;
}

}  // namespace

bool max_pool2d_supported(const PoolShape& s) {
  if (has_zero_extent(s)) return false;
  std::lock_guard<std::mutex> lock(cache_mutex());
  return pool_entry({s, PoolPass::max_training, false}) != nullptr &&
         pool_entry({s, PoolPass::max_inference, false}) != nullptr &&
         pool_entry({s, PoolPass::max_backward, false}) != nullptr;
}

size_t max_pool2d_workspace_bytes(const PoolShape& s) {
  std::lock_guard<std::mutex> lock(cache_mutex());
  return pool_entry({s, PoolPass::max_training, false})->workspace_bytes;
}

void max_pool2d_forward(const PoolShape& s, const float* x, float* y, void* workspace) {
  std::lock_guard<std::mutex> lock(cache_mutex());
  PoolEntry* e =
      pool_entry({s, workspace ? PoolPass::max_training : PoolPass::max_inference, false});
  e->src.set_data_handle(const_cast<float*>(x));
  e->dst.set_data_handle(y);
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, e->src}, {DNNL_ARG_DST, e->dst}};
  if (workspace) {
    e->workspace.set_data_handle(workspace);
    args.emplace(DNNL_ARG_WORKSPACE, e->workspace);
  }
  e->primitive.execute(cpu_stream(), args);
  cpu_stream().wait();
}

void max_pool2d_backward(const PoolShape& s, const float* gy, const void* workspace, float* gx) {
  std::lock_guard<std::mutex> lock(cache_mutex());
  PoolEntry* e = pool_entry({s, PoolPass::max_backward, false});
  e->src.set_data_handle(gx);
  e->dst.set_data_handle(const_cast<float*>(gy));
  e->workspace.set_data_handle(const_cast<void*>(workspace));
  e->primitive.execute(cpu_stream(), {{DNNL_ARG_DIFF_SRC, e->src},
                                      {DNNL_ARG_DIFF_DST, e->dst},
                                      {DNNL_ARG_WORKSPACE, e->workspace}});
  cpu_stream().wait();
}

bool avg_pool2d_forward(const PoolShape& s, bool count_include_pad, const float* x, float* y) {
  if (has_zero_extent(s)) return false;
  std::lock_guard<std::mutex> lock(cache_mutex());
  PoolEntry* e = pool_entry({s, PoolPass::avg_forward, count_include_pad});
  if (!e) return false;
  e->src.set_data_handle(const_cast<float*>(x));
  e->dst.set_data_handle(y);
  e->primitive.execute(cpu_stream(), {{DNNL_ARG_SRC, e->src}, {DNNL_ARG_DST, e->dst}});
  cpu_stream().wait();
  return true;
}

bool avg_pool2d_backward(const PoolShape& s, bool count_include_pad, const float* gy, float* gx) {
  if (has_zero_extent(s)) return false;
  std::lock_guard<std::mutex> lock(cache_mutex());
  PoolEntry* e = pool_entry({s, PoolPass::avg_backward, count_include_pad});
  if (!e) return false;
  e->src.set_data_handle(gx);
  e->dst.set_data_handle(const_cast<float*>(gy));
  e->primitive.execute(cpu_stream(), {{DNNL_ARG_DIFF_SRC, e->src}, {DNNL_ARG_DIFF_DST, e->dst}});
  cpu_stream().wait();
  return true;
}

}  // namespace bp::kernels::onednn
