// The backprop command-line program: train, eval, predict, info, gradcheck.
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>

#include <signal.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <sstream>

#include <nlohmann/json.hpp>

#include "backprop/backprop.hpp"
#include "backprop/train.hpp"
#include "cli/data_source.hpp"
#include "cli/flags.hpp"
#include "cli/paper.hpp"
#include "cli/run_report.hpp"
#include "io/json.hpp"

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
  if (name == "auto")
    return task == data::Task::classification ? train::Loss::cross_entropy : train::Loss::mse;
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
    std::printf("%-16s %8.2f%% %8.2f%%\n",
                c < names.size() ? names[c].c_str() : std::to_string(c).c_str(),
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
                    const std::vector<train::EpochStats>& history,
                    const std::string& settings_json) {
  const bool classifier = model.task == data::Task::classification;
  if (!a.plot_dir.empty()) {
    plot::write_training_plots(a.plot_dir, history, classifier, model.label_names);
    if (!a.quiet) std::printf("plots written to %s\n", a.plot_dir.c_str());
  }
  if (!a.report.empty()) {
    plot::Report r{.title = "backprop train: " + a.data.source,
                   .settings = a.flags,
                   .history = history,
                   .classification = classifier,
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
  s.lr = a.lr_given || sgd                        ? a.lr
         : kind == "adagrad" || kind == "rmsprop" ? 0.01f
         : kind == "adamax" || kind == "nadam"    ? 2e-3f
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

// True when `a` and `b` name the same file: the same path once links and ".." are resolved, or
// (for files that exist) the same device and inode, as hard links are.
bool same_file(const std::string& a, const std::string& b) {
  namespace fs = std::filesystem;
  std::error_code ea, eb;
  const fs::path ca = fs::weakly_canonical(fs::absolute(a, ea), ea);
  const fs::path cb = fs::weakly_canonical(fs::absolute(b, eb), eb);
  if (!ea && !eb && ca == cb) return true;
  struct stat sa {
  }, sb{};
  return ::stat(a.c_str(), &sa) == 0 && ::stat(b.c_str(), &sb) == 0 && sa.st_dev == sb.st_dev &&
         sa.st_ino == sb.st_ino;
}

// Every file a training run writes, checked before any data is read, so that a bad path fails in
// a second, not after hours of training: each one's folder exists and takes a new file, none is a
// folder (or, but for the log, a device), and no two are the same file.
void check_output_paths(const TrainArgs& a, const std::string& checkpoint) {
  struct Output {
    const char* flag;
    std::string path;
    bool append;
  };
  std::vector<Output> outputs{{"--out", a.out, false}};
  if (!checkpoint.empty())
    outputs.push_back({a.checkpoint.empty() ? "--resume" : "--checkpoint", checkpoint, false});
  if (!a.log_json.empty()) outputs.push_back({"--log-json", a.log_json, true});
  if (!a.report.empty()) outputs.push_back({"--report", a.report, false});
  for (const Output& o : outputs) {
    try {
      if (o.append)
        io::check_appendable(o.path);
      else
        io::check_writable(o.path);
    } catch (const Error& e) {
      fail("{}: {}", o.flag, e.what());
    }
  }
  if (!a.plot_dir.empty()) plot::check_plot_dir(a.plot_dir);
  for (size_t i = 0; i < outputs.size(); ++i)
    for (size_t j = i + 1; j < outputs.size(); ++j)
      BP_CHECK(!same_file(outputs[i].path, outputs[j].path),
               "{} and {} name the same file '{}': each output needs its own", outputs[i].flag,
               outputs[j].flag, outputs[j].path);
}

// The first SIGINT or SIGTERM of a training run, or 0. The first signal only sets it: the trainer
// stops after the batch it is training, and the run saves what it has. A second one ends the
// process at once, by the default action of the signal.
volatile std::sig_atomic_t g_interrupt = 0;

extern "C" void on_interrupt(int sig) {
  if (g_interrupt != 0) {
    std::signal(sig, SIG_DFL);
    std::raise(sig);
    return;
  }
  g_interrupt = sig;
}

// Catches SIGINT and SIGTERM, but not where they are ignored (a shell script's background job
// ignores SIGINT): such a run must not stop on one.
void catch_interrupts() {
  struct sigaction action {};
  action.sa_handler = on_interrupt;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  for (int sig : {SIGINT, SIGTERM}) {
    struct sigaction old {};
    if (::sigaction(sig, nullptr, &old) == 0 && old.sa_handler == SIG_IGN) continue;
    ::sigaction(sig, &action, nullptr);
  }
}

// Everything a training run holds, from the flags to the saved model.
struct TrainRun {
  TrainRun(const TrainArgs& args, distributed::Communicator& communicator)
      : a(args), comm(communicator) {}
  const TrainArgs& a;
  distributed::Communicator& comm;
  bool lead = true, quiet = false;
  int threads = 1;
  std::string checkpoint;  // where checkpoints go: --checkpoint, else --resume (may be empty)
  cli::TrainTestData d;
  data::Dataset val;
  Model model;
  Checkpoint resumed;
  std::string optimizer_kind;
  optim::OptimizerSettings osettings;
  std::unique_ptr<optim::Optimizer> optimizer;
  std::vector<train::EpochStats> earlier;  // the epochs before the checkpoint, for the pictures
  std::shared_ptr<optim::Schedule> schedule;
  json settings;
};

// The data: the training and test sets, and the validation set cut from the training set.
void load_data(TrainRun& r) {
  const TrainArgs& a = r.a;
  BP_CHECK(a.patience == 0 || a.validation > 0,
           "--patience needs a validation set: add --validation FRACTION");
  cli::DataOptions dopt = a.data;
  dopt.seed = a.seed;
  r.d = cli::load_train_test(dopt);
  if (a.validation > 0) {
    std::vector<double> fractions{1 - a.validation, a.validation};
    auto parts = data::split(r.d.train, fractions, a.seed + 1);
    r.d.train = std::move(parts[0]);
    r.val = std::move(parts[1]);
  }
}

// The model and optimizer: resumed from --resume, or new from --model.
void make_model(TrainRun& r) {
  const TrainArgs& a = r.a;
  const data::Dataset& train = r.d.train;
  r.optimizer_kind = a.optimizer;
  if (!a.resume.empty()) {
    r.resumed = load_checkpoint(a.resume);
    r.model = r.resumed.model;
    BP_CHECK(r.model.input_shape == train.feature_shape,
             "--resume: the checkpoint's model takes inputs of shape {}, the data has {}",
             to_string(r.model.input_shape), to_string(train.feature_shape));
    // Without --optimizer the checkpoint's optimizer continues.
    if (!a.optimizer_given) r.optimizer_kind = r.resumed.optimizer_kind;
    BP_CHECK(r.resumed.optimizer_kind == r.optimizer_kind,
             "--resume: the checkpoint was trained with '{}', not '{}'", r.resumed.optimizer_kind,
             r.optimizer_kind);
    BP_CHECK(r.resumed.epochs_done < a.epochs,
             "--resume: the checkpoint already has {} epochs; ask for more with --epochs",
             r.resumed.epochs_done);
  } else {
    std::string spec = a.model;
    if (spec == "auto") {
      int64_t outputs =
          train.task == data::Task::classification ? train.num_classes : train.targets.size(1);
      spec = fmt::format("{},dense({})", kDefaultHidden, outputs);
    }
    Generator gen(a.seed);
    r.model = Model::create(parse_spec_argument(spec), train.feature_shape, gen);
    r.model.task = train.task;
    r.model.label_names = train.label_names;
    r.model.normalizer = data::Normalizer::fit(train, parse_norm(a.normalize, r.d.from_csv));
  }
  check_outputs(r.model, train);
  for (data::Dataset* set : {&r.d.train, &r.d.test, &r.val})
    if (set->size() > 0 && r.model.normalizer.kind() != data::NormKind::none)
      r.model.normalizer.apply(*set);
  r.osettings = optimizer_settings(a, r.optimizer_kind);
  r.optimizer = optim::make_optimizer(r.optimizer_kind, r.model.network->parameters(), r.osettings);
  if (a.resume.empty()) return;
  r.optimizer->load_state(r.resumed.optimizer_state);
  const json saved = io::parse_json(r.resumed.trainer_json, a.resume + ": training settings");
  if (saved.is_object() && saved.contains("history"))
    r.earlier = cli::history_from_json(saved["history"]);
}

// The learning-rate schedule. Schedules count optimizer updates from the start of the whole run;
// a resumed run continues where the checkpoint stopped (the trainer's global_step).
void make_schedule(TrainRun& r) {
  const TrainArgs& a = r.a;
  if (a.schedule.empty()) return;
  const int64_t update_batch = a.batch * r.comm.size();
  const int64_t per_epoch = (r.d.train.size() + update_batch - 1) / update_batch;
  r.schedule = optim::parse_schedule(a.schedule, {.base_lr = static_cast<double>(r.osettings.lr),
                                                  .total_steps = a.epochs * per_epoch,
                                                  .steps_per_epoch = per_epoch});
  if (!a.resume.empty()) {
    // Reduce-on-plateau state, when the checkpoint ran the same schedule.
    const json saved = io::parse_json(r.resumed.trainer_json, a.resume + ": training settings");
    if (saved.value("schedule", std::string()) == a.schedule && saved.contains("schedule_state"))
      r.schedule->load_state(io::json_field<std::vector<double>>(saved, "schedule_state",
                                                                 a.resume + ": training settings"));
  }
  if (!r.quiet) std::printf("schedule: %s\n", r.schedule->to_string().c_str());
}

// The settings recorded in checkpoints, the model's info and the report.
json training_settings(const TrainRun& r) {
  const TrainArgs& a = r.a;
  const optim::OptimizerSettings& o = r.osettings;
  json settings = {{"optimizer", r.optimizer_kind},
                   {"lr", o.lr},
                   {"momentum", o.momentum},
                   {"nesterov", o.nesterov},
                   {"weight_decay", o.weight_decay},
                   {"batch", a.batch},
                   {"seed", a.seed},
                   {"data", a.data.source}};
  if (r.optimizer_kind != "sgd") {
    settings["beta1"] = o.beta1;
    settings["beta2"] = o.beta2;
    settings["eps"] = o.eps;
    settings["amsgrad"] = o.amsgrad;
    settings["centered"] = o.centered;
  }
  if (r.comm.size() > 1) settings["ranks"] = r.comm.size();
  if (r.schedule) settings["schedule"] = a.schedule;
  if (a.clip_norm > 0) settings["clip_norm"] = a.clip_norm;
  if (a.clip_value > 0) settings["clip_value"] = a.clip_value;
  return settings;
}

// Every epoch so far, the checkpoint's and this run's.
std::vector<train::EpochStats> full_history(const TrainRun& r, const train::Trainer& trainer) {
  std::vector<train::EpochStats> history = r.earlier;
  history.insert(history.end(), trainer.history().begin(), trainer.history().end());
  return history;
}

void save_run_checkpoint(const TrainRun& r, const train::Trainer& trainer, int64_t epochs_done,
                         int64_t batches_done) {
  json s = r.settings;
  if (r.schedule) s["schedule_state"] = r.schedule->state();
  s["history"] = cli::history_to_json(full_history(r, trainer));
  save_checkpoint(r.checkpoint, r.model, *r.optimizer, epochs_done, io::dump_json(s), batches_done);
}

void add_callbacks(TrainRun& r, train::Trainer& trainer) {
  const TrainArgs& a = r.a;
  trainer.add_callback(std::make_shared<train::ProgressPrinter>(r.quiet));
  if (!a.log_json.empty() && r.lead)
    trainer.add_callback(std::make_shared<train::JsonLogger>(a.log_json, !a.resume.empty()));
  if (r.schedule)
    trainer.add_callback(std::make_shared<train::ScheduleCallback>(r.schedule, "val"));
  if (a.clip_norm > 0 || a.clip_value > 0)
    trainer.add_callback(std::make_shared<train::GradientClipping>(a.clip_norm, a.clip_value));
  if (a.patience > 0)
    trainer.add_callback(std::make_shared<train::EarlyStopping>("val", a.patience));
  if (!r.checkpoint.empty() && r.lead)
    trainer.add_callback(std::make_shared<train::CheckpointCallback>(
        [&r, &trainer](int64_t epochs_done) { save_run_checkpoint(r, trainer, epochs_done, 0); }));
}

// A run stopped by a signal: the checkpoint and the model as they are after the last batch, the
// model's info marked with where it stopped. Returns 128 + the signal, as a shell reports it.
int finish_interrupted(TrainRun& r, const train::Trainer& trainer) {
  const int sig = g_interrupt;
  const char* name = sig == SIGTERM ? "SIGTERM" : "SIGINT";
  const train::Trainer::Position at = *trainer.interrupted();
  std::string saved;
  if (!r.checkpoint.empty()) {
    save_run_checkpoint(r, trainer, at.epoch - 1, at.batches_done);
    saved = fmt::format("checkpoint saved to {} (continue with --resume {}), ", r.checkpoint,
                        r.checkpoint);
  }
  json info = r.settings;
  info["epochs"] = at.epoch - 1;
  info["interrupted"] = {{"epoch", at.epoch}, {"batch", at.batches_done}, {"signal", name}};
  r.model.info_json = io::dump_json(info);
  save_model(r.a.out, r.model);
  std::printf("interrupted by %s at epoch %lld, batch %lld: %smodel saved to %s\n", name,
              static_cast<long long>(at.epoch), static_cast<long long>(at.batches_done),
              saved.c_str(), r.a.out.c_str());
  return 128 + sig;
}

// A run that trained all its epochs (or stopped early): the test scores, the model, the pictures.
int finish(TrainRun& r, const train::Trainer& trainer, const std::vector<train::EpochStats>& ran) {
  double seconds = 0;
  for (const auto& s : ran) seconds += s.seconds;
  train::Metrics test = ran.empty()
                            ? train::evaluate(*r.model.network, r.d.test, trainer.options().loss,
                                              trainer.options().eval_batch_size, &r.comm)
                            : *ran.back().eval("test");
  if (!r.lead) return 0;
  json info = r.settings;
  info["epochs"] = r.resumed.epochs_done + static_cast<int64_t>(ran.size());
  info["train_seconds"] = seconds;
  info["test_loss"] = test.loss;
  if (r.model.task == data::Task::classification) info["test_accuracy"] = test.accuracy;
  r.model.info_json = io::dump_json(info);
  save_model(r.a.out, r.model);
  if (r.model.task == data::Task::classification)
    std::printf("test accuracy: %.2f%% (loss %.4f, %lld samples)\n", 100 * test.accuracy, test.loss,
                static_cast<long long>(test.samples));
  else
    std::printf("test loss: %.6f (%lld samples)\n", test.loss,
                static_cast<long long>(test.samples));
  std::printf("model saved to %s\n", r.a.out.c_str());
  write_pictures(r.a, r.model, full_history(r, trainer), cli::settings_text(r.settings));
  return 0;
}

int run_train(const TrainArgs& a) {
  // Under mpirun/srun every process runs this same function as one rank of a data-parallel job;
  // only rank 0 prints, logs and writes files.
  TrainRun r(a, distributed::Communicator::world());
  r.lead = r.comm.rank() == 0;
  r.quiet = a.quiet || !r.lead;
  r.threads = r.comm.size() > 1 && !a.threads_given
                  ? distributed::threads_per_rank(r.comm, a.threads)
                  : a.threads;
  set_num_threads(r.threads);
  const auto& kinds = optim::optimizer_kinds();
  BP_CHECK(std::find(kinds.begin(), kinds.end(), a.optimizer) != kinds.end(),
           "--optimizer: '{}' is not available (available: {})", a.optimizer,
           fmt::join(kinds, ", "));
  r.checkpoint = a.checkpoint.empty() ? a.resume : a.checkpoint;
  // Output paths are checked before a long run, not after it (only rank 0 writes).
  if (r.lead) check_output_paths(a, r.checkpoint);
  load_data(r);
  make_model(r);
  if (!r.quiet) print_summary(r.model);
  if (!r.quiet && r.comm.size() > 1)
    std::printf("data-parallel: %d ranks x %d threads, batch %lld per rank (%lld per update)\n",
                r.comm.size(), r.threads, static_cast<long long>(a.batch),
                static_cast<long long>(a.batch * r.comm.size()));
  make_schedule(r);
  r.settings = training_settings(r);
  // Several ranks stop together or not at all: there the launcher's signal ends the job.
  const bool single = r.comm.size() == 1;
  train::Trainer trainer(*r.model.network, *r.optimizer,
                         {.epochs = a.epochs,
                          .batch_size = a.batch,
                          .seed = a.seed,
                          .shuffle = true,
                          .loss = parse_loss(a.loss, r.d.train.task),
                          .start_epoch = r.resumed.epochs_done,
                          .start_batch = r.resumed.batches_done,
                          .interrupt = single ? &g_interrupt : nullptr,
                          .random_crop_padding = a.random_crop,
                          .random_flip = a.random_flip,
                          .communicator = &r.comm});
  add_callbacks(r, trainer);
  std::vector<std::pair<std::string, const data::Dataset*>> evals;
  if (r.val.size() > 0) evals.emplace_back("val", &r.val);
  evals.emplace_back("test", &r.d.test);
  if (single) catch_interrupts();
  const auto ran = trainer.fit(r.d.train, evals);
  if (trainer.interrupted()) return finish_interrupted(r, trainer);
  return finish(r, trainer, ran);
}

int run_eval(const std::string& model_file, const cli::DataOptions& dopt, int threads) {
  set_num_threads(threads);
  Model model = load_model(model_file);
  data::Dataset test = cli::load_eval(dopt, model.label_names);
  BP_CHECK(test.feature_shape == model.input_shape,
           "eval: the model takes inputs of shape {}, the data has {}",
           to_string(model.input_shape), to_string(test.feature_shape));
  BP_CHECK(model.task != data::Task::classification || test.num_classes <= model.num_outputs,
           "eval: the data has {} classes, the model predicts {}", test.num_classes,
           model.num_outputs);
  if (model.normalizer.kind() != data::NormKind::none) model.normalizer.apply(test);
  train::Loss loss =
      model.task == data::Task::classification ? train::Loss::cross_entropy : train::Loss::mse;
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
      for (int64_t j = 0; j < k; ++j)
        text += fmt::format("{}{:.6g}", j ? "," : "", out.data()[i * k + j]);
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
  const json info = io::parse_json(model.info_json, model_file + ": info");
  if (info.is_object() && info.contains("interrupted")) {
    const json& at = info["interrupted"];
    std::printf("interrupted: by %s at epoch %s, batch %s\n",
                at.value("signal", std::string("a signal")).c_str(),
                io::dump_json(at.value("epoch", json())).c_str(),
                io::dump_json(at.value("batch", json())).c_str());
  }
  print_summary(model);
  std::printf("info: %s\n", io::dump_json(info, 2).c_str());
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
    GradcheckResult r =
        gradcheck([&](const std::vector<Tensor>&) { return network->forward(input); }, {inputs[k]},
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

// The line a failure prints. bp::Error messages are ours and say what failed; the readers and
// kernels wrap what the libraries they use throw, so anything else is a bug, labelled as one.
std::string failure_text(const std::exception& e) {
  if (dynamic_cast<const std::bad_alloc*>(&e) != nullptr)
    return "out of memory (the data or the model is too large for this machine)";
  if (dynamic_cast<const Error*>(&e) != nullptr) return e.what();
  return fmt::format("unexpected internal failure: {}", e.what());
}

// What went to standard output must have arrived: a full disk behind it is an error, not a
// silent exit 0 with the predictions lost. Returns the exit code.
int check_stdout(int code) {
  const int err = std::fflush(stdout) != 0 ? errno : 0;
  if (err == 0 && !std::ferror(stdout)) return code;
  std::fprintf(stderr, "error: cannot write to standard output: %s\n",
               std::strerror(err != 0 ? err : EIO));
  return code != 0 ? code : 1;
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
  app.set_version_flag("--version", "backprop " BP_VERSION_STRING);

  std::string layers;
  for (const std::string& line : nn::layer_help()) layers += "  " + line + "\n";
  const std::string spec_help =
      "\nModel spec: layers separated by commas, each NAME or NAME(ARG, KEY=VALUE, ...), e.g.\n"
      "  \"flatten,dense(256),relu,dense(128),relu,dense(10)\"\n"
      "or @FILE.json holding a JSON array of such layers. Layers:\n" +
      layers;

  TrainArgs t;
  auto add_data = [](CLI::App* cmd, cli::DataOptions& d) {
    cmd->add_option("--data", d.source,
                    "fashion-mnist, a folder with the four MNIST-style IDX files, or a CSV file")
        ->capture_default_str();
    cmd->add_option("--csv-label", d.csv_label,
                    "CSV label column: a header name or an index (default: last)");
    cmd->add_option("--csv-delimiter", d.csv_delimiter, "CSV delimiter (one character or 'tab')")
        ->capture_default_str();
    cmd->add_option("--csv-header", d.csv_header, "CSV header row: yes, no or auto")
        ->capture_default_str();
    cmd->add_option("--task", d.task, "classification or regression (CSV)")->capture_default_str();
  };

  CLI::App* train_cmd = app.add_subcommand("train", "train a model and save it");
  train_cmd->footer(spec_help);
  add_data(train_cmd, t.data);
  train_cmd
      ->add_option("--test-fraction", t.data.test_fraction, "CSV: fraction held out for testing")
      ->check(cli::in_range(0, 1, true, true))
      ->capture_default_str();
  train_cmd
      ->add_option(
          "--model", t.model,
          "model spec, or @file.json (auto: " + std::string(kDefaultHidden) + ",dense(classes))")
      ->capture_default_str();
  train_cmd
      ->add_option("--optimizer", t.optimizer,
                   "optimizer: sgd, adagrad, rmsprop, adam, adamw, adamax or nadam (resuming: the "
                   "checkpoint's)")
      ->capture_default_str();
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
  train_cmd
      ->add_option(
          "--schedule", t.schedule,
          "learning-rate schedule per batch, e.g. \"warmup(500),cosine\", \"step(10e,0.1)\", "
          "\"multistep(20e;30e,0.1)\", onecycle, \"plateau(0.1,5)\", or constant (see docs/cli.md)")
      ->capture_default_str();
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
  train_cmd->add_option("--batch", t.batch, "batch size")
      ->check(CLI::Range(1, 1 << 20))
      ->capture_default_str();
  train_cmd->add_option("--epochs", t.epochs, "epochs to train (in total, when resuming)")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  train_cmd
      ->add_option("--threads", t.threads,
                   "threads (0: all cores; under mpirun by default 2 or fewer, so that the ranks "
                   "on a machine do not share cores)")
      ->check(CLI::Range(0, 1024))
      ->capture_default_str();
  train_cmd->add_option("--seed", t.seed, "seed for weights, shuffling and splits")
      ->capture_default_str();
  const CLI::Validator non_empty(
      [](std::string& s) { return s.empty() ? std::string("the path is empty") : std::string(); },
      "PATH");
  train_cmd
      ->add_option("--out", t.out,
                   "where to save the trained model (also when SIGINT or SIGTERM stops the run: it "
                   "then exits 130 or 143)")
      ->check(non_empty)
      ->capture_default_str();
  train_cmd->add_option("--log-json", t.log_json, "append one JSON object per epoch to this file")
      ->check(non_empty);
  train_cmd
      ->add_option("--checkpoint", t.checkpoint,
                   "save a checkpoint here after every epoch, and when a signal stops the run")
      ->check(non_empty);
  train_cmd
      ->add_option("--resume", t.resume, "continue from this checkpoint (and keep updating it)")
      ->check(non_empty);
  train_cmd
      ->add_option("--normalize", t.normalize,
                   "auto, none, minmax or standardize (statistics from the training set)")
      ->capture_default_str();
  train_cmd->add_option("--loss", t.loss, "auto, cross_entropy, mse, l1 or huber")
      ->capture_default_str();
  train_cmd
      ->add_option("--validation", t.validation,
                   "fraction of the training set held out for validation (0: none)")
      ->check(cli::in_range(0, 1, false, true))
      ->capture_default_str();
  train_cmd
      ->add_option("--patience", t.patience,
                   "stop after this many epochs without validation improvement")
      ->check(CLI::Range(0, 100000));
  train_cmd
      ->add_option("--random-crop", t.random_crop,
                   "augment images: pad by N zeros each side and crop back at a random offset")
      ->check(CLI::Range(0, 1024));
  train_cmd->add_flag("--random-flip", t.random_flip,
                      "augment images: mirror left-right with probability 1/2");
  train_cmd
      ->add_option("--plot", t.plot_dir,
                   "after training, write loss.svg and, for a classifier, accuracy.svg and "
                   "confusion_<set>.svg to this directory (created if needed)")
      ->check(non_empty);
  train_cmd
      ->add_option("--report", t.report,
                   "after training, write an HTML report (settings, per-epoch table, curves, "
                   "confusion matrices) to this file")
      ->check(non_empty);
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
  predict_cmd->add_option("--csv-header", predict_data.csv_header,
                          "CSV header row: yes, no or auto");

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
  gc_cmd->add_option("--samples", gc_samples, "elements checked per tensor (0: all)")
      ->check(CLI::Range(0, 1 << 30))
      ->capture_default_str();
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
  int code = 0;
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
      code = run_train(t);
    } else if (*eval_cmd) {
      code = run_eval(model_file, eval_data, eval_threads);
    } else if (*predict_cmd) {
      code = run_predict(model_file, predict_input, predict_data);
    } else if (*info_cmd) {
      code = run_info(model_file);
    } else if (*gc_cmd) {
      code = run_gradcheck(gc_model, gc_shape, gc_samples, gc_seed, gc_eps);
    } else if (*paper_cmd) {
      code = cli::run_paper(paper_args);
    }
  } catch (const std::exception& e) {
    const std::string message = failure_text(e);
    // One rank of a data-parallel job: the others would wait for it forever, so end them all.
    if (auto* comm = distributed::Communicator::active()) comm->abort(message);
    std::fprintf(stderr, "error: %s\n", message.c_str());
    code = 1;
  }
  return check_stdout(code);
}
