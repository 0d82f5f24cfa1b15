#include "backprop/spec.hpp"

#include <nlohmann/json.hpp>

#include <cctype>
#include <cmath>
#include <limits>
#include <optional>
#include <string_view>

#include "backprop/error.hpp"
#include "data/file_util.hpp"
#include "io/json.hpp"
#include "nn/spec_internal.hpp"

namespace bp::nn {

namespace spec {

namespace {

std::shared_ptr<Module> activation(Args& args, ActivationKind kind, const char* key,
                                   double fallback) {
  std::optional<float> parameter;
  if (key) {
    double value = args.number(0, key, fallback);
    if (std::fabs(value) > std::numeric_limits<float>::max())
      args.error(fmt::format("argument '{}' is out of range, got {}", key, value));
    parameter = static_cast<float>(value);
  }
  // Cheap to build even in a dry run, which lets the constructor check the value's range.
  try {
    return make_activation(kind, parameter);
  } catch (const Error& e) {
    args.error(e.what());
  }
}

// A Reshape or Permute of `values`, checked against the input shape (unless in a dry run); its
// errors become the layer's.
template <class Layer>
std::shared_ptr<Module> checked_shape_layer(Args& args, const Shape& in,
                                            std::vector<int64_t> values) {
  try {
    auto layer = std::make_shared<Layer>(std::move(values));
    if (args.dry_run()) return nullptr;
    layer->output_shape(in);
    return layer;
  } catch (const Error& e) {
    args.error(e.what());
  }
}

}  // namespace

void add_core_layers(LayerTable& k) {
  k["dense"] = {"dense(units, bias=true)", "fully connected layer x·Wᵀ + b over the last axis",
                [](Args& a, const Shape& in, Generator& gen) -> std::shared_ptr<Module> {
                  int64_t units = a.positive_int(0, "units", std::nullopt);
                  bool bias = a.flag(1, "bias", true);
                  if (a.dry_run()) return nullptr;
                  if (in.empty()) a.error("needs an input with at least one dimension");
                  a.reserve_parameters(static_cast<double>(units) *
                                       static_cast<double>(in.back() + (bias ? 1 : 0)));
                  return std::make_shared<Linear>(
                      LinearOptions{.in = in.back(), .out = units, .bias = bias}, gen);
                }};
  k["linear"] = k["dense"];
  k["linear"].syntax = "linear(units, bias=true)";
  k["linear"].help = "same as dense";
  k["flatten"] = {"flatten", "flattens each sample to one dimension",
                  [](Args&, const Shape&, Generator&) -> std::shared_ptr<Module> {
                    return std::make_shared<Flatten>();
                  }};
  k["reshape"] = {"reshape(d1, d2, ...)",
                  "reshapes each sample to (d1, d2, ...); one extent may be -1 (inferred)",
                  [](Args& a, const Shape& in, Generator&) -> std::shared_ptr<Module> {
                    return checked_shape_layer<Reshape>(a, in, a.integers("extent"));
                  }};
  k["permute"] = {"permute(a1, a2, ...)",
                  "reorders each sample's axes: output axis i is input axis ai (0-based)",
                  [](Args& a, const Shape& in, Generator&) -> std::shared_ptr<Module> {
                    return checked_shape_layer<Permute>(a, in, a.integers("axis"));
                  }};
  for (const ActivationInfo& info : activations()) {
    std::string name(info.name), key(info.parameter);
    std::string syntax =
        key.empty() ? name : fmt::format("{}({}={:g})", name, key, info.default_parameter);
    k[name] = {syntax, std::string(info.formula),
               [kind = info.kind, key, fallback = info.default_parameter](Args& a, const Shape&,
                                                                          Generator&) {
                 return activation(a, kind, key.empty() ? nullptr : key.c_str(), fallback);
               }};
  }
  k["swish"] = k["silu"];
  k["swish"].syntax = "swish";
  k["swish"].help = "same as silu";
  k["softmax"] = {"softmax", "softmax over the last axis",
                  [](Args&, const Shape&, Generator&) -> std::shared_ptr<Module> {
                    return std::make_shared<Softmax>(false);
                  }};
  k["log_softmax"] = {"log_softmax", "log-softmax over the last axis",
                      [](Args&, const Shape&, Generator&) -> std::shared_ptr<Module> {
                        return std::make_shared<Softmax>(true);
                      }};
}

void add_container_layers(LayerTable& k) {
  k["residual"] = {
      "residual(layer, layer, ...)", "x + f(x), f the layers in order (output shape = input shape)",
      [](Args& a, const Shape& in, Generator& gen) -> std::shared_ptr<Module> {
        // The parser has already checked the inner layers, each once.
        if (a.layers().empty()) a.error("needs at least one inner layer");
        if (a.dry_run()) return nullptr;
        std::shared_ptr<Sequential> body;
        try {
          body = build_model(a.layers(), in, gen, a.budget_left());
        } catch (const Error& e) {
          a.error(fmt::format("inner layers: {}", e.what()));
        }
        a.reserve_parameters(static_cast<double>(body->parameter_count()));
        Shape out = body->output_shape(in);
        if (out != in)
          a.error(fmt::format("its layers map {} to {}; a residual block must keep the shape",
                              bp::to_string(in), bp::to_string(out)));
        return std::make_shared<Residual>(body);
      },
      /*nests=*/true};
}

namespace {

std::vector<syntax::ArgView> views(const std::vector<LayerArg>& args) {
  std::vector<syntax::ArgView> out;
  out.reserve(args.size());
  for (const LayerArg& a : args) out.push_back({a.key, a.value});
  return out;
}

}  // namespace

std::string where(size_t position, std::string_view name, size_t column) {
  return fmt::format("model spec: layer {} '{}'{}", position, name,
                     column ? fmt::format(" (column {})", column) : std::string());
}

Args::Args(const LayerSpec& spec, bool dry_run, double* budget)
    : syntax::CallArgs(views(spec.args), spec.name, where(spec.position, spec.name, spec.column)),
      spec_(spec),
      dry_run_(dry_run),
      budget_(budget) {}

const LayerTable& layer_kinds() {
  static const LayerTable table = [] {
    LayerTable t;
    add_core_layers(t);
    add_container_layers(t);
    add_conv_layers(t);
    add_norm_layers(t);
    add_recurrent_layers(t);
    add_transformer_layers(t);
    return t;
  }();
  return table;
}

}  // namespace spec

namespace {

using spec::Args;
using spec::layer_kinds;
using spec::where;

void check_known(std::string_view name, size_t position, size_t column) {
  if (layer_kinds().count(std::string(name))) return;
  std::string names;
  for (const auto& [known, kind] : layer_kinds()) names += (names.empty() ? "" : ", ") + known;
  const std::string shown =
      name.size() > 40 ? std::string(name.substr(0, 40)) + "..." : std::string(name);
  fail_as<ValueError>("{}: unknown layer (known: {})", where(position, shown, column), names);
}

// Checks a layer's arguments without building it: runs its builder in dry-run mode (which reads
// every argument and allocates nothing), reusing the one place where arguments are read.
void check_arguments(const LayerSpec& spec) {
  Args args(spec, /*dry_run=*/true);
  Generator gen(0);
  layer_kinds().at(spec.name).build(args, {1}, gen);
  args.finish();
}

// The text form in the grammar of calls: a layer is a call, a container's arguments are layers.
const syntax::Grammar& text_grammar() {
  static const syntax::Grammar grammar{.what = "model spec",
                                       .noun = "layer",
                                       .max_depth = kMaxSpecNesting,
                                       .nests = [](const syntax::Call& call, size_t position) {
                                         check_known(call.name, position, call.begin + 1);
                                         return layer_kinds().at(call.name).nests;
                                       }};
  return grammar;
}

std::vector<LayerSpec> to_layers(std::vector<syntax::Call>&& calls, size_t first_position);

// A parsed call as a layer, its arguments checked after those of its inner layers.
LayerSpec to_layer(syntax::Call&& call, size_t position) {
  LayerSpec spec;
  spec.name = std::move(call.name);
  spec.position = position;
  spec.column = call.begin + 1;
  for (syntax::Arg& a : call.args) spec.args.push_back({std::move(a.key), std::move(a.value)});
  spec.inner = to_layers(std::move(call.inner), 1);
  check_arguments(spec);
  return spec;
}

std::vector<LayerSpec> to_layers(std::vector<syntax::Call>&& calls, size_t first_position) {
  std::vector<LayerSpec> layers;
  layers.reserve(calls.size());
  for (syntax::Call& call : calls)
    layers.push_back(to_layer(std::move(call), first_position + layers.size()));
  return layers;
}

// Parses the text form; the first layer gets position `first_position`, and the layers sit
// `depth` containers deep.
std::vector<LayerSpec> parse_text(const std::string& text, size_t first_position,
                                  size_t depth = 0) {
  return to_layers(syntax::parse_calls(text, text_grammar(), first_position, depth),
                   first_position);
}

// One item of the JSON form's array: a layer in the text form, or an object.
LayerSpec json_layer(const nlohmann::json& item, size_t position) {
  LayerSpec spec;
  spec.position = position;
  if (item.is_string()) {
    auto one = parse_text(item.get<std::string>(), position);
    BP_CHECK_AS(ValueError, one.size() == 1, "model spec: layer {}: \"{}\" is not a single layer",
                position, item.get<std::string>());
    spec = std::move(one[0]);
    spec.column = 0;
    return spec;
  }
  BP_CHECK_AS(ValueError, item.is_object() && item.contains("layer") && item["layer"].is_string(),
              "model spec: layer {}: expected a string or an object with \"layer\", got {}",
              position, io::dump_json(item).substr(0, 60));
  for (char ch : item["layer"].get<std::string>())
    spec.name += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  check_known(spec.name, position, 0);
  const bool nests = layer_kinds().at(spec.name).nests;
  auto text_of = [](const nlohmann::json& v) {
    return v.is_string() ? v.get<std::string>() : io::dump_json(v);
  };
  for (auto it = item.begin(); it != item.end(); ++it) {
    if (it.key() == "layer") continue;
    if (it.key() != "args") {
      if (nests) Args(spec).error("takes layers, not keyword arguments");
      spec.args.push_back({it.key(), text_of(*it)});
      continue;
    }
    BP_CHECK_AS(ValueError, it->is_array(), "model spec: layer {} '{}': \"args\" must be an array",
                position, spec.name);
    for (const auto& v : *it) {
      if (!nests) {
        spec.args.push_back({"", text_of(v)});
        continue;
      }
      if (!v.is_string()) Args(spec).error("its \"args\" must be layers in the text form");
      for (LayerSpec& l : parse_text(v.get<std::string>(), spec.inner.size() + 1, 1))
        spec.inner.push_back(std::move(l));
    }
  }
  check_arguments(spec);
  return spec;
}

}  // namespace

std::vector<LayerSpec> parse_model_spec(const std::string& text) {
  return parse_text(text, 1);
}

std::vector<LayerSpec> parse_model_spec_json(const std::string& json_text) {
  nlohmann::json doc = io::parse_json(json_text, "model spec");
  if (doc.is_object() && doc.contains("layers")) doc = doc["layers"];
  BP_CHECK_AS(ValueError, doc.is_array() && !doc.empty(),
              "model spec: JSON must be a non-empty array of layers (or {{\"layers\": [...]}})");
  std::vector<LayerSpec> layers;
  for (const auto& item : doc) layers.push_back(json_layer(item, layers.size() + 1));
  return layers;
}

std::vector<LayerSpec> read_model_spec_file(const std::string& path) {
  const std::vector<uint8_t> bytes =
      data::detail::read_file_bytes(path, "model spec", kMaxSpecFileBytes);
  const std::string text(bytes.begin(), bytes.end());
  try {
    return parse_model_spec_json(text);
  } catch (const Error& e) {
    throw FormatError(path + ": " + e.what());  // the file's content is at fault
  }
}

std::string to_string(const std::vector<LayerSpec>& layers) {
  std::string out;
  for (const LayerSpec& l : layers) {
    if (!out.empty()) out += ',';
    out += l.name;
    if (l.args.empty() && l.inner.empty()) continue;
    out += '(';
    out += to_string(l.inner);
    for (size_t i = 0; i < l.args.size(); ++i) {
      if (i || !l.inner.empty()) out += ',';
      if (!l.args[i].key.empty()) out += l.args[i].key + '=';
      out += l.args[i].value;
    }
    out += ')';
  }
  return out;
}

std::shared_ptr<Sequential> build_model(const std::vector<LayerSpec>& layers,
                                        const Shape& input_shape, Generator& gen,
                                        int64_t max_parameters) {
  BP_CHECK_AS(ValueError, !layers.empty(), "model spec: no layers");
  // Bound the input size first: layers multiply extents in int64.
  double elements = 1;
  for (int64_t d : input_shape) elements *= static_cast<double>(d);
  BP_CHECK_AS(ValueError, elements >= 0 && elements <= 0x1p40,
              "model spec: input shape {} is negative or too large", bp::to_string(input_shape));
  auto model = std::make_shared<Sequential>();
  Shape shape = input_shape;
  double budget = static_cast<double>(max_parameters);
  for (const LayerSpec& spec : layers) {
    check_known(spec.name, spec.position, spec.column);
    Args args(spec, false, max_parameters >= 0 ? &budget : nullptr);
    std::shared_ptr<Module> layer;
    try {
      layer = layer_kinds().at(spec.name).build(args, shape, gen);
      args.finish();
      shape = layer->output_shape(shape);
    } catch (const Error& e) {
      if (std::string(e.what()).rfind("model spec:", 0) == 0) throw;
      args.error(
          fmt::format("does not fit its input of shape {}: {}", bp::to_string(shape), e.what()));
    }
    model->add(layer);
  }
  return model;
}

std::vector<std::string> layer_help() {
  std::vector<std::string> lines;
  for (const auto& [name, kind] : layer_kinds())
    lines.push_back(fmt::format("{:<26} {}", kind.syntax, kind.help));
  return lines;
}

}  // namespace bp::nn
