// Model and checkpoint files: round trips and clear errors for files that are not what they claim.
#include <gtest/gtest.h>

#include <bit>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "backprop/io.hpp"
#include "backprop/model.hpp"
#include "test_util.hpp"

namespace bp {
namespace {

namespace fs = std::filesystem;
using bp::testing::expect_error;
using bp::testing::TempDir;

void expect_same_bits(const Tensor& a, const Tensor& b, const std::string& what) {
  ASSERT_EQ(a.shape(), b.shape()) << what;
  for (int64_t i = 0; i < a.numel(); ++i)
    ASSERT_EQ(std::bit_cast<uint32_t>(a.data()[i]), std::bit_cast<uint32_t>(b.data()[i]))
        << what << "[" << i << "]";
}

// A small classifier with a fitted standardisation.
Model small_model(uint64_t seed = 1) {
  Generator gen(seed);
  Model m = Model::create(nn::parse_model_spec("dense(6),tanh,dense(3,bias=false)"), {4}, gen);
  data::Dataset d;
  d.features = Tensor::normal({20, 4}, 3.0f, 2.0f, gen);
  d.feature_shape = {4};
  d.labels.assign(20, 0);
  d.num_classes = 3;
  m.label_names = {"cat", "dog", "émeu"};
  m.normalizer = data::Normalizer::fit(d, data::NormKind::standardize);
  m.info_json = R"({"note":"test"})";
  return m;
}

TEST(ModelFile, SaveLoadGivesIdenticalPredictions) {
  TempDir dir;
  Model m = small_model();
  save_model(dir / "m.bp", m);
  Model loaded = load_model(dir / "m.bp");
  EXPECT_EQ(nn::to_string(loaded.spec), "dense(6),tanh,dense(3,bias=false)");
  EXPECT_EQ(loaded.input_shape, (Shape{4}));
  EXPECT_EQ(loaded.task, data::Task::classification);
  EXPECT_EQ(loaded.num_outputs, 3);
  EXPECT_EQ(loaded.label_names, m.label_names);
  EXPECT_EQ(loaded.normalizer.kind(), data::NormKind::standardize);
  EXPECT_EQ(loaded.normalizer.offset(), m.normalizer.offset());
  EXPECT_EQ(loaded.normalizer.scale(), m.normalizer.scale());
  EXPECT_EQ(nlohmann::json::parse(loaded.info_json)["note"], "test");
  auto pa = m.network->named_parameters(), pb = loaded.network->named_parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (size_t i = 0; i < pa.size(); ++i) {
    EXPECT_EQ(pa[i].first, pb[i].first);
    expect_same_bits(pa[i].second, pb[i].second, pa[i].first);
  }
  Generator gen(5);
  Tensor x = Tensor::normal({7, 4}, 3.0f, 2.0f, gen);
  expect_same_bits(m.predict(x), loaded.predict(x), "predictions");
  expect_error([&] { loaded.predict(Tensor::zeros({7, 5})); }, "input shape [4]");
  // load_model also reads the model inside a checkpoint.
  optim::SGD sgd(m.network->parameters(), {.lr = 0.1f});
  save_checkpoint(dir / "c.bp", m, sgd, 3, "{}");
  expect_same_bits(load_model(dir / "c.bp").predict(x), m.predict(x), "checkpoint predictions");
}

TEST(ModelFile, RegressionModelWithoutNormalisation) {
  TempDir dir;
  Generator gen(2);
  Model m = Model::create(nn::parse_model_spec("flatten,dense(2)"), {2, 3}, gen);
  m.task = data::Task::regression;
  save_model(dir / "r.bp", m);
  Model loaded = load_model(dir / "r.bp");
  EXPECT_EQ(loaded.task, data::Task::regression);
  EXPECT_EQ(loaded.normalizer.kind(), data::NormKind::none);
  EXPECT_EQ(loaded.input_shape, (Shape{2, 3}));
  Tensor x = Tensor::uniform({3, 2, 3}, -1, 1, gen);
  expect_same_bits(m.predict(x), loaded.predict(x), "predictions");
}

TEST(ModelFile, CheckpointRoundTripRestoresTheSgdTrajectory) {
  TempDir dir;
  Model m = small_model();
  optim::SGD sgd(m.network->parameters(), {.lr = 0.05f, .momentum = 0.9f, .nesterov = true});
  Generator gen(7);
  Tensor x = Tensor::normal({8, 4}, 0, 1, gen);
  std::vector<int64_t> y{0, 1, 2, 0, 1, 2, 0, 1};
  auto step = [&](Model& model, optim::SGD& opt) {
    opt.zero_grad();
    cross_entropy(model.network->forward(x), y).backward();
    opt.step();
  };
  for (int i = 0; i < 3; ++i) step(m, sgd);
  save_checkpoint(dir / "c.bp", m, sgd, 3, R"({"lr":0.05})");

  Checkpoint c = load_checkpoint(dir / "c.bp");
  EXPECT_EQ(c.epochs_done, 3);
  EXPECT_EQ(c.optimizer_kind, "sgd");
  EXPECT_EQ(nlohmann::json::parse(c.trainer_json)["lr"], 0.05);
  EXPECT_EQ(c.optimizer_state.size(), m.network->parameters().size());
  optim::SGD resumed(c.model.network->parameters(), sgd.options());
  resumed.load_state(c.optimizer_state);
  for (int i = 0; i < 3; ++i) {
    step(m, sgd);
    step(c.model, resumed);
  }
  auto pa = m.network->parameters(), pb = c.model.network->parameters();
  for (size_t i = 0; i < pa.size(); ++i) expect_same_bits(pa[i], pb[i], "parameter");
  // Without the momentum buffers the trajectory differs: the state is what made them equal.
  optim::SGD fresh(c.model.network->parameters(), sgd.options());
  EXPECT_NE(fresh.state().size(), c.optimizer_state.size());
}

TEST(ModelFile, CheckpointErrors) {
  TempDir dir;
  Model m = small_model();
  save_model(dir / "m.bp", m);
  expect_error([&] { load_checkpoint(dir / "m.bp"); }, "a model file, not a checkpoint");
  expect_error([&] { load_checkpoint(dir / "m.bp"); }, dir / "m.bp");
  // Optimizer state that does not belong to the model is refused.
  optim::SGD sgd(m.network->parameters(), {.lr = 0.1f, .momentum = 0.5f});
  Generator gen(1);
  Model other = Model::create(nn::parse_model_spec("dense(2)"), {4}, gen);
  optim::SGD other_sgd(other.network->parameters(), {.lr = 0.1f, .momentum = 0.5f});
  sum(other.network->forward(Tensor::ones({1, 4}))).backward();
  other_sgd.step();
  save_checkpoint(dir / "o.bp", other, other_sgd, 1, "{}");
  expect_error([&] { sgd.load_state(load_checkpoint(dir / "o.bp").optimizer_state); },
               "SGD::load_state");
}

// Writes an archive with the given metadata and tensors, bypassing save_model's checks.
void write_raw(const std::string& path, const nlohmann::json& meta,
               std::vector<std::pair<std::string, Tensor>> tensors) {
  io::Archive a;
  a.meta_json = meta.dump();
  a.tensors = std::move(tensors);
  io::save_archive(path, a);
}

nlohmann::json good_meta() {
  return {{"kind", "model"},         {"spec", "dense(2)"},
          {"input_shape", {3}},      {"task", "classification"},
          {"num_outputs", 2},        {"label_names", {"a", "b"}},
          {"normalization", "none"}, {"info", nlohmann::json::object()}};
}

std::vector<std::pair<std::string, Tensor>> good_tensors() {
  return {{"param/0.weight", Tensor::zeros({2, 3})},
          {"param/0.bias", Tensor::zeros({2})},
          {"norm/offset", Tensor::zeros({0})},
          {"norm/scale", Tensor::zeros({0})}};
}

TEST(ModelFileErrors, MalformedContentsAreClearErrors) {
  TempDir dir;
  const std::string p = dir / "x.bp";
  write_raw(p, good_meta(), good_tensors());
  EXPECT_EQ(load_model(p).network->parameter_count(), 8);

  struct Case {
    const char* what;
    std::function<void(nlohmann::json&, std::vector<std::pair<std::string, Tensor>>&)> edit;
    const char* needle;
  };
  using Tensors = std::vector<std::pair<std::string, Tensor>>;
  const Case cases[] = {
      {"kind", [](nlohmann::json& j, Tensors&) { j["kind"] = "spreadsheet"; }, "not a model file"},
      {"no kind", [](nlohmann::json& j, Tensors&) { j.erase("kind"); }, "malformed model metadata"},
      {"spec type", [](nlohmann::json& j, Tensors&) { j["spec"] = 5; }, "malformed model metadata"},
      {"bad spec", [](nlohmann::json& j, Tensors&) { j["spec"] = "dense(2),wobble"; },
       "unknown layer"},
      {"shape", [](nlohmann::json& j, Tensors&) { j["input_shape"] = {0}; }, "bad input shape"},
      {"huge shape",
       [](nlohmann::json& j, Tensors&) {
         j["input_shape"] = {1 << 29, 1 << 29, 1 << 29};
       },
       "too large"},
      {"task", [](nlohmann::json& j, Tensors&) { j["task"] = "clustering"; }, "unknown task"},
      {"norm", [](nlohmann::json& j, Tensors&) { j["normalization"] = "zscore"; },
       "unknown normalisation 'zscore'"},
      {"missing param", [](nlohmann::json&, Tensors& t) { t[0].first = "param/renamed"; },
       "no tensor named 'param/0.weight'"},
      {"too few params", [](nlohmann::json&, Tensors& t) { t.erase(t.begin()); },
       "needs 8 parameters, more than the 2 available"},
      {"param shape",
       [](nlohmann::json&, Tensors& t) {
         t[0].second = Tensor::zeros({3, 2});
       },
       "parameter '0.weight' has shape [3, 2], the spec needs [2, 3]"},
      // A tiny file must not make the loader allocate a huge network.
      {"huge layer",
       [](nlohmann::json& j, Tensors&) {
         j["spec"] = "dense(1000000000)";
         j["input_shape"] = {1000};
       },
       "parameters"},
      {"norm size",
       [](nlohmann::json& j, Tensors& t) {
         j["normalization"] = "standardize";
         t[2].second = Tensor::zeros({2});
         t[3].second = Tensor::ones({2});
       },
       "the normalisation has 2 values"},
      {"norm scale",
       [](nlohmann::json& j, Tensors& t) {
         j["normalization"] = "standardize";
         t[2].second = Tensor::zeros({3});
         t[3].second = Tensor::zeros({3});
       },
       "Normalizer"},
  };
  for (const Case& c : cases) {
    nlohmann::json meta = good_meta();
    Tensors tensors = good_tensors();
    c.edit(meta, tensors);
    write_raw(p, meta, tensors);
    try {
      load_model(p);
      ADD_FAILURE() << c.what << ": accepted";
    } catch (const Error& e) {
      std::string msg = e.what();
      EXPECT_NE(msg.find(c.needle), std::string::npos) << c.what << ": " << msg;
      EXPECT_EQ(msg.rfind(p, 0), 0u) << c.what << ": does not start with the path: " << msg;
    }
  }
  io::Archive not_json;
  not_json.meta_json = "{not json";
  io::save_archive(p, not_json);
  expect_error([&] { load_model(p); }, "malformed model metadata");
}

TEST(ModelFileErrors, MissingTruncatedAndCorruptFiles) {
  TempDir dir;
  expect_error([&] { load_model(dir / "none.bp"); }, "no such file");
  save_model(dir / "m.bp", small_model());
  std::ifstream in(dir / "m.bp", std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (size_t n : {size_t{0}, size_t{5}, size_t{19}, bytes.size() / 2, bytes.size() - 1}) {
    std::ofstream(dir / "t.bp", std::ios::binary) << bytes.substr(0, n);
    expect_error([&] { load_model(dir / "t.bp"); }, dir / "t.bp");
  }
  std::string flipped = bytes;
  flipped[flipped.size() / 3] ^= 0x01;
  std::ofstream(dir / "f.bp", std::ios::binary) << flipped;
  expect_error([&] { load_model(dir / "f.bp"); }, "checksum mismatch");
}

TEST(ModelFileErrors, SaveFailureKeepsTheOldFile) {
  TempDir dir;
  Model m = small_model();
  expect_error([&] { save_model(dir / "no/such/dir/m.bp", m); }, "cannot write");
  EXPECT_FALSE(fs::exists(dir / "no"));
  Model empty;
  expect_error([&] { save_model(dir / "m.bp", empty); }, "no network");
  EXPECT_FALSE(fs::exists(dir / "m.bp"));
}

}  // namespace
}  // namespace bp
