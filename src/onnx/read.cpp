#include "onnx/read.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "backprop/error.hpp"

namespace bp::onnx::detail {

namespace fs = std::filesystem;

::onnx::ModelProto read_model_file(const std::string& path) {
  std::error_code ec;
  BP_CHECK_AS(IoError, fs::is_regular_file(path, ec), "ONNX import: {}: no such file", path);
  const uintmax_t size = fs::file_size(path, ec);
  BP_CHECK_AS(IoError, !ec, "ONNX import: {}: cannot read its size", path);
  BP_CHECK_AS(FormatError, size <= kMaxOnnxFileBytes,
              "ONNX import: {}: {} bytes, more than the {} an ONNX file can hold", path, size,
              kMaxOnnxFileBytes);
  std::ifstream in(path, std::ios::binary);
  std::string bytes(static_cast<size_t>(size), '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(size));
  BP_CHECK_AS(IoError, in.good() || (in.eof() && in.gcount() == static_cast<std::streamsize>(size)),
              "ONNX import: {}: cannot read the file", path);
  ::onnx::ModelProto model;
  // A file that parses is still not an ONNX model without an IR version, an opset and a graph
  // (protobuf reads many other byte strings as a message of unknown fields).
  BP_CHECK_AS(FormatError,
              model.ParseFromString(bytes) && model.ir_version() > 0 &&
                  model.opset_import_size() > 0 && model.has_graph(),
              "ONNX import: {}: not an ONNX model (truncated, or another format)", path);
  return model;
}

std::string printable(const std::string& name) {
  std::string out = name.substr(0, 80);
  for (char& c : out)
    if (c < 0x20 || c > 0x7e) c = '?';
  return name.size() > 80 ? out + "..." : out;
}

std::string describe(const ::onnx::NodeProto& node, size_t index) {
  if (node.name().empty()) return fmt::format("node #{} ({})", index, printable(node.op_type()));
  return fmt::format("node '{}' ({})", printable(node.name()), printable(node.op_type()));
}

namespace {

// The element count of `t`'s dimensions, refusing negative ones and counts beyond `limit`.
int64_t element_count(const ::onnx::TensorProto& t, int64_t limit, const std::string& what) {
  int64_t n = 1;
  for (int64_t d : t.dims()) {
    BP_CHECK_AS(FormatError, d >= 0 && (d == 0 || n <= limit / std::max<int64_t>(d, 1)),
                "{}: tensor '{}' has bad dimensions", what, printable(t.name()));
    n *= d;
  }
  BP_CHECK_AS(FormatError, n <= limit, "{}: tensor '{}' holds fewer values than its dimensions",
              what, printable(t.name()));
  return n;
}

template <typename T>
std::vector<T> values(const ::onnx::TensorProto& t, const auto& typed, const std::string& what) {
  BP_CHECK_AS(FormatError, t.data_location() != ::onnx::TensorProto::EXTERNAL,
              "{}: tensor '{}' keeps its data in another file, which import does not read", what,
              printable(t.name()));
  const auto stored = static_cast<int64_t>(t.has_raw_data() ? t.raw_data().size() / sizeof(T)
                                                            : static_cast<size_t>(typed.size()));
  const int64_t n = element_count(t, stored, what);
  const size_t bytes = t.has_raw_data() ? t.raw_data().size() : typed.size() * sizeof(T);
  BP_CHECK_AS(FormatError, bytes == static_cast<size_t>(n) * sizeof(T),
              "{}: tensor '{}' holds {} bytes for {} values", what, printable(t.name()), bytes, n);
  std::vector<T> out(static_cast<size_t>(n));
  if (t.has_raw_data())  // little-endian, as this machine
    std::memcpy(out.data(), t.raw_data().data(), out.size() * sizeof(T));
  else
    std::copy(typed.begin(), typed.begin() + n, out.begin());
  return out;
}

}  // namespace

void Constants::add(const std::string& name, const ::onnx::TensorProto& t,
                    const std::string& what) {
  if (t.data_type() == ::onnx::TensorProto::FLOAT) {
    const std::vector<float> v = values<float>(t, t.float_data(), what);
    floats[name] = Tensor::from_data(v, Shape(t.dims().begin(), t.dims().end()));
  } else if (t.data_type() == ::onnx::TensorProto::INT64) {
    ints[name] = values<int64_t>(t, t.int64_data(), what);
  } else {
    fail_as<FormatError>("{}: tensor '{}' has element type {}; import reads float and int64", what,
                         name, t.data_type());
  }
}

void Constants::add_node(const ::onnx::NodeProto& node, const std::string& what) {
  BP_CHECK_AS(FormatError, node.output_size() == 1 && node.attribute_size() == 1,
              "{}: a Constant needs one output and one attribute", what);
  const ::onnx::AttributeProto& a = node.attribute(0);
  const std::string& name = node.output(0);
  if (a.name() == "value" && a.has_t()) {
    add(name, a.t(), what);
  } else if (a.name() == "value_float") {
    floats[name] = Tensor::scalar(a.f());
  } else if (a.name() == "value_int") {
    ints[name] = {a.i()};
  } else if (a.name() == "value_ints") {
    ints[name] = std::vector<int64_t>(a.ints().begin(), a.ints().end());
  } else {
    fail_as<FormatError>("{}: attribute '{}' is not supported", what, printable(a.name()));
  }
}

const Tensor* Constants::tensor(const std::string& name) const {
  auto it = floats.find(name);
  return it == floats.end() ? nullptr : &it->second;
}

const std::vector<int64_t>* Constants::int64s(const std::string& name) const {
  auto it = ints.find(name);
  return it == ints.end() ? nullptr : &it->second;
}

std::optional<float> Constants::scalar(const std::string& name) const {
  const Tensor* t = tensor(name);
  if (!t || t->numel() != 1) return std::nullopt;
  return t->data()[0];
}

void Attributes::only(std::initializer_list<const char*> known) const {
  for (const ::onnx::AttributeProto& a : node_.attribute())
    BP_CHECK_AS(
        FormatError,
        std::any_of(known.begin(), known.end(), [&](const char* k) { return a.name() == k; }),
        "{}: attribute '{}' is not supported", what_, printable(a.name()));
}

const ::onnx::AttributeProto* Attributes::find(const char* name,
                                               ::onnx::AttributeProto::AttributeType type) const {
  for (const ::onnx::AttributeProto& a : node_.attribute()) {
    if (a.name() != name) continue;
    BP_CHECK_AS(FormatError, a.type() == type, "{}: attribute '{}' has type {}, expected {}", what_,
                name, static_cast<int>(a.type()), static_cast<int>(type));
    return &a;
  }
  return nullptr;
}

int64_t Attributes::i(const char* name, int64_t fallback) const {
  const auto* a = find(name, ::onnx::AttributeProto::INT);
  return a ? a->i() : fallback;
}

float Attributes::f(const char* name, float fallback) const {
  const auto* a = find(name, ::onnx::AttributeProto::FLOAT);
  return a ? a->f() : fallback;
}

std::vector<int64_t> Attributes::ints(const char* name, std::vector<int64_t> fallback) const {
  const auto* a = find(name, ::onnx::AttributeProto::INTS);
  return a ? std::vector<int64_t>(a->ints().begin(), a->ints().end()) : fallback;
}

std::string Attributes::s(const char* name, std::string fallback) const {
  const auto* a = find(name, ::onnx::AttributeProto::STRING);
  return a ? a->s() : fallback;
}

}  // namespace bp::onnx::detail
