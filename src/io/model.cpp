#include "backprop/model.hpp"

#include <nlohmann/json.hpp>

#include <cmath>
#include <unordered_map>

#include "backprop/error.hpp"
#include "backprop/io.hpp"
#include "io/json.hpp"

namespace bp {

using nlohmann::json;

namespace {

constexpr const char* kParamPrefix = "param/";
constexpr const char* kOptimPrefix = "optim/";
constexpr const char* kBufferPrefix = "buffer/";

const char* task_name(data::Task t) {
  return t == data::Task::classification ? "classification" : "regression";
}

const char* norm_name(data::NormKind k) {
  switch (k) {
    case data::NormKind::none:
      return "none";
    case data::NormKind::min_max:
      return "min_max";
    case data::NormKind::standardize:
      return "standardize";
  }
  return "none";
}

data::NormKind norm_kind(const std::string& name, const std::string& path) {
  if (name == "none") return data::NormKind::none;
  if (name == "min_max") return data::NormKind::min_max;
  if (name == "standardize") return data::NormKind::standardize;
  fail_as<FormatError>("{}: unknown normalisation '{}'", path, name);
}

Tensor vector_tensor(const std::vector<float>& v) {
  return Tensor::from_data(v, {static_cast<int64_t>(v.size())});
}

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

// The first difference between the tensors `want` names and those `have` holds, or "" when both
// hold the same names with the same shapes: a name `have` lacks, a shape that differs (checked in
// `want`'s order), then a name `have` holds beyond `want`. `what` is "parameter" or "buffer".
std::string first_mismatch(const NamedTensors& want, const NamedTensors& have, const char* what,
                           const char* have_label, const char* want_label) {
  std::unordered_map<std::string, const Tensor*> held;
  for (const auto& [name, t] : have) held.emplace(name, &t);
  for (const auto& [name, t] : want) {
    const auto it = held.find(name);
    if (it == held.end()) return fmt::format("{} '{}' is missing from {}", what, name, have_label);
    if (it->second->shape() != t.shape())
      return fmt::format("{} '{}' has shape {} in {}, {} needs {}", what, name,
                         to_string(it->second->shape()), have_label, want_label,
                         to_string(t.shape()));
    held.erase(it);
  }
  for (const auto& [name, t] : have)
    if (held.count(name))
      return fmt::format("{} holds an unexpected {} '{}' that {} lacks", have_label, what, name,
                         want_label);
  return "";
}

// The tensors of `archive` whose names start with `prefix`, without it.
NamedTensors stored_with_prefix(const io::Archive& archive, const std::string& prefix) {
  NamedTensors out;
  for (const auto& [name, t] : archive.tensors)
    if (name.rfind(prefix, 0) == 0) out.emplace_back(name.substr(prefix.size()), t);
  return out;
}

// load_model rebuilds the network from the spec: refuse to write a model it could not rebuild.
void check_rebuildable(const Model& model) {
  BP_CHECK_AS(
      ValueError, !model.spec.empty(),
      "save_model: the model has no spec, so load_model could not rebuild its network; save "
      "a hand-built module with save_parameters instead");
  Generator gen(0);
  const auto rebuilt = nn::build_model(model.spec, model.input_shape, gen);
  std::string mismatch =
      first_mismatch(rebuilt->named_parameters(), model.network->named_parameters(), "parameter",
                     "the network", "its spec");
  if (mismatch.empty())
    mismatch = first_mismatch(rebuilt->named_buffers(), model.network->named_buffers(), "buffer",
                              "the network", "its spec");
  BP_CHECK_AS(
      ValueError, mismatch.empty(),
      "save_model: the network is not the one its spec '{}' builds ({}), so load_model could "
      "not reload it; save a hand-built module with save_parameters instead",
      nn::to_string(model.spec), mismatch);
}

// A forecaster's windows fit its network: inputs of `window` rows, `horizon` regression outputs.
template <class E>
void check_forecast(const Model& m, const std::string& what) {
  const Forecast& f = *m.forecast;
  if (f.window > 0 && f.horizon > 0 && m.task == data::Task::regression &&
      m.input_shape.size() == 2 && m.input_shape[0] == f.window && m.num_outputs == f.horizon)
    return;
  fail_as<E>(
      "{}: a forecast of {} values from windows of {} rows does not fit a {} model of "
      "inputs {} and {} outputs",
      what, f.horizon, f.window, task_name(m.task), to_string(m.input_shape), m.num_outputs);
}

io::Archive model_archive(const Model& model, const char* kind) {
  BP_CHECK_AS(ValueError, model.network != nullptr, "save_model: the model has no network");
  check_rebuildable(model);
  const Shape out = model.network->output_shape(model.input_shape);
  BP_CHECK_AS(ValueError,
              !model.vocabulary || (out.size() == 2 && out[1] == model.vocabulary->size()),
              "save_model: a vocabulary of {} tokens for a network whose outputs are {}, not "
              "(seq_len, {})",
              model.vocabulary ? model.vocabulary->size() : 0, to_string(out),
              model.vocabulary ? model.vocabulary->size() : 0);
  if (model.vocabulary) model.vocabulary->validate();
  if (model.forecast) check_forecast<ValueError>(model, "save_model");
  io::Archive a;
  json meta;
  meta["kind"] = kind;
  meta["spec"] = nn::to_string(model.spec);
  meta["input_shape"] = model.input_shape;
  meta["task"] = task_name(model.task);
  meta["num_outputs"] = model.num_outputs;
  meta["label_names"] = model.label_names;
  meta["normalization"] = norm_name(model.normalizer.kind());
  if (model.vocabulary)
    meta["vocabulary"] = {
        {"tokens", model.vocabulary->kind == data::TokenKind::bytes ? "bytes" : "code_points"},
        {"symbols", model.vocabulary->symbols}};
  if (model.forecast)
    meta["forecast"] = {{"window", model.forecast->window},
                        {"horizon", model.forecast->horizon},
                        {"target", model.forecast->target}};
  meta["info"] =
      io::parse_json(model.info_json.empty() ? "{}" : model.info_json, "save_model: info");
  a.meta_json = io::dump_json(meta);
  for (auto& [name, p] : model.network->named_parameters())
    a.tensors.emplace_back(kParamPrefix + name, p);
  for (auto& [name, b] : model.network->named_buffers())
    a.tensors.emplace_back(kBufferPrefix + name, b);
  a.tensors.emplace_back("norm/offset", vector_tensor(model.normalizer.offset()));
  a.tensors.emplace_back("norm/scale", vector_tensor(model.normalizer.scale()));
  return a;
}

// Refuses a file whose tensors hold NaN or infinity: such weights only ever produce NaN outputs,
// and a run resumed from them would train on garbage without a word.
void check_finite(const io::Archive& a, const std::string& path) {
  for (const auto& [name, t] : a.tensors) {
    const float* p = t.data();
    for (int64_t i = 0; i < t.numel(); ++i)
      BP_CHECK_AS(FormatError, std::isfinite(p[i]),
                  "{}: tensor '{}' holds a non-finite value ({}) at element {}", path, name, p[i],
                  i);
  }
}

// A text model's vocabulary: {"tokens": "code_points" or "bytes", "symbols": [...]}.
data::Vocabulary vocabulary_from_meta(const json& j, const std::string& path) {
  const std::string what = path + ": malformed vocabulary";
  BP_CHECK_AS(FormatError, j.is_object(), "{}", what);
  const auto tokens = io::json_field<std::string>(j, "tokens", what);
  BP_CHECK_AS(FormatError, tokens == "code_points" || tokens == "bytes", "{}: unknown tokens '{}'",
              what, tokens);
  data::Vocabulary v;
  v.kind = tokens == "bytes" ? data::TokenKind::bytes : data::TokenKind::code_points;
  for (const int64_t s : io::json_field<std::vector<int64_t>>(j, "symbols", what)) {
    BP_CHECK_AS(FormatError, s >= 0 && s <= 0x10FFFF, "{}: symbol {} is out of range", what, s);
    v.symbols.push_back(static_cast<uint32_t>(s));
  }
  try {
    v.validate();
  } catch (const Error& e) {
    fail_as<FormatError>("{}: {}", what, e.what());
  }
  return v;
}

// The model's description from the metadata (everything but the weights).
Model model_from_meta(const json& meta, const std::string& path) {
  const std::string what = path + ": malformed model metadata";
  Model m;
  const auto kind = io::json_field<std::string>(meta, "kind", what);
  BP_CHECK_AS(FormatError, kind == "model" || kind == "checkpoint",
              "{}: not a model file (kind '{}')", path, kind);
  m.spec = nn::parse_model_spec(io::json_field<std::string>(meta, "spec", what));
  m.input_shape = io::json_field<Shape>(meta, "input_shape", what);
  for (int64_t d : m.input_shape)
    BP_CHECK_AS(FormatError, d > 0 && d < (1 << 30), "{}: bad input shape", path);
  const auto task = io::json_field<std::string>(meta, "task", what);
  BP_CHECK_AS(FormatError, task == "classification" || task == "regression",
              "{}: unknown task '{}'", path, task);
  m.task = task == "classification" ? data::Task::classification : data::Task::regression;
  m.num_outputs = io::json_field<int64_t>(meta, "num_outputs", what);
  m.label_names = io::json_field<std::vector<std::string>>(meta, "label_names", what);
  m.info_json = meta.contains("info") ? io::dump_json(meta["info"]) : "{}";
  if (meta.contains("vocabulary")) m.vocabulary = vocabulary_from_meta(meta["vocabulary"], path);
  if (meta.contains("forecast")) {
    const json& f = meta["forecast"];
    BP_CHECK_AS(FormatError, f.is_object(), "{}: malformed forecast", path);
    m.forecast = Forecast{.window = io::json_field<int64_t>(f, "window", what),
                          .horizon = io::json_field<int64_t>(f, "horizon", what),
                          .target = io::json_field<std::string>(f, "target", what)};
    check_forecast<FormatError>(m, path);
  }
  BP_CHECK_AS(
      FormatError,
      !m.vocabulary ||
          (m.input_shape.size() == 1 && m.num_outputs == m.input_shape[0] * m.vocabulary->size()),
      "{}: a vocabulary of {} tokens does not fit a model of inputs {} and {} outputs", path,
      m.vocabulary ? m.vocabulary->size() : 0, to_string(m.input_shape), m.num_outputs);
  return m;
}

// Copies the stored tensors named prefix + name into `into` (parameters or buffers).
void copy_stored(const io::Archive& a, const std::string& path, const char* prefix,
                 const std::vector<std::pair<std::string, Tensor>>& into, const char* what) {
  for (const auto& [name, t] : into) {
    const Tensor& stored = a.tensor(prefix + name);
    BP_CHECK_AS(FormatError, stored.shape() == t.shape(),
                "{}: {} '{}' has shape {}, the spec needs {}", path, what, name,
                to_string(stored.shape()), to_string(t.shape()));
    Tensor target = t;
    target.copy_(stored);
  }
}

Model model_from_archive(const io::Archive& a, const std::string& path, json& meta) {
  try {
    const std::string what = path + ": malformed model metadata";
    meta = io::parse_json(a.meta_json, what);
    check_finite(a, path);
    Model m = model_from_meta(meta, path);
    // The spec comes from the file: build no more parameters than the file holds.
    double stored_parameters = 0;
    for (const auto& [name, t] : a.tensors)
      if (name.rfind(kParamPrefix, 0) == 0) stored_parameters += static_cast<double>(t.numel());
    Generator gen(0);
    m.network =
        nn::build_model(m.spec, m.input_shape, gen, static_cast<int64_t>(stored_parameters));
    copy_stored(a, path, kParamPrefix, m.network->named_parameters(), "parameter");
    copy_stored(a, path, kBufferPrefix, m.network->named_buffers(), "buffer");
    const Tensor& offset = a.tensor("norm/offset");
    const Tensor& scale = a.tensor("norm/scale");
    m.normalizer = data::Normalizer::from_stats(
        norm_kind(io::json_field<std::string>(meta, "normalization", what), path),
        offset.to_vector(), scale.to_vector());
    const auto stats = static_cast<int64_t>(m.normalizer.offset().size());
    BP_CHECK_AS(FormatError, stats == 0 || stats == 1 || stats == numel(m.input_shape),
                "{}: the normalisation has {} values, the input shape {} needs {}", path, stats,
                to_string(m.input_shape), numel(m.input_shape));
    return m;
  } catch (const Error& e) {
    // Whatever in the file made building the model fail, the file is at fault: name it.
    if (std::string(e.what()).rfind(path, 0) == 0) throw;
    throw FormatError(path + ": " + e.what());
  }
}

}  // namespace

void save_parameters(const nn::Module& module, const std::string& path) {
  io::Archive a;
  a.meta_json = io::dump_json(json{{"kind", "parameters"}});
  for (auto& [name, p] : module.named_parameters()) a.tensors.emplace_back(kParamPrefix + name, p);
  for (auto& [name, b] : module.named_buffers()) a.tensors.emplace_back(kBufferPrefix + name, b);
  io::save_archive(path, a);
}

void load_parameters(nn::Module& module, const std::string& path) {
  const io::Archive a = io::load_archive(path);
  const json meta = io::parse_json(a.meta_json, path + ": malformed metadata");
  const auto kind = io::json_field<std::string>(meta, "kind", path + ": malformed metadata");
  BP_CHECK_AS(FormatError, kind == "parameters" || kind == "model" || kind == "checkpoint",
              "{}: holds no parameters (kind '{}')", path, kind);
  check_finite(a, path);
  const NamedTensors params = module.named_parameters(), buffers = module.named_buffers();
  const NamedTensors stored_params = stored_with_prefix(a, kParamPrefix);
  const NamedTensors stored_buffers = stored_with_prefix(a, kBufferPrefix);
  std::string mismatch =
      first_mismatch(params, stored_params, "parameter", "the file", "the module");
  if (mismatch.empty())
    mismatch = first_mismatch(buffers, stored_buffers, "buffer", "the file", "the module");
  BP_CHECK_AS(FormatError, mismatch.empty(), "{}: does not fit the module: {}", path, mismatch);
  // Everything checked: only now change the module.
  copy_stored(a, path, kParamPrefix, params, "parameter");
  copy_stored(a, path, kBufferPrefix, buffers, "buffer");
}

Model Model::create(std::vector<nn::LayerSpec> spec, const Shape& input_shape, Generator& gen) {
  Model m;
  m.network = nn::build_model(spec, input_shape, gen);
  m.spec = std::move(spec);
  m.input_shape = input_shape;
  Shape out = m.network->output_shape(input_shape);
  m.num_outputs = numel(out);
  return m;
}

Tensor Model::predict(const Tensor& raw_features) const {
  BP_CHECK_AS(
      ShapeError,
      raw_features.defined() &&
          raw_features.dim() == static_cast<int64_t>(input_shape.size()) + 1 &&
          Shape(raw_features.shape().begin() + 1, raw_features.shape().end()) == input_shape,
      "predict: features of shape {} do not match the model's input shape {} (plus a batch "
      "dimension)",
      raw_features.defined() ? to_string(raw_features.shape()) : "undefined",
      to_string(input_shape));
  NoGradGuard no_grad;
  network->eval();
  Tensor x =
      normalizer.kind() == data::NormKind::none ? raw_features : normalizer.transform(raw_features);
  return network->forward(x);
}

void save_model(const std::string& path, const Model& model) {
  io::save_archive(path, model_archive(model, "model"));
}

Model load_model(const std::string& path) {
  io::Archive a = io::load_archive(path);
  json meta;
  return model_from_archive(a, path, meta);
}

void save_checkpoint(const std::string& path, const Model& model, const optim::Optimizer& optimizer,
                     int64_t epochs_done, const std::string& trainer_json, int64_t batches_done) {
  io::Archive a = model_archive(model, "checkpoint");
  json meta = io::parse_json(a.meta_json, "save_checkpoint");
  meta["epochs_done"] = epochs_done;
  if (batches_done > 0) meta["batches_done"] = batches_done;
  meta["optimizer"] = optimizer.kind();
  meta["trainer"] = io::parse_json(trainer_json.empty() ? "{}" : trainer_json,
                                   "save_checkpoint: trainer settings");
  a.meta_json = io::dump_json(meta);
  for (auto& [name, t] : optimizer.state()) a.tensors.emplace_back(kOptimPrefix + name, t);
  io::save_archive(path, a);
}

Checkpoint load_checkpoint(const std::string& path) {
  io::Archive a = io::load_archive(path);
  json meta;
  Checkpoint c;
  c.model = model_from_archive(a, path, meta);
  BP_CHECK_AS(FormatError, meta["kind"] == "checkpoint",
              "{}: a model file, not a checkpoint: it holds no optimizer state to resume from",
              path);
  const std::string what = path + ": malformed checkpoint metadata";
  c.epochs_done = io::json_field<int64_t>(meta, "epochs_done", what);
  c.optimizer_kind = io::json_field<std::string>(meta, "optimizer", what);
  BP_CHECK_AS(FormatError, meta.contains("trainer"), "{}: field 'trainer' is missing", what);
  c.trainer_json = io::dump_json(meta["trainer"]);
  if (meta.contains("batches_done"))
    c.batches_done = io::json_field<int64_t>(meta, "batches_done", what);
  BP_CHECK_AS(FormatError, c.epochs_done >= 0 && c.batches_done >= 0,
              "{}: negative epoch or batch count", path);
  const std::string prefix = kOptimPrefix;
  for (auto& [name, t] : a.tensors)
    if (name.rfind(prefix, 0) == 0) c.optimizer_state.emplace_back(name.substr(prefix.size()), t);
  return c;
}

}  // namespace bp
