#include "backprop/model.hpp"

#include <nlohmann/json.hpp>

#include "backprop/error.hpp"
#include "backprop/io.hpp"

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
    case data::NormKind::none: return "none";
    case data::NormKind::min_max: return "min_max";
    case data::NormKind::standardize: return "standardize";
  }
  return "none";
}

data::NormKind norm_kind(const std::string& name, const std::string& path) {
  if (name == "none") return data::NormKind::none;
  if (name == "min_max") return data::NormKind::min_max;
  if (name == "standardize") return data::NormKind::standardize;
  fail("{}: unknown normalisation '{}'", path, name);
}

Tensor vector_tensor(const std::vector<float>& v) {
  return Tensor::from_data(v, {static_cast<int64_t>(v.size())});
}

io::Archive model_archive(const Model& model, const char* kind) {
  BP_CHECK(model.network != nullptr, "save_model: the model has no network");
  io::Archive a;
  json meta;
  meta["kind"] = kind;
  meta["spec"] = nn::to_string(model.spec);
  meta["input_shape"] = model.input_shape;
  meta["task"] = task_name(model.task);
  meta["num_outputs"] = model.num_outputs;
  meta["label_names"] = model.label_names;
  meta["normalization"] = norm_name(model.normalizer.kind());
  meta["info"] = json::parse(model.info_json.empty() ? "{}" : model.info_json);
  a.meta_json = meta.dump();
  for (auto& [name, p] : model.network->named_parameters())
    a.tensors.emplace_back(kParamPrefix + name, p);
  for (auto& [name, b] : model.network->named_buffers())
    a.tensors.emplace_back(kBufferPrefix + name, b);
  a.tensors.emplace_back("norm/offset", vector_tensor(model.normalizer.offset()));
  a.tensors.emplace_back("norm/scale", vector_tensor(model.normalizer.scale()));
  return a;
}

Model model_from_archive(const io::Archive& a, const std::string& path, json& meta) {
  try {
    meta = json::parse(a.meta_json);
    Model m;
    std::string kind = meta.at("kind").get<std::string>();
    BP_CHECK(kind == "model" || kind == "checkpoint", "{}: not a model file (kind '{}')", path, kind);
    m.spec = nn::parse_model_spec(meta.at("spec").get<std::string>());
    m.input_shape = meta.at("input_shape").get<Shape>();
    for (int64_t d : m.input_shape) BP_CHECK(d > 0 && d < (1 << 30), "{}: bad input shape", path);
    std::string task = meta.at("task").get<std::string>();
    BP_CHECK(task == "classification" || task == "regression", "{}: unknown task '{}'", path, task);
    m.task = task == "classification" ? data::Task::classification : data::Task::regression;
    m.num_outputs = meta.at("num_outputs").get<int64_t>();
    m.label_names = meta.at("label_names").get<std::vector<std::string>>();
    m.info_json = meta.contains("info") ? meta["info"].dump() : "{}";
    // The spec comes from the file: build no more parameters than the file holds.
    double stored_parameters = 0;
    for (const auto& [name, t] : a.tensors)
      if (name.rfind(kParamPrefix, 0) == 0) stored_parameters += static_cast<double>(t.numel());
    Generator gen(0);
    m.network = nn::build_model(m.spec, m.input_shape, gen,
                                static_cast<int64_t>(stored_parameters));
    for (auto& [name, p] : m.network->named_parameters()) {
      const Tensor& stored = a.tensor(kParamPrefix + name);
      BP_CHECK(stored.shape() == p.shape(), "{}: parameter '{}' has shape {}, the spec needs {}",
               path, name, to_string(stored.shape()), to_string(p.shape()));
      p.copy_(stored);
    }
    for (auto& [name, b] : m.network->named_buffers()) {
      const Tensor& stored = a.tensor(kBufferPrefix + name);
      BP_CHECK(stored.shape() == b.shape(), "{}: buffer '{}' has shape {}, the spec needs {}", path,
               name, to_string(stored.shape()), to_string(b.shape()));
      b.copy_(stored);
    }
    const Tensor& offset = a.tensor("norm/offset");
    const Tensor& scale = a.tensor("norm/scale");
    m.normalizer = data::Normalizer::from_stats(
        norm_kind(meta.at("normalization").get<std::string>(), path), offset.to_vector(),
        scale.to_vector());
    const auto stats = static_cast<int64_t>(m.normalizer.offset().size());
    BP_CHECK(stats == 0 || stats == 1 || stats == numel(m.input_shape),
             "{}: the normalisation has {} values, the input shape {} needs {}", path, stats,
             to_string(m.input_shape), numel(m.input_shape));
    return m;
  } catch (const json::exception& e) {
    fail("{}: malformed model metadata: {}", path, e.what());
  } catch (const Error& e) {
    std::string what = e.what();
    if (what.rfind(path, 0) == 0) throw;
    fail("{}: {}", path, what);
  }
}

}  // namespace

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
  BP_CHECK(raw_features.defined() && raw_features.dim() == static_cast<int64_t>(input_shape.size()) + 1 &&
               Shape(raw_features.shape().begin() + 1, raw_features.shape().end()) == input_shape,
           "predict: features of shape {} do not match the model's input shape {} (plus a batch "
           "dimension)",
           raw_features.defined() ? to_string(raw_features.shape()) : "undefined",
           to_string(input_shape));
  NoGradGuard no_grad;
  network->eval();
  Tensor x = normalizer.kind() == data::NormKind::none ? raw_features
                                                       : normalizer.transform(raw_features);
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
                     int64_t epochs_done, const std::string& trainer_json) {
  io::Archive a = model_archive(model, "checkpoint");
  json meta = json::parse(a.meta_json);
  meta["epochs_done"] = epochs_done;
  meta["optimizer"] = optimizer.kind();
  meta["trainer"] = json::parse(trainer_json.empty() ? "{}" : trainer_json);
  a.meta_json = meta.dump();
  for (auto& [name, t] : optimizer.state()) a.tensors.emplace_back(kOptimPrefix + name, t);
  io::save_archive(path, a);
}

Checkpoint load_checkpoint(const std::string& path) {
  io::Archive a = io::load_archive(path);
  json meta;
  Checkpoint c;
  c.model = model_from_archive(a, path, meta);
  BP_CHECK(meta.value("kind", "") == "checkpoint",
           "{}: a model file, not a checkpoint: it holds no optimizer state to resume from", path);
  try {
    c.epochs_done = meta.at("epochs_done").get<int64_t>();
    c.optimizer_kind = meta.at("optimizer").get<std::string>();
    c.trainer_json = meta.at("trainer").dump();
  } catch (const json::exception& e) {
    fail("{}: malformed checkpoint metadata: {}", path, e.what());
  }
  BP_CHECK(c.epochs_done >= 0, "{}: negative epoch count", path);
  const std::string prefix = kOptimPrefix;
  for (auto& [name, t] : a.tensors)
    if (name.rfind(prefix, 0) == 0) c.optimizer_state.emplace_back(name.substr(prefix.size()), t);
  return c;
}

}  // namespace bp
