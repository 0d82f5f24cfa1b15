// An ONNX file as a Model: the checks around the graph (opset, one input, one output), the layers
// (import_graph.cpp), the normalisation and the metadata export writes.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <set>

#include "backprop/error.hpp"
#include "backprop/onnx.hpp"
#include "onnx/functions.hpp"
#include "onnx/import_graph.hpp"

namespace bp::onnx {

namespace {

using detail::Constants;
using detail::Layer;

void check_opset(const ::onnx::ModelProto& proto, const std::string& what) {
  for (const auto& o : proto.opset_import()) {
    if (!o.domain().empty() && o.domain() != "ai.onnx") continue;  // unused, or refused per node
    BP_CHECK_AS(FormatError, o.version() >= kMinImportOpset && o.version() <= kOpset,
                "{}: opset {} is not supported (import reads opsets {} to {})", what, o.version(),
                kMinImportOpset, kOpset);
    return;
  }
  fail_as<FormatError>("{}: the model imports no version of the standard ONNX operators", what);
}

// The graph's one input that is not an initializer: its name and its sample shape.
std::pair<std::string, Shape> graph_input(const ::onnx::GraphProto& g, const Constants& c,
                                          const std::string& what) {
  std::vector<const ::onnx::ValueInfoProto*> inputs;
  for (const auto& in : g.input())
    if (!c.tensor(in.name()) && !c.int64s(in.name())) inputs.push_back(&in);
  BP_CHECK_AS(FormatError, inputs.size() == 1, "{}: the graph has {} inputs; import takes one",
              what, inputs.size());
  const ::onnx::ValueInfoProto& in = *inputs.front();
  BP_CHECK_AS(FormatError,
              in.type().has_tensor_type() &&
                  in.type().tensor_type().elem_type() == ::onnx::TensorProto::FLOAT &&
                  in.type().tensor_type().has_shape(),
              "{}: the input '{}' is not a float tensor of known shape", what,
              detail::printable(in.name()));
  const auto& dims = in.type().tensor_type().shape().dim();
  Shape sample;
  for (int k = 1; k < dims.size(); ++k) {
    BP_CHECK_AS(FormatError,
                dims[k].has_dim_value() && dims[k].dim_value() > 0 &&
                    dims[k].dim_value() < (int64_t{1} << 30),
                "{}: the input '{}' has no fixed extent on axis {}", what,
                detail::printable(in.name()), k);
    sample.push_back(dims[k].dim_value());
  }
  BP_CHECK_AS(FormatError, !sample.empty(), "{}: the input '{}' has no sample axes", what,
              detail::printable(in.name()));
  return {in.name(), sample};
}

// The model's local functions, each of which must be one that export writes, exactly; their names.
std::set<std::string> local_functions(const ::onnx::ModelProto& proto, const std::string& what) {
  std::set<std::string> names;
  for (const ::onnx::FunctionProto& f : proto.functions()) {
    const ::onnx::FunctionProto* own = detail::local_function(f.name());
    BP_CHECK_AS(FormatError,
                f.domain() == detail::kFunctionDomain && own &&
                    f.SerializeAsString() == own->SerializeAsString(),
                "{}: function '{}.{}' is not one that export writes (import reads only the "
                "functions {}.{} and {}.{} of export, unchanged)",
                what, detail::printable(f.domain()), detail::printable(f.name()),
                detail::kFunctionDomain, detail::kAttention, detail::kFunctionDomain,
                detail::kTransformer);
    names.insert(f.name());
  }
  return names;
}

// The network built from the layers' specs, their tensors copied in.
void build_network(Model& m, const std::vector<Layer>& layers, const std::string& what) {
  std::string text;
  for (const Layer& l : layers) text += (text.empty() ? "" : ",") + l.spec;
  m.spec = nn::parse_model_spec(text);
  Generator gen(0);
  m.network = nn::build_model(m.spec, m.input_shape, gen);
  auto copy = [&](const auto& into, auto member) {
    size_t k = 0;
    for (const Layer& l : layers)
      for (const Tensor& t : l.*member) {
        BP_CHECK(k < into.size(), "{}: more tensors than the network holds", what);
        Tensor target = into[k++].second;
        target.copy_(t);
      }
    BP_CHECK(k == into.size(), "{}: fewer tensors than the network holds", what);
  };
  copy(m.network->named_parameters(), &Layer::parameters);
  copy(m.network->named_buffers(), &Layer::buffers);
  m.num_outputs = numel(m.network->output_shape(m.input_shape));
}

data::NormKind norm_kind(const std::string& name) {
  return name == "min_max" ? data::NormKind::min_max : data::NormKind::standardize;
}

// What export writes besides the graph: label names, the task, the kind of normalisation, the
// training record. A file from elsewhere has none of them: a classifier without label names.
void read_metadata(const ::onnx::ModelProto& proto, Model& m, std::string& norm,
                   const std::string& what) {
  for (const auto& p : proto.metadata_props()) {
    if (p.key() == "backprop.task") {
      BP_CHECK_AS(FormatError, p.value() == "classification" || p.value() == "regression",
                  "{}: unknown task '{}' in the metadata", what, detail::printable(p.value()));
      m.task = p.value() == "regression" ? data::Task::regression : data::Task::classification;
    } else if (p.key() == "backprop.normalization") {
      norm = p.value();
    } else if (p.key() == "labels" || p.key() == "backprop.info") {
      const auto j = nlohmann::json::parse(p.value(), nullptr, /*allow_exceptions=*/false);
      if (p.key() == "backprop.info" && j.is_object()) m.info_json = j.dump();
      if (p.key() == "labels" && j.is_array() && j.size() == static_cast<size_t>(m.num_outputs))
        for (const auto& name : j)
          if (name.is_string()) m.label_names.push_back(name.get<std::string>());
    }
  }
  if (m.label_names.size() != static_cast<size_t>(m.num_outputs)) m.label_names.clear();
}

}  // namespace

Model import_model(const std::string& path) {
  const ::onnx::ModelProto proto = detail::read_model_file(path);
  const std::string what = "ONNX import: " + path;
  check_opset(proto, what);
  const ::onnx::GraphProto& g = proto.graph();
  Constants constants;
  for (const auto& init : g.initializer()) constants.add(init.name(), init, what);
  Model m;
  std::string input;
  std::tie(input, m.input_shape) = graph_input(g, constants, what);
  BP_CHECK_AS(FormatError, g.output_size() == 1, "{}: the graph has {} outputs; import takes one",
              what, g.output_size());
  detail::Importer importer(g, constants, local_functions(proto, what), input, m.input_shape, what);
  build_network(m, importer.run(g.output(0).name()), what);
  std::string norm;
  read_metadata(proto, m, norm, what);
  if (const auto& stats = importer.normalisation()) {
    try {
      m.normalizer = data::Normalizer::from_stats(norm_kind(norm), stats->first.to_vector(),
                                                  stats->second.to_vector());
    } catch (const Error& e) {
      fail_as<FormatError>("{}: the input normalisation: {}", what, e.what());
    }
  }
  return m;
}

}  // namespace bp::onnx
