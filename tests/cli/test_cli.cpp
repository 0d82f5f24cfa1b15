// The real command-line program, run as a user would: train, eval, predict, info, gradcheck,
// resuming, and a clean one-line error (never a crash) for every kind of bad input.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <zlib.h>
#include <algorithm>

#include <bit>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "backprop/model.hpp"
#include "cli/cli_fixture.hpp"
#include "plot/svg_test_util.hpp"
#include "test_util.hpp"

#ifndef BP_CLI
#error "BP_CLI must name the command-line program (see tests/CMakeLists.txt)"
#endif

namespace bp {
namespace {

namespace fs = std::filesystem;

using bp::testing::CliFixture;
using bp::testing::lines_of;
using bp::testing::quote;
using bp::testing::read_file;
using bp::testing::Result;

class Cli : public CliFixture {
 protected:
  // An MNIST-style folder: `train` and `test` 28x28 images of 10 classes, class c drawn as a
  // bright band at rows 2c+4..2c+5 over faint noise. The test images are gzipped.
  std::string mnist_dir(int64_t train = 200, int64_t test = 60) const {
    const std::string d = path("mnist");
    fs::create_directory(d);
    Generator gen(42);
    auto make = [&](const std::string& prefix, int64_t n, bool gz) {
      std::string images = {0, 0, 8, 3}, labels = {0, 0, 8, 1};
      auto be32 = [](std::string& s, uint32_t v) {
        for (int i = 3; i >= 0; --i) s += static_cast<char>((v >> (8 * i)) & 0xff);
      };
      be32(images, static_cast<uint32_t>(n));
      be32(images, 28);
      be32(images, 28);
      be32(labels, static_cast<uint32_t>(n));
      for (int64_t i = 0; i < n; ++i) {
        const auto c = static_cast<int>(gen.below(10));
        labels += static_cast<char>(c);
        for (int r = 0; r < 28; ++r)
          for (int col = 0; col < 28; ++col) {
            const bool band = r == 2 * c + 4 || r == 2 * c + 5;
            const float v = band ? 160.0f + 90.0f * gen.uniform() : 60.0f * gen.uniform();
            images += static_cast<char>(static_cast<unsigned char>(v));
          }
      }
      auto write = [&](const std::string& name, const std::string& bytes) {
        if (gz) {
          gzFile f = gzopen((d + "/" + name + ".gz").c_str(), "wb");
          gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
          gzclose(f);
        } else {
          std::ofstream(d + "/" + name, std::ios::binary) << bytes;
        }
      };
      write(prefix + "-images-idx3-ubyte", images);
      write(prefix + "-labels-idx1-ubyte", labels);
    };
    make("train", train, false);
    make("t10k", test, true);
    return d;
  }

  // A CSV of three 2-D Gaussian blobs labelled by name, with a header.
  std::string blobs_csv(int64_t rows = 150, bool with_label = true) const {
    const std::string p = path(with_label ? "blobs.csv" : "features.csv");
    const float centres[3][2] = {{0.0f, 4.0f}, {-3.5f, -2.0f}, {3.5f, -2.0f}};
    const char* names[3] = {"red", "green", "blue"};
    Generator gen(7);
    std::ofstream out(p);
    out << (with_label ? "x,y,colour\n" : "x,y\n");
    for (int64_t i = 0; i < rows; ++i) {
      const auto c = static_cast<size_t>(i % 3);
      out << centres[c][0] + gen.normal(0, 0.6f) << "," << centres[c][1] + gen.normal(0, 0.6f);
      if (with_label) out << "," << names[c];
      out << "\n";
    }
    return p;
  }
};

double accuracy_in(const std::string& text, const std::string& prefix) {
  size_t at = text.find(prefix);
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + prefix.size()));
}

void expect_same_parameters(const std::string& a, const std::string& b) {
  Model ma = load_model(a), mb = load_model(b);
  auto pa = ma.network->named_parameters(), pb = mb.network->named_parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (size_t i = 0; i < pa.size(); ++i) {
    ASSERT_EQ(pa[i].first, pb[i].first);
    ASSERT_EQ(pa[i].second.shape(), pb[i].second.shape());
    for (int64_t k = 0; k < pa[i].second.numel(); ++k)
      ASSERT_EQ(std::bit_cast<uint32_t>(pa[i].second.data()[k]),
                std::bit_cast<uint32_t>(pb[i].second.data()[k]))
          << pa[i].first << "[" << k << "] differs";
  }
}

TEST_F(Cli, TrainEvalPredictInfoOnIdxFolder) {
  const std::string data = mnist_dir();
  Result t =
      ok({"train", "--data", data, "--model", "flatten,dense(10)", "--epochs", "3", "--batch", "20",
          "--lr", "0.1", "--threads", "1", "--out", "m.bp", "--log-json", "log.jsonl"});
  // A summary, one line per epoch, and the final accuracy on stdout.
  EXPECT_NE(t.out.find("Total parameters: 7850"), std::string::npos) << t.out;
  for (const char* e : {"epoch 1/3", "epoch 2/3", "epoch 3/3"})
    EXPECT_NE(t.out.find(e), std::string::npos) << t.out;
  EXPECT_GT(accuracy_in(t.out, "test accuracy: "), 85.0) << t.out;
  EXPECT_NE(t.out.find("model saved to m.bp"), std::string::npos);
  ASSERT_TRUE(fs::exists(path("m.bp")));

  auto log = lines_of(read_file(path("log.jsonl")));
  ASSERT_EQ(log.size(), 3u);
  for (size_t i = 0; i < log.size(); ++i) {
    nlohmann::json j = nlohmann::json::parse(log[i]);
    EXPECT_EQ(j["epoch"], i + 1);
    for (const char* key :
         {"train_loss", "test_loss", "test_accuracy", "seconds", "samples_per_sec", "lr"})
      EXPECT_TRUE(j.contains(key) && j[key].is_number()) << key << " in " << log[i];
  }

  Result e = ok({"eval", "--model-file", "m.bp", "--data", data, "--threads", "1"});
  EXPECT_GT(accuracy_in(e.out, "accuracy "), 85.0) << e.out;
  EXPECT_NE(e.out.find("over 60 samples"), std::string::npos) << e.out;
  EXPECT_NE(e.out.find("confusion matrix"), std::string::npos);

  Result p =
      ok({"predict", "--model-file", "m.bp", "--input", data + "/t10k-images-idx3-ubyte.gz"});
  auto predictions = lines_of(p.out);
  ASSERT_EQ(predictions.size(), 60u);
  for (const auto& line : predictions) {
    ASSERT_EQ(line.size(), 1u) << line;
    EXPECT_TRUE(line[0] >= '0' && line[0] <= '9') << line;
  }

  Result i = ok({"info", "--model-file", "m.bp"});
  for (const char* needle : {"spec: flatten,dense(10)", "classification with 10 outputs",
                             "Total parameters: 7850", "\"epochs\": 3", "test_accuracy"})
    EXPECT_NE(i.out.find(needle), std::string::npos) << needle << " in\n" << i.out;
}

// --precision bf16: trained, evaluated and predicted with bf16 products, recorded in the model's
// info; an ordinary (fp32) model file that fp32 commands read as any other.
TEST_F(Cli, Bf16TrainEvalPredict) {
  const std::string data = mnist_dir();
  const std::vector<std::string> train = {
      "train",    "--data", data,      "--model", "conv(4,3),relu,maxpool(2),flatten,dense(10)",
      "--epochs", "3",      "--batch", "20",      "--lr",
      "0.1"};
  auto with = [](std::vector<std::string> args, std::initializer_list<std::string> more) {
    args.insert(args.end(), more);
    return args;
  };
  Result t = ok(with(train, {"--precision", "bf16", "--out", "b.bp"}));
  EXPECT_GT(accuracy_in(t.out, "test accuracy: "), 85.0) << t.out;
  // This CPU's own answer to whether bf16 is native decides whether a warning is due.
  EXPECT_EQ(t.err.find("warning:") == std::string::npos, bf16_native()) << t.err;
  EXPECT_NE(ok({"info", "--model-file", "b.bp"}).out.find("\"precision\": \"bf16\""),
            std::string::npos);
  ok(with(train, {"--out", "f.bp", "-q"}));
  EXPECT_NE(ok({"info", "--model-file", "f.bp"}).out.find("\"precision\": \"fp32\""),
            std::string::npos);

  for (const char* model : {"b.bp", "f.bp"}) {
    Result e = ok({"eval", "--model-file", model, "--data", data, "--precision", "bf16"});
    EXPECT_GT(accuracy_in(e.out, "accuracy "), 85.0) << e.out;
    const std::string images = data + "/t10k-images-idx3-ubyte.gz";
    auto bf16 = lines_of(
        ok({"predict", "--model-file", model, "--input", images, "--precision", "bf16"}).out);
    auto fp32 = lines_of(ok({"predict", "--model-file", model, "--input", images}).out);
    ASSERT_EQ(bf16.size(), 60u);
    ASSERT_EQ(fp32.size(), 60u);
    int same = 0;
    for (size_t i = 0; i < fp32.size(); ++i) same += bf16[i] == fp32[i];
    EXPECT_GE(same, 57) << model;
  }
  expect_flag_error(with(train, {"--precision", "fp16"}), "--precision");
}

// Without AVX-512 BF16 (oneDNN capped below it, read once per process: hence a child process)
// bf16 still trains, emulated by oneDNN or, without AVX-512, in fp32, after one warning line.
TEST_F(Cli, Bf16WithoutNativeSupportWarnsAndWorks) {
  const std::string data = mnist_dir();
  for (const char* isa : {"AVX2", "AVX512_CORE"}) {
    Result t = ok({"train", "--data", data, "--model", "conv(4,3),relu,flatten,dense(10)",
                   "--epochs", "3", "--batch", "20", "--lr", "0.1", "--precision", "bf16", "-q"},
                  fmt::format("ONEDNN_MAX_CPU_ISA={}", isa));
    EXPECT_GT(accuracy_in(t.out, "test accuracy: "), 85.0) << isa << "\n" << t.out;
    auto warnings = lines_of(t.err);
    ASSERT_EQ(warnings.size(), 1u) << isa << "\n" << t.err;
    EXPECT_EQ(warnings[0].rfind("warning: ", 0), 0u) << warnings[0];
    EXPECT_NE(warnings[0].find("bf16"), std::string::npos) << warnings[0];
  }
}

TEST_F(Cli, TrainEvalPredictOnCsv) {
  const std::string csv = blobs_csv();
  Result t = ok({"train", "--data", csv, "--model", "dense(8),relu,dense(3)", "--epochs", "20",
                 "--batch", "16", "--threads", "1", "--out", "c.bp", "-q"});
  EXPECT_GT(accuracy_in(t.out, "test accuracy: "), 90.0) << t.out;
  EXPECT_EQ(t.out.find("epoch 1/"), std::string::npos) << "-q prints no epoch lines";

  Result e = ok({"eval", "--model-file", "c.bp", "--data", csv});
  EXPECT_NE(e.out.find("over 150 samples"), std::string::npos) << e.out;
  EXPECT_NE(e.out.find("green"), std::string::npos) << e.out;

  // One prediction per row, with the label column ignored, and without one.
  for (const std::string& input : {csv, blobs_csv(150, false)}) {
    Result p = ok({"predict", "--model-file", "c.bp", "--input", input});
    auto lines = lines_of(p.out);
    ASSERT_EQ(lines.size(), 150u) << input;
    const char* expected[3] = {"red", "green", "blue"};
    int right = 0;
    for (size_t k = 0; k < lines.size(); ++k) right += lines[k] == expected[k % 3];
    EXPECT_GT(right, 135) << input;
  }

  Result i = ok({"info", "--model-file", "c.bp"});
  EXPECT_NE(i.out.find("labels: blue, green, red"), std::string::npos) << i.out;
  EXPECT_NE(i.out.find("normalization: standardize"), std::string::npos) << i.out;
  EXPECT_NE(i.out.find("Total parameters: 51"), std::string::npos) << i.out;
  // The table is the library's summary of the model.
  const bp::Model m = bp::load_model(path("c.bp"));
  EXPECT_NE(i.out.find(bp::nn::summary(*m.network, m.input_shape)), std::string::npos) << i.out;
}

TEST_F(Cli, ExportWritesOnnxAndRefusesWhatItCannot) {
  const std::string csv = blobs_csv(60);
  ok({"train", "--data", csv, "--model", "dense(4),relu,dense(3)", "--epochs", "1", "--out", "m.bp",
      "-q"});
  Result e = ok({"export", "--model-file", "m.bp", "--onnx", "m.onnx"});
  EXPECT_NE(e.out.find("ONNX opset 17, input [batch, 2]"), std::string::npos) << e.out;
  EXPECT_GT(read_file(path("m.onnx")).size(), 4u * (2 * 4 + 4 + 4 * 3 + 3));
  // The network's raw outputs, one row of three scores per input row.
  Result p = ok({"predict", "--model-file", "m.bp", "--input", csv, "--scores"});
  auto rows = lines_of(p.out);
  ASSERT_EQ(rows.size(), 60u);
  EXPECT_EQ(std::count(rows[0].begin(), rows[0].end(), ','), 2) << rows[0];

  // Attention is exported as a call of a local function and imported back as the same layer.
  ok({"train", "--data", csv, "--model", "reshape(1,2),attention(1),flatten,dense(3)", "--epochs",
      "1", "--out", "r.bp", "-q"});
  ok({"export", "--model-file", "r.bp", "--onnx", "r.onnx"});
  Result back = ok({"import", "r.onnx", "--out", "r_back.bp"});
  EXPECT_NE(back.out.find("reshape(1,2),attention(1),flatten,dense(3), input [batch, 2]"),
            std::string::npos)
      << back.out;
  expect_error({"export", "--model-file", "nothing.bp", "--onnx", "x.onnx"},
               {"nothing.bp", "no such file"});
  expect_error({"export", "--model-file", "m.bp", "--onnx", "no_dir/x.onnx"}, {"no_dir"});
}

TEST_F(Cli, ImportReadsAnExportBackAndRefusesWhatIsNotOnnx) {
  const std::string csv = blobs_csv(60);
  ok({"train", "--data", csv, "--model", "dense(4),relu,dropout(0.2),dense(3)", "--epochs", "1",
      "--out", "m.bp", "-q"});
  ok({"export", "--model-file", "m.bp", "--onnx", "m.onnx"});
  Result i = ok({"import", "m.onnx", "--out", "back.bp"});
  EXPECT_NE(i.out.find("dense(4),relu,dropout(0.2),dense(3), input [batch, 2]"), std::string::npos)
      << i.out;
  // The same scores, to the last digit printed.
  EXPECT_EQ(ok({"predict", "--model-file", "back.bp", "--input", csv, "--scores"}).out,
            ok({"predict", "--model-file", "m.bp", "--input", csv, "--scores"}).out);
  expect_error({"import", csv, "--out", "x.bp"}, {"not an ONNX model"});
  expect_error({"import", "m.onnx", "--out", "no_dir/x.bp"}, {"no_dir"});
  EXPECT_FALSE(fs::exists(path("x.bp")));
}

TEST_F(Cli, ModelSpecFromJsonFile) {
  const std::string csv = blobs_csv(60);
  std::ofstream(path("net.json")) << R"j({"layers": ["dense(4)", {"layer": "tanh"},
                                          {"layer": "dense", "args": [3]}]})j";
  ok({"train", "--data", csv, "--model", "@net.json", "--epochs", "1", "--out", "j.bp", "-q"});
  EXPECT_EQ(nn::to_string(load_model(path("j.bp")).spec), "dense(4),tanh,dense(3)");
}

TEST_F(Cli, GradcheckPassesAndReportsEveryTensor) {
  Result r = ok({"gradcheck", "--model", "dense(4),tanh,dense(3),softmax", "--input-shape", "5",
                 "--samples", "0"});
  EXPECT_NE(r.out.find("gradient check passed"), std::string::npos) << r.out;
  auto lines = lines_of(r.out);
  for (const char* tensor : {"input", "0.weight", "0.bias", "2.weight", "2.bias"}) {
    bool found = false;
    for (const auto& line : lines)
      if (line.rfind(tensor, 0) == 0) {
        found = true;
        EXPECT_NE(line.find(" ok"), std::string::npos) << line;
        EXPECT_EQ(line.find("FAILED"), std::string::npos) << line;
      }
    EXPECT_TRUE(found) << "no line for " << tensor << " in\n" << r.out;
  }
  ok({"gradcheck", "--model", "flatten,dense(3,bias=false),leaky_relu(0.1)", "--input-shape",
      "2,3"});
}

TEST_F(Cli, ResumedTrainingEqualsUninterruptedTrainingBitForBit) {
  const std::string data = mnist_dir(120, 30);
  const std::vector<std::string> common = {
      "--data", data, "--model", "flatten,dense(12),relu,dense(10)", "--batch", "16", "--threads",
      "1", "--seed", "3", "-q",
      // A schedule whose course does not depend on the total of epochs (cosine's does), so that
      // 2 epochs then 2 more follow the same rates as 4 at once.
      "--schedule", "step(1e,0.5)"};
  auto with = [&](std::vector<std::string> args) {
    args.insert(args.end(), common.begin(), common.end());
    return args;
  };
  ok(with({"train", "--epochs", "2", "--checkpoint", "c.bp", "--out", "two.bp", "--log-json",
           "log.jsonl"}));
  Checkpoint c = load_checkpoint(path("c.bp"));
  EXPECT_EQ(c.epochs_done, 2);
  ok(with({"train", "--resume", "c.bp", "--epochs", "4", "--out", "a.bp", "--log-json", "log.jsonl",
           "--plot", "plots", "--report", "run.html"}));
  ok(with({"train", "--epochs", "4", "--out", "b.bp"}));
  expect_same_parameters(path("a.bp"), path("b.bp"));
  // The checkpoint kept being updated, and the log continued with epochs 3 and 4.
  EXPECT_EQ(load_checkpoint(path("c.bp")).epochs_done, 4);
  auto log = lines_of(read_file(path("log.jsonl")));
  ASSERT_EQ(log.size(), 4u);
  EXPECT_EQ(nlohmann::json::parse(log[3])["epoch"], 4);
  // The pictures of the resumed run cover the whole run: the checkpoint carried epochs 1 and 2.
  EXPECT_EQ(bp::testing::elements(read_file(path("plots/loss.svg")), "circle").size(), 2u * 4u);
  const std::string html = read_file(path("run.html"));
  for (int epoch = 1; epoch <= 4; ++epoch)
    EXPECT_NE(html.find(fmt::format("<tr><td>{}</td>", epoch)), std::string::npos) << epoch;
  EXPECT_EQ(html.find("<tr><td>5</td>"), std::string::npos);
  // The test loss of epoch 1 in the report is the one logged by the first command.
  const double first_loss = nlohmann::json::parse(log[0])["test_loss"].get<double>();
  const auto saved = nlohmann::json::parse(load_checkpoint(path("c.bp")).trainer_json);
  ASSERT_EQ(saved["history"].size(), 4u);
  EXPECT_DOUBLE_EQ(saved["history"][0]["evals"][0]["loss"].get<double>(), first_loss);
  // A checkpoint whose history is malformed is refused with a message, not half-read.
  {
    Checkpoint c4 = load_checkpoint(path("c.bp"));
    auto opt = optim::make_optimizer(c4.optimizer_kind, c4.model.network->parameters(), {});
    opt->load_state(c4.optimizer_state);
    auto bad = nlohmann::json::parse(c4.trainer_json);
    bad["history"][1]["evals"] = "nothing";
    save_checkpoint(path("bad.bp"), c4.model, *opt, 2, bad.dump());
    expect_error(with({"train", "--resume", "bad.bp", "--epochs", "5", "--out", "x.bp"}),
                 {"--resume: the checkpoint's training history is malformed"});
  }
  // Asking for no more epochs than the checkpoint has is an error.
  expect_error(with({"train", "--resume", "c.bp", "--epochs", "3"}), {"already has 4 epochs"});
}

TEST_F(Cli, BadModelSpecs) {
  const std::string csv = blobs_csv(30);
  expect_error({"train", "--data", csv, "--model", "dense(8),wobble,dense(3)", "-q"},
               {"layer 2 'wobble'", "column 10", "unknown layer", "dense"});
  expect_error({"train", "--data", csv, "--model", "dense(eight),dense(3)", "-q"},
               {"layer 1 'dense'", "'eight'"});
  expect_error({"train", "--data", csv, "--model", "dense(8,,bias=false),dense(3)", "-q"},
               {"empty argument", "column"});
  expect_error({"train", "--data", csv, "--model", "dense(8),relu(2),dense(3)", "-q"},
               {"layer 2 'relu'", "unexpected argument '2'"});
  expect_error({"train", "--data", csv, "--model", "dense(8),dense(4)", "-q"},
               {"outputs [4]", "3 classes", "dense(3)"});
  expect_error({"train", "--data", csv, "--model", "@missing.json", "-q"},
               {"no such file", "missing.json"});
  std::ofstream(path("bad.json")) << "[\"dense(3)\", ";
  expect_error({"train", "--data", csv, "--model", "@bad.json", "-q"}, {"invalid JSON"});
  expect_error({"gradcheck", "--model", "dense(3", "--input-shape", "2"}, {"unclosed '('"});
  expect_error({"gradcheck", "--model", "dense(3)", "--input-shape", "2,x"}, {"--input-shape"});
}

TEST_F(Cli, BadDataAndModelFiles) {
  expect_error({"train", "--data", "no_such_folder", "-q"}, {"no_such_folder"});
  fs::create_directory(path("empty_folder"));
  expect_error({"train", "--data", "empty_folder", "-q"}, {"missing", "train-images-idx3-ubyte"});
  std::ofstream(path("bad.csv")) << "a,b,label\n1,2,x\n3,oops,y\n5,6,x\n";
  expect_error({"train", "--data", "bad.csv", "-q"}, {"line 3", "column 2", "oops"});

  const std::string csv = blobs_csv(60);
  ok({"train", "--data", csv, "--model", "dense(3)", "--epochs", "1", "--out", "m.bp", "-q"});
  const std::string good = read_file(path("m.bp"));
  std::ofstream(path("text.bp")) << "this is not a model\n";
  std::ofstream(path("half.bp"), std::ios::binary) << good.substr(0, good.size() / 2);
  std::string flipped = good;
  flipped[good.size() / 2] = static_cast<char>(flipped[good.size() / 2] ^ 0x40);
  std::ofstream(path("flipped.bp"), std::ios::binary) << flipped;
  for (const std::string cmd : {"eval", "info"}) {
    auto args = [&](const std::string& file) {
      std::vector<std::string> a{cmd, "--model-file", file};
      if (cmd == "eval") a.insert(a.end(), {"--data", csv});
      return a;
    };
    expect_error(args("text.bp"), {"text.bp", "not a backprop model"});
    expect_error(args("half.bp"), {"half.bp"});
    expect_error(args("flipped.bp"), {"flipped.bp", "checksum"});
    expect_error(args("nothing.bp"), {"nothing.bp", "no such file"});
  }
  expect_error({"predict", "--model-file", "half.bp", "--input", csv}, {"half.bp"});
  expect_error({"predict", "--model-file", "m.bp", "--input", "bad.csv"}, {"line 3", "column 2"});
  // A model that takes other inputs than the data has.
  expect_error({"eval", "--model-file", "m.bp", "--data", mnist_dir(20, 10)},
               {"eval: the model takes inputs of shape", "the data has [1, 28, 28]"});
  expect_error({"train", "--data", csv, "--resume", "m.bp", "-q"}, {"m.bp", "not a checkpoint"});
}

TEST_F(Cli, BadFlagValues) {
  const std::string csv = blobs_csv(30);
  const std::vector<std::string> base{"train", "--data", csv, "--model", "dense(3)", "-q"};
  auto with = [&](std::initializer_list<std::string> extra) {
    std::vector<std::string> a = base;
    a.insert(a.end(), extra);
    return a;
  };
  expect_flag_error(with({"--batch", "0"}), "--batch");
  expect_flag_error(with({"--epochs", "-1"}), "--epochs");
  expect_flag_error(with({"--epochs", "0"}), "--epochs");
  expect_flag_error(with({"--lr", "-0.1"}), "--lr");
  expect_flag_error(with({"--threads", "100000"}), "--threads");
  expect_flag_error(with({"--threads", "-3"}), "--threads");
  expect_flag_error(with({"--batch", "many"}), "--batch");
  expect_flag_error({"train", "--no-such-flag"}, "--no-such-flag");
  expect_flag_error({"frobnicate"}, "subcommand");
  // Values a range check lets through: NaN compares false with everything.
  expect_error(with({"--lr", "nan"}), {"--lr", "nan"});
  expect_error(with({"--momentum", "nan"}), {"--momentum"});
  expect_error(with({"--weight-decay", "nan"}), {"--weight-decay"});
  expect_error(with({"--schedule", "step(1e,nan)"}), {"step"});
  expect_error(with({"--validation", "nan"}), {"--validation"});
  expect_error(with({"--test-fraction", "nan"}), {"--test-fraction"});
  expect_error(with({"--optimizer", "gradient_ascent"}), {"--optimizer", "gradient_ascent"});
  expect_error(with({"--loss", "hinge"}), {"--loss", "hinge"});
  expect_error(with({"--normalize", "zscore"}), {"--normalize"});
  expect_error(with({"--patience", "2"}), {"--patience", "--validation"});
  expect_error(with({"--out", "no/such/dir/m.bp"}), {"cannot write", "no/such/dir/m.bp"});
  expect_error({"gradcheck", "--model", "dense(2)", "--input-shape", "3", "--eps", "nan"},
               {"--eps"});
}

TEST_F(Cli, PlotsAndReportAfterTrainingEvenWhenStoppedEarly) {
  const std::string csv = blobs_csv(90);
  Result t = ok({"train",
                 "--data",
                 csv,
                 "--model",
                 "dense(6),relu,dense(3)",
                 "--epochs",
                 "40",
                 "--validation",
                 "0.3",
                 "--patience",
                 "2",
                 "--lr",
                 "0.5",
                 "--out",
                 "m.bp",
                 "--log-json",
                 "log.jsonl",
                 "--plot",
                 "out/plots",
                 "--report",
                 "run.html"});
  EXPECT_NE(t.out.find("plots written to out/plots"), std::string::npos) << t.out;
  EXPECT_NE(t.out.find("report written to run.html"), std::string::npos) << t.out;
  const auto epochs = lines_of(read_file(path("log.jsonl"))).size();
  for (const char* name : {"loss.svg", "accuracy.svg", "confusion_val.svg", "confusion_test.svg"}) {
    const std::string svg = read_file(path(std::string("out/plots/") + name));
    ASSERT_FALSE(svg.empty()) << name;
    bp::testing::expect_well_formed(svg);
  }
  EXPECT_EQ(std::distance(fs::directory_iterator(path("out/plots")), fs::directory_iterator()), 4);
  // One point per epoch run for each of train, val and test.
  EXPECT_EQ(bp::testing::elements(read_file(path("out/plots/loss.svg")), "circle").size(),
            3 * epochs);
  EXPECT_NE(read_file(path("out/plots/confusion_test.svg")).find(">green</text>"),
            std::string::npos);
  const std::string html = read_file(path("run.html"));
  bp::testing::expect_well_formed(html, ".html");
  EXPECT_EQ(bp::testing::elements(html, "svg").size(), 4u);  // loss, accuracy, val, test
  for (const char* needle :
       {"dense(6),relu,dense(3)", ">--patience</th><td class=\"key\">2</td>",
        ">--batch</th><td class=\"key\">128 (default)</td>", "precision", "recall", ">blue</td>"})
    EXPECT_NE(html.find(needle), std::string::npos) << needle;
}

TEST_F(Cli, BadPlotAndReportPathsAreRefusedBeforeTraining) {
  const std::string csv = blobs_csv(30);
  std::ofstream(path("file")) << "x";
  fs::create_directory(path("dir"));
  const std::vector<std::string> base{"train",    "--data", csv,    "--model",
                                      "dense(3)", "--out",  "m.bp", "-q"};
  auto with = [&](std::initializer_list<std::string> extra) {
    std::vector<std::string> a = base;
    a.insert(a.end(), extra);
    return a;
  };
  expect_error(with({"--plot", "file"}), {"file", "not a directory"});
  expect_error(with({"--plot", "file/sub"}), {"file/sub", "not a directory"});
  expect_error(with({"--report", "dir"}), {"'dir'", "is a directory"});
  expect_error(with({"--report", "missing/r.html"}), {"missing/r.html", "no directory"});
  expect_flag_error(with({"--plot", ""}), "--plot");
  expect_flag_error(with({"--report", ""}), "--report");
  EXPECT_FALSE(fs::exists(path("m.bp")));  // refused before training, not after
  EXPECT_EQ(read_file(path("file")), "x");
  // A run that fails after the checks (here, loading its data) leaves no plot directory behind.
  expect_error(
      {"train", "--data", path("missing.csv"), "--out", "m.bp", "-q", "--plot", "later/plots"},
      {"missing.csv"});
  EXPECT_FALSE(fs::exists(path("later")));
}

}  // namespace
}  // namespace bp
