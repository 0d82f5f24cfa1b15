#include "backprop/spec.hpp"

#include <nlohmann/json.hpp>

#include <cctype>
#include <charconv>
#include <cmath>
#include <functional>
#include <map>
#include <optional>

#include "backprop/error.hpp"

namespace bp::nn {

namespace {

// Reads the arguments of one layer by name, checking each is used and well-typed.
class Args {
 public:
  explicit Args(const LayerSpec& spec) : spec_(spec), used_(spec.args.size(), false) {}

  // The positional argument `index`, or the keyword `key`; `fallback` when absent (nullopt means
  // required).
  double number(size_t index, const char* key, std::optional<double> fallback) {
    const LayerArg* arg = find(index, key);
    if (!arg) {
      if (!fallback) error(fmt::format("missing argument '{}'", key));
      return *fallback;
    }
    double value = 0;
    const char* begin = arg->value.data();
    const char* end = begin + arg->value.size();
    auto [ptr, ec] = std::from_chars(begin, end, value);
    if (ec != std::errc() || ptr != end || !std::isfinite(value))
      error(fmt::format("argument '{}' must be a number, got '{}'", key, arg->value));
    return value;
  }

  int64_t positive_int(size_t index, const char* key, std::optional<int64_t> fallback) {
    double v = number(index, key, fallback ? std::optional<double>(static_cast<double>(*fallback))
                                           : std::nullopt);
    if (v != std::floor(v) || v < 1 || v > 1e9)
      error(fmt::format("argument '{}' must be a positive integer, got {}", key, v));
    return static_cast<int64_t>(v);
  }

  bool flag(size_t index, const char* key, bool fallback) {
    const LayerArg* arg = find(index, key);
    if (!arg) return fallback;
    if (arg->value == "true" || arg->value == "1") return true;
    if (arg->value == "false" || arg->value == "0") return false;
    error(fmt::format("argument '{}' must be true or false, got '{}'", key, arg->value));
  }

  // Every argument must have been consumed: anything left is a typo or too many arguments.
  void finish() const {
    for (size_t i = 0; i < used_.size(); ++i)
      if (!used_[i]) {
        const LayerArg& a = spec_.args[i];
        error(a.key.empty() ? fmt::format("unexpected argument '{}'", a.value)
                            : fmt::format("unknown argument '{}'", a.key));
      }
  }

  [[noreturn]] void error(const std::string& what) const {
    fail("model spec: layer {} '{}'{}: {}", spec_.position, spec_.name,
         spec_.column ? fmt::format(" (column {})", spec_.column) : std::string(), what);
  }

 private:
  const LayerArg* find(size_t index, const char* key) {
    size_t positional = 0;
    for (size_t i = 0; i < spec_.args.size(); ++i) {
      const LayerArg& a = spec_.args[i];
      if (a.key.empty() ? positional++ == index : a.key == key) {
        used_[i] = true;
        return &a;
      }
    }
    return nullptr;
  }

  const LayerSpec& spec_;
  std::vector<bool> used_;
};

using Builder = std::function<std::shared_ptr<Module>(Args&, const Shape&, Generator&)>;

struct LayerKind {
  std::string syntax;
  std::string help;
  Builder build;
};

std::shared_ptr<Module> activation(Args& args, ActivationKind kind, const char* key,
                                   double fallback) {
  float parameter = key ? static_cast<float>(args.number(0, key, fallback)) : 0.0f;
  return std::make_shared<Activation>(kind, parameter);
}

const std::map<std::string, LayerKind>& layer_kinds() {
  static const std::map<std::string, LayerKind> kinds = [] {
    std::map<std::string, LayerKind> k;
    k["dense"] = {"dense(units, bias=true)", "fully connected layer x·Wᵀ + b over the last axis",
                  [](Args& a, const Shape& in, Generator& gen) -> std::shared_ptr<Module> {
                    int64_t units = a.positive_int(0, "units", std::nullopt);
                    bool bias = a.flag(1, "bias", true);
                    if (in.empty()) a.error("needs an input with at least one dimension");
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
    return k;
  }();
  return kinds;
}

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

// Checks a layer's arguments without building it: builds it on a dummy shape that every layer
// accepts, which reuses the one place where arguments are read.
void check_arguments(const LayerSpec& spec) {
  Args args(spec);
  Generator gen(0);
  layer_kinds().at(spec.name).build(args, {1}, gen);
  args.finish();
}

}  // namespace

std::vector<LayerSpec> parse_model_spec(const std::string& text) {
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
    spec.position = layers.size() + 1;
    spec.column = i + 1;
    size_t start = i;
    while (i < n && is_name_char(text[i])) ++i;
    if (i == start) syntax_error(i, "expected a layer name");
    for (size_t j = start; j < i; ++j)
      spec.name += static_cast<char>(std::tolower(static_cast<unsigned char>(text[j])));
    skip_space();
    if (i < n && text[i] == '(') {
      ++i;
      while (true) {
        size_t arg_start = i;
        while (i < n && text[i] != ',' && text[i] != ')' && text[i] != '(') ++i;
        if (i == n) syntax_error(arg_start, "unclosed '(' in layer '" + spec.name + "'");
        if (text[i] == '(') syntax_error(i, "unexpected '('");
        std::string raw = trim(text.substr(arg_start, i - arg_start));
        if (raw.empty()) {
          if (text[i] == ')' && spec.args.empty()) {
            ++i;
            break;
          }
          syntax_error(arg_start, "empty argument in layer '" + spec.name + "'");
        }
        LayerArg arg;
        size_t eq = raw.find('=');
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
      auto one = parse_model_spec(item.get<std::string>());
      BP_CHECK(one.size() == 1, "model spec: layer {}: \"{}\" is not a single layer", spec.position,
               item.get<std::string>());
      spec.name = one[0].name;
      spec.args = one[0].args;
    } else if (item.is_object() && item.contains("layer") && item["layer"].is_string()) {
      spec.name = item["layer"].get<std::string>();
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
                                        const Shape& input_shape, Generator& gen) {
  BP_CHECK(!layers.empty(), "model spec: no layers");
  auto model = std::make_shared<Sequential>();
  Shape shape = input_shape;
  for (const LayerSpec& spec : layers) {
    check_known(spec);
    Args args(spec);
    std::shared_ptr<Module> layer = layer_kinds().at(spec.name).build(args, shape, gen);
    args.finish();
    try {
      shape = layer->output_shape(shape);
    } catch (const Error& e) {
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
