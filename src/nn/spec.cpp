#include "backprop/spec.hpp"

#include <nlohmann/json.hpp>

#include <cctype>
#include <charconv>
#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <optional>

#include "backprop/error.hpp"
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
    return std::make_shared<Activation>(kind, parameter);
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
                    return std::make_shared<Linear>(in.back(), units, bias, gen);
                  }};
    k["linear"] = k["dense"];
    k["linear"].syntax = "linear(units, bias=true)";
    k["linear"].help = "same as dense";
    k["flatten"] = {"flatten", "flattens each sample to one dimension",
                    [](Args&, const Shape&, Generator&) -> std::shared_ptr<Module> {
                      return std::make_shared<Flatten>();
                    }};
    auto plain = [&](const char* name, ActivationKind kind, const char* help) {
      k[name] = {name, help, [kind](Args& a, const Shape&, Generator&) {
                   return activation(a, kind, nullptr, 0);
                 }};
    };
    plain("relu", ActivationKind::relu, "max(x, 0)");
    plain("sigmoid", ActivationKind::sigmoid, "1 / (1 + e^-x)");
    plain("tanh", ActivationKind::tanh, "hyperbolic tangent");
    plain("selu", ActivationKind::selu, "scaled ELU (self-normalising)");
    plain("gelu", ActivationKind::gelu, "x·Φ(x)");
    plain("silu", ActivationKind::silu, "x·sigmoid(x)");
    plain("swish", ActivationKind::silu, "same as silu");
    k["leaky_relu"] = {"leaky_relu(slope=0.01)", "x, or slope·x for x < 0",
                       [](Args& a, const Shape&, Generator&) {
                         return activation(a, ActivationKind::leaky_relu, "slope", 0.01);
                       }};
    k["elu"] = {"elu(alpha=1)", "x, or alpha·(e^x - 1) for x < 0",
                [](Args& a, const Shape&, Generator&) {
                  return activation(a, ActivationKind::elu, "alpha", 1.0);
                }};
    k["softplus"] = {"softplus(beta=1)", "log(1 + e^(beta·x)) / beta",
                     [](Args& a, const Shape&, Generator&) {
                       return activation(a, ActivationKind::softplus, "beta", 1.0);
                     }};
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
        if (a.count() == 0) a.error("needs at least one inner layer");
        std::vector<LayerSpec> inner;
        for (size_t i = 0; i < a.count(); ++i) {
          const std::string& text = a.text(i);
          if (text.find('=') != std::string::npos && text.find('(') == std::string::npos)
            a.error(fmt::format("takes layers, not the argument '{}'", text));
          try {
            for (LayerSpec& l : parse_model_spec(text)) inner.push_back(std::move(l));
          } catch (const Error& e) {
            a.error(fmt::format("inner layer {}: {}", i + 1, e.what()));
          }
        }
        if (a.dry_run()) return nullptr;
        std::shared_ptr<Sequential> body;
        try {
          body = build_model(inner, in, gen, a.budget_left());
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

const LayerTable& layer_kinds() {
  static const LayerTable table = [] {
    LayerTable t;
    add_core_layers(t);
    add_container_layers(t);
    add_conv_layers(t);
    add_norm_layers(t);
    add_recurrent_layers(t);
    return t;
  }();
  return table;
}

}  // namespace spec

namespace {

using spec::Args;
using spec::layer_kinds;

bool is_name_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

void check_known(const LayerSpec& spec) {
  if (layer_kinds().count(spec.name)) return;
  std::string names;
  for (const auto& [name, kind] : layer_kinds()) names += (names.empty() ? "" : ", ") + name;
  fail("model spec: layer {} '{}'{}: unknown layer (known: {})", spec.position, spec.name,
       spec.column ? fmt::format(" (column {})", spec.column) : std::string(), names);
}

// Checks a layer's arguments without building it: runs its builder in dry-run mode (which reads
// every argument and allocates nothing), reusing the one place where arguments are read.
void check_arguments(const LayerSpec& spec) {
  Args args(spec, /*dry_run=*/true);
  Generator gen(0);
  layer_kinds().at(spec.name).build(args, {1}, gen);
  args.finish();
}

// Parses the text form; the first layer gets position `first_position`.
std::vector<LayerSpec> parse_text(const std::string& text, size_t first_position) {
  std::vector<LayerSpec> layers;
  size_t i = 0;
  const size_t n = text.size();
  auto syntax_error = [&](size_t at, const std::string& what) {
    fail("model spec: {} at column {} of \"{}\"", what, at + 1, text);
  };
  auto skip_space = [&] {
    while (i < n && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
  };
  skip_space();
  if (i == n) fail("model spec: the spec is empty");
  while (true) {
    skip_space();
    LayerSpec spec;
    spec.position = first_position + layers.size();
    spec.column = i + 1;
    size_t start = i;
    while (i < n && is_name_char(text[i])) ++i;
    if (i == start) syntax_error(i, "expected a layer name");
    for (size_t j = start; j < i; ++j)
      spec.name += static_cast<char>(std::tolower(static_cast<unsigned char>(text[j])));
    skip_space();
    const bool nests = layer_kinds().count(spec.name) > 0 && layer_kinds().at(spec.name).nests;
    if (i < n && text[i] == '(') {
      ++i;
      while (true) {
        size_t arg_start = i;
        // Containers take whole layers as arguments, so their arguments may hold parentheses.
        int depth = 0;
        while (i < n) {
          if (text[i] == '(') {
            if (!nests) syntax_error(i, "unexpected '('");
            ++depth;
          } else if (text[i] == ')') {
            if (depth == 0) break;
            --depth;
          } else if (text[i] == ',' && depth == 0) {
            break;
          }
          ++i;
        }
        if (i == n) syntax_error(arg_start, "unclosed '(' in layer '" + spec.name + "'");
        std::string raw = trim(text.substr(arg_start, i - arg_start));
        if (raw.empty()) {
          if (text[i] == ')' && spec.args.empty()) {
            ++i;
            break;
          }
          syntax_error(arg_start, "empty argument in layer '" + spec.name + "'");
        }
        LayerArg arg;
        // key=value only when the '=' comes before any '(': in residual(dense(4,bias=false)) the
        // '=' belongs to the inner layer.
        size_t eq = raw.find('=');
        if (eq != std::string::npos && raw.find('(') < eq) eq = std::string::npos;
        if (eq == std::string::npos) {
          arg.value = raw;
        } else {
          arg.key = trim(raw.substr(0, eq));
          arg.value = trim(raw.substr(eq + 1));
          if (arg.key.empty() || arg.value.empty())
            syntax_error(arg_start, "malformed argument '" + raw + "'");
        }
        spec.args.push_back(arg);
        if (text[i++] == ')') break;
      }
    }
    check_known(spec);
    check_arguments(spec);
    layers.push_back(spec);
    skip_space();
    if (i == n) break;
    if (text[i] != ',') syntax_error(i, fmt::format("unexpected '{}'", text[i]));
    ++i;
  }
  return layers;
}

}  // namespace

std::vector<LayerSpec> parse_model_spec(const std::string& text) { return parse_text(text, 1); }

std::vector<LayerSpec> parse_model_spec_json(const std::string& json_text) {
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(json_text);
  } catch (const nlohmann::json::exception& e) {
    fail("model spec: invalid JSON: {}", e.what());
  }
  if (doc.is_object() && doc.contains("layers")) doc = doc["layers"];
  BP_CHECK(doc.is_array() && !doc.empty(),
           "model spec: JSON must be a non-empty array of layers (or {{\"layers\": [...]}})");
  std::vector<LayerSpec> layers;
  for (const auto& item : doc) {
    LayerSpec spec;
    spec.position = layers.size() + 1;
    if (item.is_string()) {
      auto one = parse_text(item.get<std::string>(), spec.position);
      BP_CHECK(one.size() == 1, "model spec: layer {}: \"{}\" is not a single layer", spec.position,
               item.get<std::string>());
      spec.name = one[0].name;
      spec.args = one[0].args;
    } else if (item.is_object() && item.contains("layer") && item["layer"].is_string()) {
      for (char ch : item["layer"].get<std::string>())
        spec.name += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      for (auto it = item.begin(); it != item.end(); ++it) {
        if (it.key() == "layer") continue;
        if (it.key() == "args") {
          BP_CHECK(it->is_array(), "model spec: layer {} '{}': \"args\" must be an array",
                   spec.position, spec.name);
          for (const auto& v : *it) spec.args.push_back({"", v.is_string() ? v.get<std::string>() : v.dump()});
        } else {
          spec.args.push_back(
              {it.key(), it->is_string() ? it->get<std::string>() : it->dump()});
        }
      }
    } else {
      fail("model spec: layer {}: expected a string or an object with \"layer\", got {}",
           spec.position, item.dump());
    }
    check_known(spec);
    check_arguments(spec);
    layers.push_back(spec);
  }
  return layers;
}

std::string to_string(const std::vector<LayerSpec>& layers) {
  std::string out;
  for (const LayerSpec& l : layers) {
    if (!out.empty()) out += ',';
    out += l.name;
    if (l.args.empty()) continue;
    out += '(';
    for (size_t i = 0; i < l.args.size(); ++i) {
      if (i) out += ',';
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
  BP_CHECK(!layers.empty(), "model spec: no layers");
  // Bound the input size first: layers multiply extents in int64.
  double elements = 1;
  for (int64_t d : input_shape) elements *= static_cast<double>(d);
  BP_CHECK(elements >= 0 && elements <= 0x1p40,
           "model spec: input shape {} is negative or too large", bp::to_string(input_shape));
  auto model = std::make_shared<Sequential>();
  Shape shape = input_shape;
  double budget = static_cast<double>(max_parameters);
  for (const LayerSpec& spec : layers) {
    check_known(spec);
    Args args(spec, false, max_parameters >= 0 ? &budget : nullptr);
    std::shared_ptr<Module> layer;
    try {
      layer = layer_kinds().at(spec.name).build(args, shape, gen);
      args.finish();
      shape = layer->output_shape(shape);
    } catch (const Error& e) {
      if (std::string(e.what()).rfind("model spec:", 0) == 0) throw;
      args.error(fmt::format("does not fit its input of shape {}: {}", bp::to_string(shape),
                             e.what()));
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
