// The backprop command-line program: train, eval, predict, info, gradcheck.
#include <unistd.h>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>

#include <nlohmann/json.hpp>

#include "backprop/backprop.hpp"
#include "backprop/train.hpp"
#include "cli/data_source.hpp"
#include "cli/flags.hpp"
#include "cli/paper.hpp"
#include "cli/run_report.hpp"

namespace {

using namespace bp;
using nlohmann::json;

constexpr const char* kDefaultHidden = "flatten,dense(256),relu,dense(128),relu";

// "--model SPEC" or "--model @file.json".
std::vector<nn::LayerSpec> parse_spec_argument(const std::string& text) {
  if (!text.empty() && text[0] == '@') return nn::read_model_spec_file(text.substr(1));
  return nn::parse_model_spec(text);
}

Shape parse_shape(const std::string& text) {
  Shape s;
  std::stringstream ss(text);
  std::string part;
  while (std::getline(ss, part, ',')) {
    size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(part, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    BP_CHECK(used == part.size() && v > 0 && v <= (1 << 24),
             "--input-shape: '{}' is not a list of positive sizes like 1,28,28", text);
    s.push_back(v);
  }
  BP_CHECK(!s.empty(), "--input-shape: '{}' is not a list of positive sizes like 1,28,28", text);
  return s;
}

void print_summary(const Model& model) {
  std::printf("%-28s %-16s %12s\n", "Layer", "Output shape", "Params");
  Shape shape = model.input_shape;
  for (size_t i = 0; i < model.network->size(); ++i) {
    nn::Module& layer = (*model.network)[i];
    shape = layer.output_shape(shape);
    std::printf("%-28s %-16s %12lld\n", nn::to_string({model.spec[i]}).c_str(),
                to_string(shape).c_str(), static_cast<long long>(layer.parameter_count()));
  }
  std::printf("Total parameters: %lld (input %s)\n",
              static_cast<long long>(model.network->parameter_count()),
              to_string(model.input_shape).c_str());
}

// Checks that the network's output fits the data: one value per class, or per target.
void check_outputs(const Model& model, const data::Dataset& train) {
  Shape out = model.network->output_shape(model.input_shape);
  if (train.task == data::Task::classification) {
    BP_CHECK(out.size() == 1 && out[0] == train.num_classes,
             "--model: the network outputs {} per sample but the data has {} classes; end the spec "
             "with dense({})",
             to_string(out), train.num_classes, train.num_classes);
  } else {
    const int64_t k = train.targets.size(1);
    BP_CHECK(out.size() == 1 && out[0] == k,
             "--model: the network outputs {} per sample but the data has {} target(s); end the "
             "spec with dense({})",
             to_string(out), k, k);
  }
}

data::NormKind parse_norm(const std::string& name, bool from_csv) {
  if (name == "auto") return from_csv ? data::NormKind::standardize : data::NormKind::none;
  if (name == "none") return data::NormKind::none;
  if (name == "minmax") return data::NormKind::min_max;
  if (name == "standardize") return data::NormKind::standardize;
  fail("--normalize must be auto, none, minmax or standardize, got '{}'", name);
}

train::Loss parse_loss(const std::string& name, data::Task task) {
  if (name == "auto") return task == data::Task::classification ? train::Loss::cross_entropy : train::Loss::mse;
  if (name == "cross_entropy") return train::Loss::cross_entropy;
  if (name == "mse") return train::Loss::mse;
  if (name == "l1") return train::Loss::l1;
  if (name == "huber") return train::Loss::huber;
  fail("--loss must be auto, cross_entropy, mse, l1 or huber, got '{}'", name);
}

void print_metrics(const train::Metrics& m, const std::vector<std::string>& names) {
  if (!m.classification) {
    std::printf("loss %.6f over %lld samples\n", m.loss, static_cast<long long>(m.samples));
    return;
  }
  std::printf("%-16s %9s %9s\n", "class", "precision", "recall");
  for (size_t c = 0; c < m.precision.size(); ++c)
    std::printf("%-16s %8.2f%% %8.2f%%\n", c < names.size() ? names[c].c_str() : std::to_string(c).c_str(),
                100 * m.precision[c], 100 * m.recall[c]);
  if (m.confusion.empty()) {
    std::printf("confusion matrix: not kept for more than %lld classes\n",
                static_cast<long long>(train::kMaxConfusionClasses));
  } else {
    std::printf("confusion matrix (rows: true class, columns: predicted)\n");
    for (const auto& row : m.confusion) {
      for (int64_t v : row) std::printf("%6lld", static_cast<long long>(v));
      std::printf("\n");
    }
  }
  std::printf("loss %.4f  accuracy %.2f%% over %lld samples\n", m.loss, 100 * m.accuracy,
              static_cast<long long>(m.samples));
}

struct TrainArgs {
  cli::DataOptions data;
  std::string model = "auto";
  std::string optimizer = "sgd";
  float lr = 0.05f;
  float momentum = 0.9f;
  bool nesterov = false;
  float weight_decay = 0.0f;
  int64_t batch = 128;
  int64_t epochs = 40;
  int threads = 2;
  uint64_t seed = 1;
  std::string out = "model.bp";
  std::string log_json;
  std::string checkpoint;
  std::string resume;
  std::string normalize = "auto";
  std::string loss = "auto";
  double validation = 0.0;
  int64_t patience = 0;
  float beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f;
  bool amsgrad = false, centered = false;
  // With the defaults (SGD, lr 0.05, momentum 0.9) this reaches ~89.7% on Fashion-MNIST.
  std::string schedule = "step(15e,0.2)";
  float clip_norm = 0.0f, clip_value = 0.0f;
  // Which optimizer flags were given; the others take the chosen optimizer's default.
  bool optimizer_given = false, lr_given = false, momentum_given = false, eps_given = false,
       weight_decay_given = false;
  bool quiet = false;
  bool threads_given = false;
  int64_t random_crop = 0;
  bool random_flip = false;
  std::string plot_dir, report;  // pictures and the HTML report, written after training
  std::vector<std::pair<std::string, std::string>> flags;  // the command's settings, for the report
};

// The curves and confusion matrices of a finished run (--plot), and its HTML report (--report).
void write_pictures(const TrainArgs& a, const Model& model,
                    const std::vector<train::EpochStats>& history, const std::string& settings_json) {
  const bool classifier = model.task == data::Task::classification;
  if (!a.plot_dir.empty()) {
    plot::write_training_plots(a.plot_dir, history, classifier, model.label_names);
    if (!a.quiet) std::printf("plots written to %s\n", a.plot_dir.c_str());
  }
  if (!a.report.empty()) {
    plot::Report r{.title = "backprop train: " + a.data.source, .settings = a.flags,
                   .history = history, .classification = classifier,
                   .class_names = model.label_names};
    r.settings.insert(r.settings.begin() + 1,
                      {{"model", nn::to_string(model.spec)},
                       {"input shape", to_string(model.input_shape)},
                       {"parameters", std::to_string(model.network->parameter_count())},
                       {"training settings", settings_json}});
    io::write_file_atomic(a.report, plot::html_report(r));
    if (!a.quiet) std::printf("report written to %s\n", a.report.c_str());
  }
}

// The optimizer's settings from the flags; a flag not given takes PyTorch's default for the
// optimizer (sgd keeps this program's lr 0.05 and momentum 0.9).
optim::OptimizerSettings optimizer_settings(const TrainArgs& a, const std::string& kind) {
  optim::OptimizerSettings s;
  const bool sgd = kind == "sgd";
  s.lr = a.lr_given || sgd                          ? a.lr
         : kind == "adagrad" || kind == "rmsprop"   ? 0.01f
         : kind == "adamax" || kind == "nadam"      ? 2e-3f
                                                    : 1e-3f;
  s.momentum = a.momentum_given || sgd ? a.momentum : 0.0f;
  s.weight_decay = a.weight_decay_given ? a.weight_decay : kind == "adamw" ? 0.01f : 0.0f;
  s.eps = a.eps_given ? a.eps : kind == "adagrad" ? 1e-10f : 1e-8f;
  s.nesterov = a.nesterov;
  s.beta1 = a.beta1;
  s.beta2 = a.beta2;
  s.amsgrad = a.amsgrad;
  s.centered = a.centered;
  return s;
}

int run_train(const TrainArgs& a) {
  // Under mpirun/srun every process runs this same function as one rank of a data-parallel job;
  // only rank 0 prints, logs and writes files.
  distributed::Communicator& comm = distributed::Communicator::world();
  const bool lead = comm.rank() == 0, quiet = a.quiet || !lead;
  const int threads = comm.size() > 1 && !a.threads_given
                          ? distributed::threads_per_rank(comm, a.threads)
                          : a.threads;
  set_num_threads(threads);
  {
    const auto& kinds = optim::optimizer_kinds();
    BP_CHECK(std::find(kinds.begin(), kinds.end(), a.optimizer) != kinds.end(),
             "--optimizer: '{}' is not available (available: {})", a.optimizer,
             fmt::join(kinds, ", "));
  }
  // Output paths are checked before a long run, not after it.
  if (!a.plot_dir.empty()) plot::check_plot_dir(a.plot_dir);
  if (!a.report.empty()) io::check_writable(a.report);
  std::string optimizer_kind = a.optimizer;
  BP_CHECK(a.patience == 0 || a.validation > 0,
           "--patience needs a validation set: add --validation FRACTION");
  cli::DataOptions dopt = a.data;
  dopt.seed = a.seed;
  cli::TrainTestData d = cli::load_train_test(dopt);
  data::Dataset val;
  if (a.validation > 0) {
    BP_CHECK(a.validation < 1, "--validation must be below 1, got {}", a.validation);
    std::vector<double> fractions{1 - a.validation, a.validation};
    auto parts = data::split(d.train, fractions, a.seed + 1);
    d.train = std::move(parts[0]);
    val = std::move(parts[1]);
  }

  Model model;
  Checkpoint resumed;
  if (!a.resume.empty()) {
    resumed = load_checkpoint(a.resume);
    model = resumed.model;
    BP_CHECK(model.input_shape == d.train.feature_shape,
             "--resume: the checkpoint's model takes inputs of shape {}, the data has {}",
             to_string(model.input_shape), to_string(d.train.feature_shape));
    // Without --optimizer the checkpoint's optimizer continues.
    if (!a.optimizer_given) optimizer_kind = resumed.optimizer_kind;
    BP_CHECK(resumed.optimizer_kind == optimizer_kind,
             "--resume: the checkpoint was trained with '{}', not '{}'", resumed.optimizer_kind,
             optimizer_kind);
    BP_CHECK(resumed.epochs_done < a.epochs,
             "--resume: the checkpoint already has {} epochs; ask for more with --epochs",
             resumed.epochs_done);
  } else {
    std::string spec = a.model;
    if (spec == "auto") {
      int64_t outputs = d.train.task == data::Task::classification ? d.train.num_classes
                                                                   : d.train.targets.size(1);
      spec = fmt::format("{},dense({})", kDefaultHidden, outputs);
    }
    Generator gen(a.seed);
    model = Model::create(parse_spec_argument(spec), d.train.feature_shape, gen);
    model.task = d.train.task;
    model.label_names = d.train.label_names;
    model.normalizer = data::Normalizer::fit(d.train, parse_norm(a.normalize, d.from_csv));
  }
  check_outputs(model, d.train);
  for (data::Dataset* set : {&d.train, &d.test, &val})
    if (set->size() > 0 && model.normalizer.kind() != data::NormKind::none)
      model.normalizer.apply(*set);

  if (!quiet) print_summary(model);
  if (!quiet && comm.size() > 1)
    std::printf("data-parallel: %d ranks x %d threads, batch %lld per rank (%lld per update)\n",
                comm.size(), threads, static_cast<long long>(a.batch),
                static_cast<long long>(a.batch * comm.size()));
  const optim::OptimizerSettings osettings = optimizer_settings(a, optimizer_kind);
  std::unique_ptr<optim::Optimizer> optimizer_ptr =
      optim::make_optimizer(optimizer_kind, model.network->parameters(), osettings);
  optim::Optimizer& optimizer = *optimizer_ptr;
  if (!a.resume.empty()) optimizer.load_state(resumed.optimizer_state);
  // The epochs before the checkpoint, for the pictures (checkpoints carry them).
  std::vector<train::EpochStats> earlier;
  if (!a.resume.empty()) {
    const json saved = json::parse(resumed.trainer_json, nullptr, false);
    if (saved.is_object() && saved.contains("history"))
      earlier = cli::history_from_json(saved["history"]);
  }

  train::TrainerOptions topt{.epochs = a.epochs,
                             .batch_size = a.batch,
                             .seed = a.seed,
                             .shuffle = true,
                             .loss = parse_loss(a.loss, d.train.task),
                             .start_epoch = resumed.epochs_done,
                             .random_crop_padding = a.random_crop,
                             .random_flip = a.random_flip,
                             .communicator = &comm};
  train::Trainer trainer(*model.network, optimizer, topt);
  trainer.add_callback(std::make_shared<train::ProgressPrinter>(quiet));
  if (!a.log_json.empty() && lead)
    trainer.add_callback(std::make_shared<train::JsonLogger>(a.log_json, !a.resume.empty()));
  // Schedules count optimizer updates from the start of the whole run; a resumed run continues
  // at epochs_done × batches per epoch (the trainer's global_step).
  std::shared_ptr<optim::Schedule> schedule;
  if (!a.schedule.empty()) {
    const int64_t update_batch = a.batch * comm.size();
    const int64_t per_epoch = (d.train.size() + update_batch - 1) / update_batch;
    schedule = optim::parse_schedule(
        a.schedule, {.base_lr = static_cast<double>(osettings.lr),
                     .total_steps = a.epochs * per_epoch,
                     .steps_per_epoch = per_epoch});
    if (!a.resume.empty()) {
      // Reduce-on-plateau state, when the checkpoint ran the same schedule.
      json saved = json::parse(resumed.trainer_json);
      if (saved.value("schedule", std::string()) == a.schedule && saved.contains("schedule_state"))
        schedule->load_state(saved["schedule_state"].get<std::vector<double>>());
    }
    if (!quiet) std::printf("schedule: %s\n", schedule->to_string().c_str());
    trainer.add_callback(std::make_shared<train::ScheduleCallback>(schedule, "val"));
  }
  if (a.clip_norm > 0 || a.clip_value > 0)
    trainer.add_callback(std::make_shared<train::GradientClipping>(a.clip_norm, a.clip_value));
  std::shared_ptr<train::EarlyStopping> early;
  if (a.patience > 0) {
    early = std::make_shared<train::EarlyStopping>("val", a.patience);
    trainer.add_callback(early);
  }
  const std::string checkpoint = a.checkpoint.empty() ? a.resume : a.checkpoint;
  json settings = {{"optimizer", optimizer_kind},
                   {"lr", osettings.lr},
                   {"momentum", osettings.momentum},
                   {"nesterov", osettings.nesterov},
                   {"weight_decay", osettings.weight_decay},
                   {"batch", a.batch},
                   {"seed", a.seed},
                   {"data", a.data.source}};
  if (optimizer_kind != "sgd") {
    settings["beta1"] = osettings.beta1;
    settings["beta2"] = osettings.beta2;
    settings["eps"] = osettings.eps;
    settings["amsgrad"] = osettings.amsgrad;
    settings["centered"] = osettings.centered;
  }
  if (comm.size() > 1) settings["ranks"] = comm.size();
  if (schedule) settings["schedule"] = a.schedule;
  if (a.clip_norm > 0) settings["clip_norm"] = a.clip_norm;
  if (a.clip_value > 0) settings["clip_value"] = a.clip_value;
  if (!checkpoint.empty() && lead)
    trainer.add_callback(std::make_shared<train::CheckpointCallback>([&](int64_t epochs_done) {
      json s = settings;
      if (schedule) s["schedule_state"] = schedule->state();
      std::vector<train::EpochStats> history = earlier;
      history.insert(history.end(), trainer.history().begin(), trainer.history().end());
      s["history"] = cli::history_to_json(history);
      save_checkpoint(checkpoint, model, optimizer, epochs_done, s.dump());
    }));

  std::vector<std::pair<std::string, const data::Dataset*>> evals;
  if (val.size() > 0) evals.emplace_back("val", &val);
  evals.emplace_back("test", &d.test);
  auto ran = trainer.fit(d.train, evals);

  double seconds = 0;
  for (const auto& s : ran) seconds += s.seconds;
  train::Metrics test = ran.empty() ? train::evaluate(*model.network, d.test, topt.loss,
                                                      topt.eval_batch_size, topt.communicator)
                                    : *ran.back().eval("test");
  if (!lead) return 0;
  json info = settings;
  info["epochs"] = resumed.epochs_done + static_cast<int64_t>(ran.size());
  info["train_seconds"] = seconds;
  info["test_loss"] = test.loss;
  if (model.task == data::Task::classification) info["test_accuracy"] = test.accuracy;
  model.info_json = info.dump();
  save_model(a.out, model);
  if (model.task == data::Task::classification)
    std::printf("test accuracy: %.2f%% (loss %.4f, %lld samples)\n", 100 * test.accuracy, test.loss,
                static_cast<long long>(test.samples));
  else
    std::printf("test loss: %.6f (%lld samples)\n", test.loss, static_cast<long long>(test.samples));
  std::printf("model saved to %s\n", a.out.c_str());
  std::vector<train::EpochStats> history = earlier;
  history.insert(history.end(), trainer.history().begin(), trainer.history().end());
  write_pictures(a, model, history, cli::settings_text(settings));
  return 0;
}

int run_eval(const std::string& model_file, const cli::DataOptions& dopt, int threads) {
  set_num_threads(threads);
  Model model = load_model(model_file);
  data::Dataset test = cli::load_eval(dopt, model.label_names);
  BP_CHECK(test.feature_shape == model.input_shape,
           "eval: the model takes inputs of shape {}, the data has {}", to_string(model.input_shape),
           to_string(test.feature_shape));
  BP_CHECK(model.task != data::Task::classification || test.num_classes <= model.num_outputs,
           "eval: the data has {} classes, the model predicts {}", test.num_classes,
           model.num_outputs);
  if (model.normalizer.kind() != data::NormKind::none) model.normalizer.apply(test);
  train::Loss loss = model.task == data::Task::classification ? train::Loss::cross_entropy
                                                              : train::Loss::mse;
  print_metrics(train::evaluate(*model.network, test, loss), model.label_names);
  return 0;
}

int run_predict(const std::string& model_file, const std::string& input,
                const cli::DataOptions& dopt) {
  Model model = load_model(model_file);
  Tensor features = cli::load_features(input, numel(model.input_shape), dopt);
  Shape shape{features.size(0)};
  shape.insert(shape.end(), model.input_shape.begin(), model.input_shape.end());
  Tensor out = model.predict(features.reshape(shape));
  const int64_t n = out.size(0), k = out.numel() / std::max<int64_t>(n, 1);
  std::string text;
  if (model.task == data::Task::classification) {
    for (int64_t c : argmax(out.reshape({n, k}), 1))
      text += (static_cast<size_t>(c) < model.label_names.size()
                   ? model.label_names[static_cast<size_t>(c)]
                   : std::to_string(c)) +
              '\n';
  } else {
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t j = 0; j < k; ++j) text += fmt::format("{}{:.6g}", j ? "," : "", out.data()[i * k + j]);
      text += '\n';
    }
  }
  std::fputs(text.c_str(), stdout);
  return 0;
}

int run_info(const std::string& model_file) {
  Model model = load_model(model_file);
  std::printf("model file: %s\n", model_file.c_str());
  std::printf("spec: %s\n", nn::to_string(model.spec).c_str());
  std::printf("task: %s with %lld outputs\n",
              model.task == data::Task::classification ? "classification" : "regression",
              static_cast<long long>(model.num_outputs));
  if (!model.label_names.empty())
    std::printf("labels: %s\n", fmt::format("{}", fmt::join(model.label_names, ", ")).c_str());
  const char* norm[] = {"none", "minmax", "standardize"};
  std::printf("normalization: %s\n", norm[static_cast<int>(model.normalizer.kind())]);
  print_summary(model);
  std::printf("info: %s\n", json::parse(model.info_json).dump(2).c_str());
  return 0;
}

int run_gradcheck(const std::string& spec, const std::string& input_shape, int64_t samples,
                  uint64_t seed, float eps) {
  BP_CHECK(std::isfinite(eps) && eps > 0, "--eps must be a positive number, got {}", eps);
  Generator gen(seed);
  Shape shape = parse_shape(input_shape);
  Model model = Model::create(parse_spec_argument(spec), shape, gen);
  print_summary(model);
  Shape batch_shape{2};
  batch_shape.insert(batch_shape.end(), shape.begin(), shape.end());
  Tensor input = Tensor::uniform(batch_shape, 0.0f, 1.0f, gen, true);
  std::vector<Tensor> inputs{input};
  std::vector<std::string> names{"input"};
  for (auto& [name, p] : model.network->named_parameters()) {
    inputs.push_back(p);
    names.push_back(name);
  }
  const auto& network = model.network;
  bool all_ok = true;
  // One tensor at a time, so that the report names the one that fails. gradcheck perturbs the
  // tensor's data in place, which the network reads directly.
  for (size_t k = 0; k < inputs.size(); ++k) {
    GradcheckResult r = gradcheck([&](const std::vector<Tensor>&) { return network->forward(input); },
                                  {inputs[k]},
                                  {.eps = eps, .seed = seed, .max_elements_per_input = samples});
    std::printf("%-20s %-16s checked %4lld  max |error| %.3g  %s\n", names[k].c_str(),
                to_string(inputs[k].shape()).c_str(), static_cast<long long>(r.checked),
                r.max_abs_error, r.ok ? "ok" : "FAILED");
    if (!r.ok) std::printf("  %s\n", r.message.c_str());
    all_ok = all_ok && r.ok;
  }
  std::printf("%s\n", all_ok ? "gradient check passed" : "gradient check FAILED");
  return all_ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  // OpenMP threads that spin while waiting fight any other busy process for the cores and can
  // make training 10-20x slower on a shared machine. GNU OpenMP reads its wait policy when the
  // program loads, so the only way to choose it here is to start again with it set; a policy the
  // user chose is kept.
  if (std::getenv("OMP_WAIT_POLICY") == nullptr && ::setenv("OMP_WAIT_POLICY", "passive", 1) == 0)
    ::execv("/proc/self/exe", argv);  // returns only on failure: then carry on as we are

  CLI::App app{"backprop: train neural networks by backpropagation"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "backprop 0.1.0");

  std::string layers;
  for (const std::string& line : nn::layer_help()) layers += "  " + line + "\n";
  const std::string spec_help =
      "\nModel spec: layers separated by commas, each NAME or NAME(ARG, KEY=VALUE, ...), e.g.\n"
      "  \"flatten,dense(256),relu,dense(128),relu,dense(10)\"\n"
      "or @FILE.json holding a JSON array of such layers. Layers:\n" + layers;

  TrainArgs t;
  auto add_data = [](CLI::App* cmd, cli::DataOptions& d) {
    cmd->add_option("--data", d.source,
                    "fashion-mnist, a folder with the four MNIST-style IDX files, or a CSV file")
        ->capture_default_str();
    cmd->add_option("--csv-label", d.csv_label, "CSV label column: a header name or an index (default: last)");
    cmd->add_option("--csv-delimiter", d.csv_delimiter, "CSV delimiter (one character or 'tab')")
        ->capture_default_str();
    cmd->add_option("--csv-header", d.csv_header, "CSV header row: yes, no or auto")->capture_default_str();
    cmd->add_option("--task", d.task, "classification or regression (CSV)")->capture_default_str();
  };

  CLI::App* train_cmd = app.add_subcommand("train", "train a model and save it");
  train_cmd->footer(spec_help);
  add_data(train_cmd, t.data);
  train_cmd
      ->add_option("--test-fraction", t.data.test_fraction, "CSV: fraction held out for testing")
      ->check(cli::in_range(0, 1, true, true))
      ->capture_default_str();
  train_cmd->add_option("--model", t.model, "model spec, or @file.json (auto: " + std::string(kDefaultHidden) + ",dense(classes))")
      ->capture_default_str();
  train_cmd->add_option("--optimizer", t.optimizer, "optimizer: sgd, adagrad, rmsprop, adam, adamw, adamax or nadam (resuming: the checkpoint's)")->capture_default_str();
  train_cmd
      ->add_option("--lr", t.lr,
                   "learning rate (default 0.05 for sgd, else PyTorch's: adagrad/rmsprop 0.01, "
                   "adam/adamw 0.001, adamax/nadam 0.002)")
      ->check(cli::in_range(0, 1e3))
      ->capture_default_str();
  train_cmd
      ->add_option("--momentum", t.momentum, "momentum α: sgd (default 0.9), rmsprop (default 0)")
      ->check(cli::in_range(0, 1, false, true))
      ->capture_default_str();
  train_cmd->add_option("--beta1", t.beta1, "adam/adamw/adamax/nadam: first-moment decay β1")
      ->check(cli::in_range(0, 1, false, true))
      ->capture_default_str();
  train_cmd->add_option("--beta2", t.beta2, "adam/adamw/adamax/nadam: second-moment decay β2")
      ->check(cli::in_range(0, 1, false, true))
      ->capture_default_str();
  train_cmd
      ->add_option("--eps", t.eps,
                   "denominator term of the adaptive optimizers (default 1e-8; adagrad 1e-10)")
      ->check(cli::in_range(0, 1, true, false));
  train_cmd->add_flag("--amsgrad", t.amsgrad, "adam/adamw: AMSGrad variant");
  train_cmd->add_flag("--centered", t.centered, "rmsprop: centered variant");
  train_cmd->add_option("--schedule", t.schedule, "learning-rate schedule per batch, e.g. \"warmup(500),cosine\", \"step(10e,0.1)\", \"multistep(20e;30e,0.1)\", onecycle, \"plateau(0.1,5)\", or constant (see docs/cli.md)")->capture_default_str();
  train_cmd
      ->add_option("--clip-norm", t.clip_norm, "clip the gradients' total 2-norm to this (0: off)")
      ->check(cli::in_range(0, 1e30));
  train_cmd
      ->add_option("--clip-value", t.clip_value, "clip every gradient element to [-X, X] (0: off)")
      ->check(cli::in_range(0, 1e30));
  train_cmd->add_flag("--nesterov", t.nesterov, "Nesterov momentum");
  train_cmd
      ->add_option("--weight-decay", t.weight_decay,
                   "L2 weight decay (adamw: decoupled, default 0.01)")
      ->check(cli::in_range(0, 1))
      ->capture_default_str();
  train_cmd->add_option("--batch", t.batch, "batch size")->check(CLI::Range(1, 1 << 20))->capture_default_str();
  train_cmd->add_option("--epochs", t.epochs, "epochs to train (in total, when resuming)")->check(CLI::Range(1, 100000))->capture_default_str();
  train_cmd->add_option("--threads", t.threads, "threads (0: all cores; under mpirun by default 2 or fewer, so that the ranks on a machine do not share cores)")->check(CLI::Range(0, 1024))->capture_default_str();
  train_cmd->add_option("--seed", t.seed, "seed for weights, shuffling and splits")->capture_default_str();
  train_cmd->add_option("--out", t.out, "where to save the trained model")->capture_default_str();
  train_cmd->add_option("--log-json", t.log_json, "append one JSON object per epoch to this file");
  train_cmd->add_option("--checkpoint", t.checkpoint, "save a checkpoint here after every epoch");
  train_cmd->add_option("--resume", t.resume, "continue from this checkpoint (and keep updating it)");
  train_cmd->add_option("--normalize", t.normalize, "auto, none, minmax or standardize (statistics from the training set)")->capture_default_str();
  train_cmd->add_option("--loss", t.loss, "auto, cross_entropy, mse, l1 or huber")->capture_default_str();
  train_cmd
      ->add_option("--validation", t.validation,
                   "fraction of the training set held out for validation (0: none)")
      ->check(cli::in_range(0, 1, false, true))
      ->capture_default_str();
  train_cmd->add_option("--patience", t.patience, "stop after this many epochs without validation improvement")->check(CLI::Range(0, 100000));
  train_cmd->add_option("--random-crop", t.random_crop, "augment images: pad by N zeros each side and crop back at a random offset")->check(CLI::Range(0, 1024));
  train_cmd->add_flag("--random-flip", t.random_flip, "augment images: mirror left-right with probability 1/2");
  const CLI::Validator non_empty(
      [](std::string& s) { return s.empty() ? std::string("the path is empty") : std::string(); },
      "PATH");
  train_cmd->add_option("--plot", t.plot_dir, "after training, write loss.svg and, for a classifier, accuracy.svg and confusion_<set>.svg to this directory (created if needed)")->check(non_empty);
  train_cmd->add_option("--report", t.report, "after training, write an HTML report (settings, per-epoch table, curves, confusion matrices) to this file")->check(non_empty);
  train_cmd->add_flag("-q,--quiet", t.quiet, "no progress output");

  std::string model_file;
  cli::DataOptions eval_data;
  int eval_threads = 2;
  CLI::App* eval_cmd = app.add_subcommand("eval", "evaluate a saved model on test data");
  eval_cmd->add_option("--model-file", model_file, "model file")->required();
  add_data(eval_cmd, eval_data);
  eval_cmd->add_option("--threads", eval_threads, "threads")->check(CLI::Range(0, 1024));

  std::string predict_input;
  cli::DataOptions predict_data;
  CLI::App* predict_cmd = app.add_subcommand("predict", "print one prediction per input row");
  predict_cmd->add_option("--model-file", model_file, "model file")->required();
  predict_cmd->add_option("--input", predict_input, "a CSV file or an IDX images file")->required();
  predict_cmd->add_option("--csv-label", predict_data.csv_label, "CSV label column to ignore");
  predict_cmd->add_option("--csv-delimiter", predict_data.csv_delimiter, "CSV delimiter");
  predict_cmd->add_option("--csv-header", predict_data.csv_header, "CSV header row: yes, no or auto");

  CLI::App* info_cmd = app.add_subcommand("info", "describe a saved model");
  info_cmd->add_option("--model-file", model_file, "model file")->required();

  std::string gc_model, gc_shape;
  int64_t gc_samples = 20;
  uint64_t gc_seed = 1;
  float gc_eps = 1e-3f;
  CLI::App* gc_cmd = app.add_subcommand("gradcheck", "check a network's gradients numerically");
  gc_cmd->footer(spec_help);
  gc_cmd->add_option("--model", gc_model, "model spec, or @file.json")->required();
  gc_cmd->add_option("--input-shape", gc_shape, "one sample's shape, e.g. 1,28,28")->required();
  gc_cmd->add_option("--samples", gc_samples, "elements checked per tensor (0: all)")->check(CLI::Range(0, 1 << 30))->capture_default_str();
  gc_cmd->add_option("--seed", gc_seed, "seed")->capture_default_str();
  gc_cmd->add_option("--eps", gc_eps, "finite-difference step")
      ->check(cli::in_range(1e-6, 1))
      ->capture_default_str();

  cli::PaperArgs paper_args;
  CLI::App* paper_cmd = cli::add_paper_command(app, paper_args);

  std::string backend_name = "fast";
  for (CLI::App* cmd : {train_cmd, eval_cmd, predict_cmd, gc_cmd})
    cmd->add_option("--backend", backend_name,
                    "kernels: fast (oneDNN) or reference (plain C++ loops)")
        ->check(CLI::IsMember({"fast", "reference"}))
        ->capture_default_str();

  // Bad command lines get the same one-line "error: ..." as every other failure, and exit 2.
  app.failure_message(
      [](const CLI::App*, const CLI::Error& e) { return fmt::format("error: {}\n", e.what()); });
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;  // --help and --version end here too, with 0
  }
  try {
    set_backend(backend_name == "reference" ? Backend::reference : Backend::fast);
    if (*train_cmd) {
      t.optimizer_given = train_cmd->count("--optimizer") > 0;
      t.lr_given = train_cmd->count("--lr") > 0;
      t.momentum_given = train_cmd->count("--momentum") > 0;
      t.eps_given = train_cmd->count("--eps") > 0;
      t.weight_decay_given = train_cmd->count("--weight-decay") > 0;
      t.threads_given = train_cmd->count("--threads") > 0;
      t.flags = cli::option_settings(*train_cmd, argc, argv);
      return run_train(t);
    }
    if (*eval_cmd) return run_eval(model_file, eval_data, eval_threads);
    if (*predict_cmd) return run_predict(model_file, predict_input, predict_data);
    if (*info_cmd) return run_info(model_file);
    if (*gc_cmd) return run_gradcheck(gc_model, gc_shape, gc_samples, gc_seed, gc_eps);
    if (*paper_cmd) return cli::run_paper(paper_args);
  } catch (const std::exception& e) {
    const bool oom = dynamic_cast<const std::bad_alloc*>(&e) != nullptr;
    // One rank of a data-parallel job: the others would wait for it forever, so end them all.
    if (auto* comm = distributed::Communicator::active())
      comm->abort(oom ? "out of memory" : e.what());
    std::fprintf(stderr, "error: %s\n", oom ? "out of memory" : e.what());
    return 1;
  }
  return 0;
}
