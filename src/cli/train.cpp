// `backprop train`: trains a model (new from a spec, or resumed from a checkpoint) and saves it,
// with its test scores; optionally logs, checkpoints, plots and reports. Under mpirun/srun every
// process runs it as one rank of a data-parallel job.
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>

#include <nlohmann/json.hpp>

#include "backprop/backprop.hpp"
#include "backprop/train.hpp"
#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "cli/flags.hpp"
#include "cli/interrupt.hpp"
#include "cli/run_report.hpp"
#include "io/json.hpp"

namespace bp::cli {

namespace {

using nlohmann::json;

constexpr const char* kDefaultHidden =
    "flatten,dense(256),relu,dropout(0.1),dense(128),relu,dropout(0.1)";
// The character model for a text corpus of `v` tokens.
std::string default_text_model(const std::string& v) {
  return fmt::format("embedding({0},64),lstm(256,sequences=true),dense({0})", v);
}

struct TrainArgs {
  DataOptions data;
  std::string model = "auto";
  std::string optimizer = "sgd";
  float lr = 0.05f;
  float momentum = 0.9f;
  bool nesterov = false;
  float weight_decay = 0.0f;
  int64_t batch = 128;
  int64_t epochs = 50;
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
  // With the defaults (SGD, lr 0.05, momentum 0.9) this reaches ~90.4% on Fashion-MNIST.
  std::string schedule = "cosine";
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

// ---- The options -------------------------------------------------------------------------------

const CLI::Validator& non_empty_path() {
  static const CLI::Validator check(
      [](std::string& s) { return s.empty() ? std::string("the path is empty") : std::string(); },
      "PATH");
  return check;
}

void add_optimizer_options(CLI::App& cmd, TrainArgs& t) {
  cmd.add_option("--optimizer", t.optimizer,
                 "optimizer: sgd, adagrad, rmsprop, adam, adamw, adamax or nadam (resuming: the "
                 "checkpoint's)")
      ->capture_default_str();
  cmd.add_option("--lr", t.lr,
                 "learning rate (default 0.05 for sgd, else PyTorch's: adagrad/rmsprop 0.01, "
                 "adam/adamw 0.001, adamax/nadam 0.002)")
      ->check(in_range(0, 1e3))
      ->capture_default_str();
  cmd.add_option("--momentum", t.momentum, "momentum α: sgd (default 0.9), rmsprop (default 0)")
      ->check(in_range(0, 1, false, true))
      ->capture_default_str();
  cmd.add_option("--beta1", t.beta1, "adam/adamw/adamax/nadam: first-moment decay β1")
      ->check(in_range(0, 1, false, true))
      ->capture_default_str();
  cmd.add_option("--beta2", t.beta2, "adam/adamw/adamax/nadam: second-moment decay β2")
      ->check(in_range(0, 1, false, true))
      ->capture_default_str();
  cmd.add_option("--eps", t.eps,
                 "denominator term of the adaptive optimizers (default 1e-8; adagrad 1e-10)")
      ->check(in_range(0, 1, true, false));
  cmd.add_flag("--amsgrad", t.amsgrad, "adam/adamw: AMSGrad variant");
  cmd.add_flag("--centered", t.centered, "rmsprop: centered variant");
  cmd.add_option("--schedule", t.schedule,
                 "learning-rate schedule per batch, e.g. \"warmup(500),cosine\", "
                 "\"step(10e,0.1)\", \"multistep(20e;30e,0.1)\", onecycle, \"plateau(0.1,5)\", or "
                 "constant (listed below; see docs/cli.md)")
      ->capture_default_str();
  cmd.add_option("--clip-norm", t.clip_norm, "clip the gradients' total 2-norm to this (0: off)")
      ->check(in_range(0, 1e30));
  cmd.add_option("--clip-value", t.clip_value, "clip every gradient element to [-X, X] (0: off)")
      ->check(in_range(0, 1e30));
  cmd.add_flag("--nesterov", t.nesterov, "Nesterov momentum");
  cmd.add_option("--weight-decay", t.weight_decay,
                 "L2 weight decay (adamw: decoupled, default 0.01)")
      ->check(in_range(0, 1))
      ->capture_default_str();
}

void add_loop_options(CLI::App& cmd, TrainArgs& t) {
  cmd.add_option("--batch", t.batch, "batch size")
      ->check(CLI::Range(1, 1 << 20))
      ->capture_default_str();
  cmd.add_option("--epochs", t.epochs, "epochs to train (in total, when resuming)")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  cmd.add_option("--threads", t.threads,
                 "threads (0: all cores; under mpirun by default 2 or fewer, so that the ranks on "
                 "a machine do not share cores)")
      ->check(CLI::Range(0, 1024))
      ->capture_default_str();
  cmd.add_option("--seed", t.seed, "seed for weights, shuffling and splits")->capture_default_str();
}

void add_file_options(CLI::App& cmd, TrainArgs& t) {
  cmd.add_option("--out", t.out,
                 "where to save the trained model (also when SIGINT or SIGTERM stops the run: it "
                 "then exits 130 or 143)")
      ->check(non_empty_path())
      ->capture_default_str();
  cmd.add_option("--log-json", t.log_json, "append one JSON object per epoch to this file")
      ->check(non_empty_path());
  cmd.add_option("--checkpoint", t.checkpoint,
                 "save a checkpoint here after every epoch, and when a signal stops the run")
      ->check(non_empty_path());
  cmd.add_option("--resume", t.resume, "continue from this checkpoint (and keep updating it)")
      ->check(non_empty_path());
}

void add_objective_options(CLI::App& cmd, TrainArgs& t) {
  cmd.add_option("--normalize", t.normalize,
                 "auto, none, minmax or standardize (statistics from the training set)")
      ->capture_default_str();
  cmd.add_option("--loss", t.loss, "auto, cross_entropy, mse, l1 or huber")->capture_default_str();
  cmd.add_option("--validation", t.validation,
                 "fraction of the training set held out for validation (0: none)")
      ->check(in_range(0, 1, false, true))
      ->capture_default_str();
  cmd.add_option("--patience", t.patience,
                 "stop after this many epochs without validation improvement")
      ->check(CLI::Range(0, 100000));
  cmd.add_option("--random-crop", t.random_crop,
                 "augment images: pad by N zeros each side and crop back at a random offset")
      ->check(CLI::Range(0, 1024));
  cmd.add_flag("--random-flip", t.random_flip,
               "augment images: mirror left-right with probability 1/2");
}

void add_report_options(CLI::App& cmd, TrainArgs& t) {
  cmd.add_option("--plot", t.plot_dir,
                 "after training, write loss.svg and, for a classifier, accuracy.svg and "
                 "confusion_<set>.svg to this directory (created if needed)")
      ->check(non_empty_path());
  cmd.add_option("--report", t.report,
                 "after training, write an HTML report (settings, per-epoch table, curves, "
                 "confusion matrices) to this file")
      ->check(non_empty_path());
  cmd.add_flag("-q,--quiet", t.quiet, "no progress output");
}

// What only the parsed command line knows: which flags were given, and their settings for the
// report.
void note_command_line(TrainArgs& t, const CLI::App& cmd, int argc, const char* const* argv) {
  t.optimizer_given = cmd.count("--optimizer") > 0;
  t.lr_given = cmd.count("--lr") > 0;
  t.momentum_given = cmd.count("--momentum") > 0;
  t.eps_given = cmd.count("--eps") > 0;
  t.weight_decay_given = cmd.count("--weight-decay") > 0;
  t.threads_given = cmd.count("--threads") > 0;
  t.flags = option_settings(cmd, argc, argv);
}

// ---- Checks and choices before training ---------------------------------------------------------

// The network's outputs per sample the data needs: one per class, or one per target.
int64_t outputs_needed(const data::Dataset& train) {
  return train.task == data::Task::classification ? train.num_classes : train.targets.size(1);
}

void check_outputs(const Model& model, const data::Dataset& train) {
  const Shape out = model.network->output_shape(model.input_shape);
  const int64_t k = outputs_needed(train);
  if (train.labels_per_sample > 1) {
    const int64_t len = train.labels_per_sample;
    BP_CHECK(out == Shape({len, k}),
             "--model: the network outputs {} per sample but next-character targets need ({}, {}): "
             "a score per character at every position; end the spec with a recurrent layer with "
             "sequences=true (or a transformer) and dense({})",
             to_string(out), len, k, k);
    return;
  }
  BP_CHECK(out.size() == 1 && out[0] == k,
           "--model: the network outputs {} per sample but the data has {} {}; end the spec with "
           "dense({})",
           to_string(out), k, train.task == data::Task::classification ? "classes" : "target(s)",
           k);
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

// The optimizer's settings from the flags; a flag not given takes the optimizer's own default,
// PyTorch's (sgd keeps this program's lr 0.05 and momentum 0.9).
optim::OptimizerSettings optimizer_settings(const TrainArgs& a, const std::string& kind) {
  optim::OptimizerSettings s;
  const bool sgd = kind == "sgd";
  if (a.lr_given || sgd) s.lr = a.lr;
  s.momentum = a.momentum_given || sgd ? a.momentum : 0.0f;
  if (a.weight_decay_given) s.weight_decay = a.weight_decay;
  if (a.eps_given) s.eps = a.eps;
  s.nesterov = a.nesterov;
  s.beta1 = a.beta1;
  s.beta2 = a.beta2;
  s.amsgrad = a.amsgrad;
  s.centered = a.centered;
  return optim::with_defaults(kind, s);
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

// ---- The run ------------------------------------------------------------------------------------

// Everything a training run holds, from the flags to the saved model.
struct TrainRun {
  TrainRun(const TrainArgs& args, distributed::Communicator& communicator)
      : a(args), comm(communicator) {}
  const TrainArgs& a;
  distributed::Communicator& comm;
  bool lead = true, quiet = false;
  int threads = 1;
  std::string checkpoint;  // where checkpoints go: --checkpoint, else --resume (may be empty)
  TrainTestData d;
  data::Dataset val;
  Model model;
  Checkpoint resumed;
  std::vector<train::EpochStats> earlier;  // the epochs before the checkpoint, for the pictures
  // The checkpoint's schedule state, when it ran the schedule this run asks for.
  std::optional<std::vector<double>> schedule_state;
  std::string optimizer_kind;
  optim::OptimizerSettings osettings;
  std::unique_ptr<optim::Optimizer> optimizer;
  std::shared_ptr<optim::Schedule> schedule;
  json settings;
};

// Who does what: under mpirun/srun only rank 0 prints, logs and writes files; the threads each
// rank runs; where checkpoints go. Output paths are checked now, not after a long run.
void start(TrainRun& r) {
  const TrainArgs& a = r.a;
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
  if (r.lead) check_output_paths(a, r.checkpoint);
}

// The data: the training and test sets, and the validation set cut from the training set.
void load_data(TrainRun& r) {
  const TrainArgs& a = r.a;
  BP_CHECK(a.patience == 0 || a.validation > 0,
           "--patience needs a validation set: add --validation FRACTION");
  DataOptions dopt = a.data;
  dopt.seed = a.seed;
  r.d = load_train_test(dopt);
  if (a.validation > 0) {
    std::vector<double> fractions{1 - a.validation, a.validation};
    auto parts = data::split(r.d.train, fractions, a.seed + 1);
    r.d.train = std::move(parts[0]);
    r.val = std::move(parts[1]);
  }
}

// What the checkpoint recorded of its run besides the weights (training_settings, with the history
// and the schedule's state): the epochs before it, and the schedule's state when it ran the same
// schedule.
void read_checkpoint_record(TrainRun& r) {
  const std::string what = r.a.resume + ": training settings";
  const json saved = io::parse_json(r.resumed.trainer_json, what);
  BP_CHECK(saved.is_object(), "{}: expected a JSON object, got {}", what, saved.type_name());
  if (saved.contains("history")) r.earlier = history_from_json(saved["history"]);
  if (saved.contains("schedule") && saved.contains("schedule_state") &&
      io::json_field<std::string>(saved, "schedule", what) == r.a.schedule)
    r.schedule_state = io::json_field<std::vector<double>>(saved, "schedule_state", what);
}

// The model of --resume, and its optimizer's kind: the checkpoint's unless --optimizer is given.
void resume_model(TrainRun& r) {
  const TrainArgs& a = r.a;
  r.resumed = load_checkpoint(a.resume);
  r.model = r.resumed.model;
  BP_CHECK(r.model.input_shape == r.d.train.feature_shape,
           "--resume: the checkpoint's model takes inputs of shape {}, the data has {}",
           to_string(r.model.input_shape), to_string(r.d.train.feature_shape));
  const auto symbols = [](const std::optional<data::Vocabulary>& v) {
    return v ? std::optional(std::pair(v->kind, v->symbols)) : std::nullopt;
  };
  BP_CHECK(symbols(r.model.vocabulary) == symbols(r.d.vocabulary),
           "--resume: the checkpoint's model was trained on other characters than the training "
           "part of {} holds (or with other --tokens)",
           a.data.source);
  if (!a.optimizer_given) r.optimizer_kind = r.resumed.optimizer_kind;
  BP_CHECK(r.resumed.optimizer_kind == r.optimizer_kind,
           "--resume: the checkpoint was trained with '{}', not '{}'", r.resumed.optimizer_kind,
           r.optimizer_kind);
  BP_CHECK(r.resumed.epochs_done < a.epochs,
           "--resume: the checkpoint already has {} epochs; ask for more with --epochs",
           r.resumed.epochs_done);
}

// A new model from --model (auto: the default hidden layers and one output per class or target),
// its normalization fitted on the training set.
void new_model(TrainRun& r) {
  const TrainArgs& a = r.a;
  const data::Dataset& train = r.d.train;
  std::string spec = a.model;
  const std::string k = std::to_string(outputs_needed(train));
  if (spec == "auto" && r.d.vocabulary)
    spec = default_text_model(k);
  else if (spec == "auto")
    spec = fmt::format("{},dense({})", kDefaultHidden, k);
  Generator gen(a.seed);
  r.model = Model::create(parse_spec_argument(spec), train.feature_shape, gen);
  r.model.task = train.task;
  r.model.label_names = train.label_names;
  r.model.vocabulary = r.d.vocabulary;
  r.model.forecast = r.d.forecast;
  r.model.normalizer = data::Normalizer::fit(train, parse_norm(a.normalize, r.d.from_csv));
}

// The model and optimizer: resumed from --resume, or new from --model; the data normalized.
void make_model(TrainRun& r) {
  const TrainArgs& a = r.a;
  r.optimizer_kind = a.optimizer;
  if (a.resume.empty())
    new_model(r);
  else
    resume_model(r);
  check_outputs(r.model, r.d.train);
  for (data::Dataset* set : {&r.d.train, &r.d.test, &r.val})
    if (set->size() > 0 && r.model.normalizer.kind() != data::NormKind::none)
      r.model.normalizer.apply(*set);
  r.osettings = optimizer_settings(a, r.optimizer_kind);
  r.optimizer = optim::make_optimizer(r.optimizer_kind, r.model.network->parameters(), r.osettings);
  if (a.resume.empty()) return;
  r.optimizer->load_state(r.resumed.optimizer_state);
  read_checkpoint_record(r);
}

// The learning-rate schedule. Schedules count optimizer updates from the start of the whole run;
// a resumed run continues where the checkpoint stopped (the trainer's global_step), with the
// reduce-on-plateau state of a checkpoint that ran the same schedule.
void make_schedule(TrainRun& r) {
  const TrainArgs& a = r.a;
  if (a.schedule.empty()) return;
  const int64_t update_batch = a.batch * r.comm.size();
  const int64_t per_epoch = (r.d.train.size() + update_batch - 1) / update_batch;
  r.schedule = optim::parse_schedule(a.schedule, {.base_lr = static_cast<double>(*r.osettings.lr),
                                                  .total_steps = a.epochs * per_epoch,
                                                  .steps_per_epoch = per_epoch});
  if (r.schedule_state) r.schedule->load_state(*r.schedule_state);
  if (!r.quiet) std::printf("schedule: %s\n", r.schedule->to_string().c_str());
}

// The settings recorded in checkpoints, the model's info and the report.
json training_settings(const TrainRun& r) {
  const TrainArgs& a = r.a;
  const optim::OptimizerSettings& o = r.osettings;
  json settings = {{"optimizer", r.optimizer_kind},
                   {"lr", *o.lr},
                   {"momentum", o.momentum},
                   {"nesterov", o.nesterov},
                   {"weight_decay", *o.weight_decay},
                   {"batch", a.batch},
                   {"seed", a.seed},
                   {"data", a.data.source},
                   {"precision", to_string(precision())}};
  if (r.optimizer_kind != "sgd") {
    settings["beta1"] = o.beta1;
    settings["beta2"] = o.beta2;
    settings["eps"] = *o.eps;
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
  s["history"] = history_to_json(full_history(r, trainer));
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

// ---- After training -----------------------------------------------------------------------------

// The curves and confusion matrices of a finished run (--plot), and its HTML report (--report).
void write_pictures(const TrainRun& r, const std::vector<train::EpochStats>& history) {
  const TrainArgs& a = r.a;
  const Model& model = r.model;
  const bool classifier = model.task == data::Task::classification;
  if (!a.plot_dir.empty()) {
    plot::write_training_plots(a.plot_dir, history, classifier, model.label_names);
    if (!a.quiet) std::printf("plots written to %s\n", a.plot_dir.c_str());
  }
  if (!a.report.empty()) {
    plot::Report report{.title = "backprop train: " + a.data.source,
                        .settings = a.flags,
                        .history = history,
                        .classification = classifier,
                        .class_names = model.label_names};
    report.settings.insert(report.settings.begin() + 1,
                           {{"model", nn::to_string(model.spec)},
                            {"input shape", to_string(model.input_shape)},
                            {"parameters", std::to_string(model.network->parameter_count())},
                            {"training settings", settings_text(r.settings)}});
    io::write_file_atomic(a.report, plot::html_report(report));
    if (!a.quiet) std::printf("report written to %s\n", a.report.c_str());
  }
}

// A run stopped by a signal: the checkpoint and the model as they are after the last batch, the
// model's info marked with where it stopped. Returns 128 + the signal, as a shell reports it.
int finish_interrupted(TrainRun& r, const train::Trainer& trainer) {
  const int sig = *interrupt_signal();
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
  if (r.model.vocabulary) info["test_bits_per_char"] = bits_per_char(test.loss);
  r.model.info_json = io::dump_json(info);
  save_model(r.a.out, r.model);
  if (r.model.vocabulary)
    print_text_metrics("test", test, r.model.input_shape[0], r.d.test_unknown);
  else if (r.model.task == data::Task::classification)
    std::printf("test accuracy: %.2f%% (loss %.4f, %lld samples)\n", 100 * test.accuracy, test.loss,
                static_cast<long long>(test.samples));
  else
    std::printf("test loss: %.6f (%lld samples)\n", test.loss,
                static_cast<long long>(test.samples));
  if (r.d.raw_test.size() > 0) print_forecast_metrics("test", r.model, r.d.raw_test);
  std::printf("model saved to %s\n", r.a.out.c_str());
  write_pictures(r, full_history(r, trainer));
  return 0;
}

void print_setup(const TrainRun& r) {
  if (r.quiet) return;
  print_summary(r.model);
  if (r.comm.size() > 1)
    std::printf("data-parallel: %d ranks x %d threads, batch %lld per rank (%lld per update)\n",
                r.comm.size(), r.threads, static_cast<long long>(r.a.batch),
                static_cast<long long>(r.a.batch * r.comm.size()));
}

// The trainer's options. Several ranks stop together or not at all: there the launcher's signal
// ends the job, so only a single process watches for interrupts.
train::TrainerOptions trainer_options(const TrainRun& r) {
  const TrainArgs& a = r.a;
  return {.epochs = a.epochs,
          .batch_size = a.batch,
          .seed = a.seed,
          .shuffle = true,
          .loss = parse_loss(a.loss, r.d.train.task),
          .start_epoch = r.resumed.epochs_done,
          .start_batch = r.resumed.batches_done,
          .interrupt = r.comm.size() == 1 ? interrupt_signal() : nullptr,
          .random_crop_padding = a.random_crop,
          .random_flip = a.random_flip,
          .communicator = &r.comm,
          .precision = precision()};  // --precision, set for the whole process
}

int run_train(const TrainArgs& a) {
  TrainRun r(a, distributed::Communicator::world());
  start(r);
  load_data(r);
  make_model(r);
  print_setup(r);
  make_schedule(r);
  r.settings = training_settings(r);
  train::Trainer trainer(*r.model.network, *r.optimizer, trainer_options(r));
  add_callbacks(r, trainer);
  std::vector<std::pair<std::string, const data::Dataset*>> evals;
  if (r.val.size() > 0) evals.emplace_back("val", &r.val);
  evals.emplace_back("test", &r.d.test);
  if (r.comm.size() == 1) catch_interrupts();
  const auto ran = trainer.fit(r.d.train, evals);
  if (trainer.interrupted()) return finish_interrupted(r, trainer);
  return finish(r, trainer, ran);
}

}  // namespace

Command add_train_command(CLI::App& app, int argc, const char* const* argv) {
  auto t = std::make_shared<TrainArgs>();
  CLI::App* cmd = app.add_subcommand("train", "train a model and save it");
  cmd->footer(spec_help() + schedule_help());
  add_data_options(*cmd, t->data);
  cmd->add_option("--test-fraction", t->data.test_fraction,
                  "fraction held out for testing: of a CSV file drawn at random (default 0.2), of "
                  "a text corpus its end (default 0.1)")
      ->check(in_range(0, 1, true, true));
  cmd->add_option("--seq-len", t->data.seq_len,
                  "text corpus (a .txt file, or any file with this flag): characters per window, "
                  "the model predicting the next one at each (default " +
                      std::to_string(kDefaultSeqLen) + ")")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  cmd->add_option("--tokens", t->data.tokens,
                  "text corpus: the characters are UTF-8 codepoints, or bytes (any file)")
      ->check(CLI::IsMember({"codepoints", "bytes"}))
      ->capture_default_str();
  cmd->add_option("--model", t->model,
                  "model spec, or @file.json (auto: " + std::string(kDefaultHidden) +
                      ",dense(classes); for a text corpus " + default_text_model("V") +
                      ", V the characters plus one for unknown ones)")
      ->capture_default_str();
  add_optimizer_options(*cmd, *t);
  add_loop_options(*cmd, *t);
  add_file_options(*cmd, *t);
  add_objective_options(*cmd, *t);
  add_report_options(*cmd, *t);
  return {cmd, [t, cmd, argc, argv] {
            note_command_line(*t, *cmd, argc, argv);
            return run_train(*t);
          }};
}

}  // namespace bp::cli
