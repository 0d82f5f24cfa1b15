// Trains a model spec on an MNIST-style folder in the shapes the command line cannot feed yet:
// each image as a sequence of 28 rows of 28 features (for rnn, lstm, gru and attention), or the
// image as its own regression target (an autoencoder, mean squared error). Everything else is
// what `backprop train` does: the same trainer (batch split across --threads), SGD with momentum
// at a constant rate, weights drawn from --seed, one JSON line per epoch on stdout with the
// epoch's training seconds and samples/s. bench/zoo.py runs it beside the CLI.
//
//   ./build/bench/bench_zoo_train --data DIR --model SPEC --input rows|image --target labels|image
//                                 [--batch 128] [--epochs 1] [--threads 2] [--lr 0.05]
//                                 [--momentum 0.9] [--seed 1]
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>

#include "backprop/backprop.hpp"

namespace {

struct Options {
  std::string data, model, input = "image", target = "labels";
  int64_t batch = 128, epochs = 1;
  int threads = 2;
  float lr = 0.05f, momentum = 0.9f;
  uint64_t seed = 1;
};

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(stderr, "error: %s\n", why.c_str());
  std::exit(2);
}

Options parse(int argc, char** argv) {
  std::map<std::string, std::string> v;
  for (int i = 1; i < argc; i += 2) {
    if (i + 1 >= argc) usage(std::string("missing the value of ") + argv[i]);
    v[argv[i]] = argv[i + 1];
  }
  Options o;
  auto take = [&](const char* flag, auto& field, auto convert) {
    if (auto it = v.find(flag); it != v.end()) {
      field = convert(it->second);
      v.erase(it);
    }
  };
  auto text = [](const std::string& s) { return s; };
  auto integer = [](const std::string& s) { return std::stoll(s); };
  auto real = [](const std::string& s) { return std::stof(s); };
  take("--data", o.data, text);
  take("--model", o.model, text);
  take("--input", o.input, text);
  take("--target", o.target, text);
  take("--batch", o.batch, integer);
  take("--epochs", o.epochs, integer);
  take("--threads", o.threads, [](const std::string& s) { return std::stoi(s); });
  take("--lr", o.lr, real);
  take("--momentum", o.momentum, real);
  take("--seed", o.seed, [](const std::string& s) { return std::stoull(s); });
  if (!v.empty()) usage("unknown flag " + v.begin()->first);
  if (o.data.empty() || o.model.empty()) usage("--data and --model are required");
  if (o.input != "image" && o.input != "rows") usage("--input must be image or rows");
  if (o.target != "labels" && o.target != "image") usage("--target must be labels or image");
  return o;
}

// The dataset in the shape the model reads, with the labels or the image as the target.
bp::data::Dataset reshaped(bp::data::Dataset d, const Options& o) {
  if (o.target == "image") {
    d.targets = d.float_features().reshape({d.size(), d.sample_numel()});
    d.task = bp::data::Task::regression;
    d.labels.clear();
    d.label_names.clear();
    d.num_classes = 0;
  }
  if (o.input == "rows") {
    const int64_t rows = d.feature_shape[1];
    d.feature_shape = {rows, d.sample_numel() / rows};
    if (d.features.defined()) d.features = d.features.reshape({d.size(), rows, -1});
  }
  d.validate();
  return d;
}

void print_epoch(const bp::train::EpochStats& e) {
  std::printf(
      "{\"epoch\": %lld, \"train_loss\": %.6g, \"seconds\": %.6g, \"samples_per_sec\": %.6g}\n",
      static_cast<long long>(e.epoch), e.train_loss, e.seconds, e.samples_per_sec);
}

int run(const Options& o) {
  namespace data = bp::data;
  bp::set_num_threads(o.threads);
  const data::Dataset train = reshaped(data::load_mnist_dir(o.data, data::Split::train), o);
  bp::Generator gen(o.seed);
  auto model = bp::nn::build_model(bp::nn::parse_model_spec(o.model), train.feature_shape, gen);
  bp::optim::SGDOptions sgd;
  sgd.lr = o.lr;
  sgd.momentum = o.momentum;
  bp::optim::SGD optimizer(model->parameters(), sgd);
  bp::train::TrainerOptions options;
  options.epochs = o.epochs;
  options.batch_size = o.batch;
  options.seed = o.seed;
  options.loss = o.target == "image" ? bp::train::Loss::mse : bp::train::Loss::cross_entropy;
  bp::train::Trainer trainer(*model, optimizer, options);
  for (const auto& e : trainer.fit(train, {})) print_epoch(e);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(parse(argc, argv));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
