// Model: a network together with everything needed to use it later — its spec and input shape,
// the feature normalisation fitted on the training set, and the label names — and the model and
// checkpoint files that hold it.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "backprop/data.hpp"
#include "backprop/export.hpp"
#include "backprop/nn.hpp"
#include "backprop/optim.hpp"
#include "backprop/spec.hpp"

namespace bp {

// A forecaster's windows: its inputs are `window` consecutive rows of a series' columns, its
// outputs the next `horizon` values of the target column (named as --csv-label names it; empty:
// the last column).
struct BP_API Forecast {
  int64_t window = 0;
  int64_t horizon = 1;
  std::string target;
};

struct BP_API Model {
  std::vector<nn::LayerSpec> spec;
  Shape input_shape;  // one sample, without the batch dimension
  std::shared_ptr<nn::Sequential> network;
  data::Task task = data::Task::classification;
  int64_t num_outputs = 0;  // classes, or regression targets
  std::vector<std::string> label_names;
  data::Normalizer normalizer;
  // A text model's characters: its inputs are (seq_len) token ids and its outputs
  // (seq_len, vocabulary->size()) the next token's scores at every position.
  std::optional<data::Vocabulary> vocabulary;
  // A forecaster's windows (a regression model trained on a time series), so that eval and
  // predict read a series as it was trained on.
  std::optional<Forecast> forecast;
  std::string info_json = "{}";  // free-form: how it was trained, its scores

  // Builds the network from `spec` for inputs of `input_shape`, initialised from `gen`.
  // Throws bp::Error when the spec does not fit the input shape.
  static Model create(std::vector<nn::LayerSpec> spec, const Shape& input_shape, Generator& gen);

  // Normalises raw features (N, input_shape...) and runs the network in eval mode without
  // recording a graph. Throws bp::Error on a wrong feature shape.
  Tensor predict(const Tensor& raw_features) const;
};

// How generate_text picks each next character from the model's scores s (its vocabulary's, the
// unknown token left out): temperature 0 takes the argmax; otherwise it draws from softmax(s / T)
// over the top_k highest scores (0: all of them), with a Generator seeded by `seed`.
struct BP_API GenerateOptions {
  int64_t length = 200;  // characters to generate
  float temperature = 1.0f;
  int64_t top_k = 0;
  uint64_t seed = 1;
};

// Requires: a text model (model.vocabulary), a non-empty prompt whose characters are all in its
// vocabulary, length >= 0, a finite temperature >= 0, top_k >= 0. Guarantees: the `length`
// characters that follow the prompt, each picked from the model's scores at the last position of
// the context (the last seq_len characters so far), as text (UTF-8 for code points); the same seed
// gives the same text. The network is left in eval mode. Throws: bp::Error naming what is wrong
// (e.g. the first prompt character missing from the vocabulary).
BP_API std::string generate_text(const Model& model, std::string_view prompt,
                                 const GenerateOptions& options);

// Writes the model atomically (see io::save_archive). Throws bp::Error on I/O failure, and when
// load_model could not rebuild the network: the spec is empty, or the network's parameters and
// buffers (names and shapes) are not those the spec builds (a hand-built network: see
// save_parameters).
BP_API void save_model(const std::string& path, const Model& model);
// Reads a model file (or the model inside a checkpoint). Throws bp::Error naming the path on a
// missing, truncated, corrupt or wrong-version file, or a file that is not a model.
BP_API Model load_model(const std::string& path);

// The parameters and buffers of any module (a hand-built one too), by dotted name
// (named_parameters, named_buffers), in the model files' format (io.hpp: versioned, checksummed,
// written atomically). The module's structure is not stored: load_parameters needs a module built
// the same way. Throws bp::Error on I/O failure.
BP_API void save_parameters(const nn::Module& module, const std::string& path);
// Copies the parameters and buffers stored in `path` (written by save_parameters, save_model or
// save_checkpoint) into `module`. Every name must match and every shape agree; otherwise throws
// bp::Error naming the path and the first mismatch (a tensor missing from the file, one with
// another shape, or one the module lacks), and leaves the module unchanged. Throws as load_model
// on a missing, truncated, corrupt or wrong-version file.
BP_API void load_parameters(nn::Module& module, const std::string& path);

// Training state beyond the model: where to continue and the optimizer's buffers.
struct BP_API Checkpoint {
  Model model;
  int64_t epochs_done = 0;
  int64_t batches_done = 0;  // of epoch epochs_done + 1: a run interrupted mid-epoch
  std::string optimizer_kind;
  std::vector<std::pair<std::string, Tensor>> optimizer_state;
  std::string trainer_json = "{}";  // the settings of the interrupted run
};

// Writes the training state after `epochs_done` epochs and `batches_done` batches of the next one
// (an interrupted run). Throws bp::Error as save_model.
BP_API void save_checkpoint(const std::string& path, const Model& model,
                            const optim::Optimizer& optimizer, int64_t epochs_done,
                            const std::string& trainer_json, int64_t batches_done = 0);
// Throws bp::Error as load_model, and when the file is a plain model without training state.
BP_API Checkpoint load_checkpoint(const std::string& path);

}  // namespace bp
