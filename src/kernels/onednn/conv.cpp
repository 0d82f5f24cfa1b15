// Convolution and pooling through oneDNN primitives on plain NCHW / (g)OIHW buffers. Creating a
// primitive JIT-compiles a kernel, so one is made per configuration and kept; later calls only
// rebind the data pointers. A configuration oneDNN refuses is remembered as such, and the caller
// runs the reference kernel instead. Under bf16() a primitive reads bf16 copies of its product's
// operands (the reorders into its own layout convert them) and accumulates and writes in fp32;
// where oneDNN has no bf16 convolution for this CPU it computes in fp32.
#include <oneapi/dnnl/dnnl.hpp>

#include <map>
#include <optional>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "kernels/conv.hpp"
#include "kernels/onednn/engine.hpp"

namespace bp::kernels::onednn {

namespace {

using dnnl::memory;
using tag = memory::format_tag;
constexpr auto f32 = memory::data_type::f32;

bool has_zero_extent(const ConvShape& s) {
  return s.n == 0 || s.c_in == 0 || s.h == 0 || s.w == 0 || s.c_out == 0 || s.oh == 0 || s.ow == 0;
}

// ---- convolution ----

enum class ConvPass { forward, backward_data, backward_weights };

struct ConvKey {
  ConvShape s;
  ConvPass pass;
  bool bias;
  bool bf16 = kernels::bf16();
  int threads = planned_threads();
  auto tie() const {
    return std::tie(s.n, s.c_in, s.h, s.w, s.c_out, s.kh, s.kw, s.oh, s.ow, s.stride_h, s.stride_w,
                    s.pad_h, s.pad_w, s.dil_h, s.dil_w, s.groups, pass, bias, bf16, threads);
  }
  bool operator<(const ConvKey& o) const { return tie() < o.tie(); }
};

// One argument of a cached primitive: `user` wraps the caller's plain buffer (rebound on every
// call); `inner` is the layout the primitive chose (blocked layouts run several times faster
// than plain NCHW), with a cached reorder between the two when they differ.
struct Slot {
  int arg;
  bool input;
  memory user, inner;
  dnnl::reorder reorder;  // user -> inner for inputs, inner -> user for outputs
  bool reorders = false;
};

struct ConvEntry {
  dnnl::primitive primitive;
  std::vector<Slot> slots;
  memory scratchpad;  // the primitive's temporary space, allocated once
};

// Primitives take their scratch space from us (allocated once per entry) rather than allocating it
// on every call, which would page-fault fresh memory in each training step.
const dnnl::primitive_attr& user_scratchpad() {
  static const dnnl::primitive_attr attr = [] {
    dnnl::primitive_attr a;
    a.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    return a;
  }();
  return attr;
}

// A pass's inputs are the product's operands (x, weight and gy, in the entry's type); its outputs
// (y, gx, gw) are fp32.
struct ConvDescs {
  memory::desc src, weights, bias, dst;        // plain fp32: what the caller's buffers hold
  memory::desc any_src, any_weights, any_dst;  // operands, in the primitive's choice of layout
  memory::desc out_src, out_weights, out_dst;  // outputs, likewise
  memory::dims strides, dilates, pad_l, pad_r;
};

ConvDescs conv_descs(const ConvShape& s, bool bias, memory::data_type type) {
  ConvDescs d;
  const memory::dims src{s.n, s.c_in, s.h, s.w}, dst{s.n, s.c_out, s.oh, s.ow};
  // (O, I/g, kh, kw) in memory is exactly goihw with O split into (g, O/g).
  const memory::dims weights =
      s.groups == 1 ? memory::dims{s.c_out, s.c_in, s.kh, s.kw}
                    : memory::dims{s.groups, s.c_out / s.groups, s.c_in / s.groups, s.kh, s.kw};
  d.src = memory::desc(src, f32, tag::nchw);
  d.dst = memory::desc(dst, f32, tag::nchw);
  d.weights = memory::desc(weights, f32, s.groups == 1 ? tag::oihw : tag::goihw);
  d.any_src = memory::desc(src, type, tag::any);
  d.any_dst = memory::desc(dst, type, tag::any);
  d.any_weights = memory::desc(weights, type, tag::any);
  d.out_src = memory::desc(src, f32, tag::any);
  d.out_dst = memory::desc(dst, f32, tag::any);
  d.out_weights = memory::desc(weights, f32, tag::any);
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
  auto desc =
      bias ? dnnl::convolution_forward::desc(
                 dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct, d.any_src,
                 d.any_weights, d.bias, d.out_dst, d.strides, d.dilates, d.pad_l, d.pad_r)
           : dnnl::convolution_forward::desc(
                 dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct, d.any_src,
                 d.any_weights, d.out_dst, d.strides, d.dilates, d.pad_l, d.pad_r);
  return {desc, user_scratchpad(), cpu_engine()};
}

Slot make_slot(int arg, bool input, const memory::desc& user, const memory::desc& inner) {
  dnnl::engine& eng = cpu_engine();
  Slot slot{arg, input, memory(user, eng, nullptr), memory(), dnnl::reorder(), false};
  if (inner == user) {
    slot.inner = slot.user;
  } else {
    slot.inner = memory(inner, eng);  // owned by the entry, allocated once
    slot.reorder =
        input ? dnnl::reorder(slot.user, slot.inner) : dnnl::reorder(slot.inner, slot.user);
    slot.reorders = true;
  }
  return slot;
}

// Slots are in the order the public functions pass their buffers: inputs first, then outputs.
// Throws dnnl::error when oneDNN does not take the configuration in `type`.
ConvEntry make_conv(const ConvKey& key, memory::data_type type) {
  dnnl::engine& eng = cpu_engine();
  ConvDescs d = conv_descs(key.s, key.bias, type);
  auto fwd = conv_forward_pd(d, key.bias);
  ConvEntry e;
  switch (key.pass) {
    case ConvPass::forward:
      e.primitive = dnnl::convolution_forward(fwd);
      e.scratchpad = memory(fwd.scratchpad_desc(), eng);
      e.slots.push_back(make_slot(DNNL_ARG_SRC, true, d.src, fwd.src_desc()));
      e.slots.push_back(make_slot(DNNL_ARG_WEIGHTS, true, d.weights, fwd.weights_desc()));
      if (key.bias) e.slots.push_back(make_slot(DNNL_ARG_BIAS, true, d.bias, d.bias));
      e.slots.push_back(make_slot(DNNL_ARG_DST, false, d.dst, fwd.dst_desc()));
      break;
    case ConvPass::backward_data: {
      dnnl::convolution_backward_data::desc desc(dnnl::algorithm::convolution_direct, d.out_src,
                                                 d.any_weights, d.any_dst, d.strides, d.dilates,
                                                 d.pad_l, d.pad_r);
      dnnl::convolution_backward_data::primitive_desc pd(desc, user_scratchpad(), eng, fwd);
      e.primitive = dnnl::convolution_backward_data(pd);
      e.scratchpad = memory(pd.scratchpad_desc(), eng);
      e.slots.push_back(make_slot(DNNL_ARG_DIFF_DST, true, d.dst, pd.diff_dst_desc()));
      e.slots.push_back(make_slot(DNNL_ARG_WEIGHTS, true, d.weights, pd.weights_desc()));
      e.slots.push_back(make_slot(DNNL_ARG_DIFF_SRC, false, d.src, pd.diff_src_desc()));
      break;
    }
    case ConvPass::backward_weights: {
      auto desc = key.bias ? dnnl::convolution_backward_weights::desc(
                                 dnnl::algorithm::convolution_direct, d.any_src, d.out_weights,
                                 d.bias, d.any_dst, d.strides, d.dilates, d.pad_l, d.pad_r)
                           : dnnl::convolution_backward_weights::desc(
                                 dnnl::algorithm::convolution_direct, d.any_src, d.out_weights,
                                 d.any_dst, d.strides, d.dilates, d.pad_l, d.pad_r);
      dnnl::convolution_backward_weights::primitive_desc pd(desc, user_scratchpad(), eng, fwd);
      e.primitive = dnnl::convolution_backward_weights(pd);
      e.scratchpad = memory(pd.scratchpad_desc(), eng);
      e.slots.push_back(make_slot(DNNL_ARG_SRC, true, d.src, pd.src_desc()));
      e.slots.push_back(make_slot(DNNL_ARG_DIFF_DST, true, d.dst, pd.diff_dst_desc()));
      e.slots.push_back(make_slot(DNNL_ARG_DIFF_WEIGHTS, false, d.weights, pd.diff_weights_desc()));
      if (key.bias) e.slots.push_back(make_slot(DNNL_ARG_DIFF_BIAS, false, d.bias, d.bias));
      break;
    }
  }
  return e;
}

// The cached entry for `key`, or null when oneDNN does not take it (also cached).
ConvEntry* conv_entry(const ConvKey& key) {
  thread_local std::map<ConvKey, std::optional<ConvEntry>> cache;  // see PlanFor
  auto it = cache.find(key);
  if (it == cache.end()) {
    std::optional<ConvEntry> entry;
    PlanFor plan(key.threads);
    // bf16 first when asked for, then fp32 (oneDNN has no bf16 convolution without AVX-512).
    for (memory::data_type type : {key.bf16 ? memory::data_type::bf16 : f32, f32}) {
      try {
        entry = make_conv(key, type);
        break;
      } catch (const dnnl::error&) {
        entry.reset();
      }
    }
    it = cache.emplace(key, std::move(entry)).first;
  }
  return it->second ? &*it->second : nullptr;
}

// Binds `buffers` (one per slot, in slot order), reorders the inputs that need it, runs the
// primitive and reorders the outputs back into the caller's buffers.
bool run_conv(const ConvKey& key, std::initializer_list<const float*> buffers) {
  ConvEntry* e = conv_entry(key);
  if (!e) return false;
  dnnl::stream& stream = cpu_stream();
  std::unordered_map<int, memory> args;
  auto buffer = buffers.begin();
  checked("convolution", [&] {
    for (Slot& slot : e->slots) {
      slot.user.set_data_handle(const_cast<float*>(*buffer++));
      if (slot.input && slot.reorders) slot.reorder.execute(stream, slot.user, slot.inner);
      args.emplace(slot.arg, slot.inner);
    }
    args.emplace(DNNL_ARG_SCRATCHPAD, e->scratchpad);
    e->primitive.execute(stream, args);
    for (Slot& slot : e->slots)
      if (!slot.input && slot.reorders) slot.reorder.execute(stream, slot.inner, slot.user);
    stream.wait();
  });
  return true;
}

}  // namespace

bool conv2d_forward(const ConvShape& s, const float* x, const float* weight, const float* bias,
                    float* y) {
  if (has_zero_extent(s)) return false;
  if (bias) return run_conv({s, ConvPass::forward, true}, {x, weight, bias, y});
  return run_conv({s, ConvPass::forward, false}, {x, weight, y});
}

bool conv2d_backward_data(const ConvShape& s, const float* gy, const float* weight, float* gx) {
  if (has_zero_extent(s)) return false;
  return run_conv({s, ConvPass::backward_data, false}, {gy, weight, gx});
}

bool conv2d_backward_weights(const ConvShape& s, const float* x, const float* gy, float* gw,
                             float* gb) {
  if (has_zero_extent(s)) return false;
  if (gb) return run_conv({s, ConvPass::backward_weights, true}, {x, gy, gw, gb});
  return run_conv({s, ConvPass::backward_weights, false}, {x, gy, gw});
}

// ---- pooling ----

namespace {

enum class PoolPass { forward, backward };

struct PoolKey {
  PoolShape s;
  PoolPass pass;
  bool include_pad;
  int threads = planned_threads();
  auto tie() const {
    return std::tie(s.n, s.c, s.h, s.w, s.kh, s.kw, s.oh, s.ow, s.stride_h, s.stride_w, s.pad_h,
                    s.pad_w, pass, include_pad, threads);
  }
  bool operator<(const PoolKey& o) const { return tie() < o.tie(); }
};

struct PoolEntry {
  dnnl::primitive primitive;
  memory src, dst;  // src/dst hold the diffs in a backward pass
  memory scratchpad;
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
  return {desc, user_scratchpad(), cpu_engine()};
}

// Average pooling (max pooling runs in vector code, kernels/simd/pool.cpp).
PoolEntry make_pool(const PoolKey& key) {
  const PoolShape& s = key.s;
  dnnl::engine& eng = cpu_engine();
  const auto alg = key.include_pad ? dnnl::algorithm::pooling_avg_include_padding
                                   : dnnl::algorithm::pooling_avg_exclude_padding;
  auto fwd = pool_forward_pd(s, dnnl::prop_kind::forward_training, alg);
  PoolEntry e;
  if (key.pass == PoolPass::backward) {
    dnnl::pooling_backward::desc desc(alg, fwd.src_desc(), fwd.dst_desc(), {s.stride_h, s.stride_w},
                                      {s.kh, s.kw}, {s.pad_h, s.pad_w}, pool_pad_r(s));
    dnnl::pooling_backward::primitive_desc pd(desc, user_scratchpad(), eng, fwd);
    e.primitive = dnnl::pooling_backward(pd);
    e.scratchpad = memory(pd.scratchpad_desc(), eng);
  } else {
    e.primitive = dnnl::pooling_forward(fwd);
    e.scratchpad = memory(fwd.scratchpad_desc(), eng);
  }
  e.src = memory(fwd.src_desc(), eng, nullptr);
  e.dst = memory(fwd.dst_desc(), eng, nullptr);
  return e;
}

PoolEntry* pool_entry(const PoolKey& key) {
  thread_local std::map<PoolKey, std::optional<PoolEntry>> cache;  // see PlanFor
  auto it = cache.find(key);
  if (it == cache.end()) {
    std::optional<PoolEntry> entry;
    try {
      PlanFor plan(key.threads);
      entry = make_pool(key);
    } catch (const dnnl::error&) {
      entry.reset();
    }
    it = cache.emplace(key, std::move(entry)).first;
  }
  return it->second ? &*it->second : nullptr;
}

}  // namespace

bool avg_pool2d_forward(const PoolShape& s, bool count_include_pad, const float* x, float* y) {
  if (has_zero_extent(s)) return false;
  PoolEntry* e = pool_entry({s, PoolPass::forward, count_include_pad});
  if (!e) return false;
  e->src.set_data_handle(const_cast<float*>(x));
  e->dst.set_data_handle(y);
  checked("average pooling", [&] {
    e->primitive.execute(
        cpu_stream(),
        {{DNNL_ARG_SRC, e->src}, {DNNL_ARG_DST, e->dst}, {DNNL_ARG_SCRATCHPAD, e->scratchpad}});
    cpu_stream().wait();
  });
  return true;
}

bool avg_pool2d_backward(const PoolShape& s, bool count_include_pad, const float* gy, float* gx) {
  if (has_zero_extent(s)) return false;
  PoolEntry* e = pool_entry({s, PoolPass::backward, count_include_pad});
  if (!e) return false;
  e->src.set_data_handle(gx);
  e->dst.set_data_handle(const_cast<float*>(gy));
  checked("average pooling backward", [&] {
    e->primitive.execute(cpu_stream(), {{DNNL_ARG_DIFF_SRC, e->src},
                                        {DNNL_ARG_DIFF_DST, e->dst},
                                        {DNNL_ARG_SCRATCHPAD, e->scratchpad}});
    cpu_stream().wait();
  });
  return true;
}

}  // namespace bp::kernels::onednn
