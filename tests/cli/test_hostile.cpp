// Hostile and careless input against the real command-line program: deep nesting, huge or endless
// files, FIFOs and devices, tens of thousands of classes, optimizer settings that make NaN, bad
// output paths, a full disk, text that is not UTF-8, and signals. Each case must end quickly with
// its exit code and a one-line message, leave existing files intact and nothing behind.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "backprop/io.hpp"
#include "backprop/model.hpp"
#include "cli/cli_fixture.hpp"

namespace bp {
namespace {

namespace fs = std::filesystem;

using bp::testing::CliFixture;
using bp::testing::lines_of;
using bp::testing::read_file;

// How a program started by Hostile::start ended.
struct Finished {
  int exit_code = -1;  // -1 when killed by a signal
  int signal = 0;
  double seconds = 0;
  long peak_kb = 0;  // the process's peak resident memory
  std::string out, err;
};

class Hostile : public CliFixture {
 protected:
  // Starts the program in the test's folder with stdout and stderr going to files.
  pid_t start(const std::vector<std::string>& args) {
    // Gone before the child starts, so that nothing reads the last run's output as this one's.
    fs::remove(path(".stdout"));
    fs::remove(path(".stderr"));
    started_ = std::chrono::steady_clock::now();
    const pid_t pid = ::fork();
    if (pid == 0) {
      if (::chdir(dir_.c_str()) != 0) ::_exit(126);
      const int out = ::open(".stdout", O_WRONLY | O_CREAT | O_TRUNC, 0644);
      const int err = ::open(".stderr", O_WRONLY | O_CREAT | O_TRUNC, 0644);
      const int in = ::open("/dev/null", O_RDONLY);
      if (out < 0 || err < 0 || in < 0) ::_exit(126);
      ::dup2(in, 0);
      ::dup2(out, 1);
      ::dup2(err, 2);
      // Signals as a terminal would deliver them, whatever the test runner ignores or blocks.
      sigset_t none;
      sigemptyset(&none);
      ::sigprocmask(SIG_SETMASK, &none, nullptr);
      ::signal(SIGINT, SIG_DFL);
      ::signal(SIGTERM, SIG_DFL);
      ::setenv("OMP_NUM_THREADS", "1", 1);
      ::setenv("OMP_WAIT_POLICY", "passive", 1);
      std::vector<char*> argv{const_cast<char*>(BP_CLI)};
      for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      ::execv(BP_CLI, argv.data());
      ::_exit(127);
    }
    return pid;
  }

  // Waits for `pid` at most `limit` seconds (then kills it and fails the test).
  Finished wait(pid_t pid, double limit = 20) {
    Finished f;
    int status = 0;
    rusage usage{};
    while (true) {
      const pid_t done = ::wait4(pid, &status, WNOHANG, &usage);
      f.seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
      if (done == pid) break;
      if (f.seconds > limit) {
        ::kill(pid, SIGKILL);
        ::wait4(pid, &status, 0, &usage);
        ADD_FAILURE() << "still running after " << limit << " s";
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    if (WIFEXITED(status)) f.exit_code = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) f.signal = WTERMSIG(status);
    f.peak_kb = usage.ru_maxrss;
    f.out = read_file(path(".stdout"));
    f.err = read_file(path(".stderr"));
    return f;
  }

  Finished run_timed(const std::vector<std::string>& args, double limit = 20) {
    return wait(start(args), limit);
  }

  // Runs and expects exit code 1 within `seconds`, with one line "error: ..." holding every needle.
  Finished refused(const std::vector<std::string>& args, std::initializer_list<std::string> needles,
                   double seconds = 10) {
    Finished f = run_timed(args, 4 * seconds);
    std::string cmd;
    // Long arguments shortened, appended piecewise (GCC 12 at -O3 warns falsely about the
    // temporaries of `" " + a.substr(0, 80) + "..."`).
    for (const auto& a : args) {
      cmd += ' ';
      cmd.append(a, 0, 80);
      if (a.size() > 80) cmd += "...";
    }
    EXPECT_EQ(f.signal, 0) << cmd << "\n" << f.err;
    EXPECT_EQ(f.exit_code, 1) << cmd << "\n" << f.err;
    EXPECT_LT(f.seconds, seconds) << cmd;
    const auto lines = lines_of(f.err);
    EXPECT_EQ(lines.size(), 1u) << cmd << "\nstderr:\n" << f.err;
    EXPECT_EQ(f.err.rfind("error: ", 0), 0u) << cmd << "\n" << f.err;
    for (const auto& n : needles)
      EXPECT_NE(f.err.find(n), std::string::npos) << cmd << "\nmissing \"" << n << "\" in\n"
                                                  << f.err;
    return f;
  }

  // A small CSV of two numeric features and `classes` labels, each class seen `per_class` times.
  std::string csv(const std::string& name, int classes = 3, int per_class = 10) const {
    std::ofstream out(path(name));
    out << "a,b,label\n";
    for (int r = 0; r < per_class; ++r)
      for (int c = 0; c < classes; ++c) out << c % 7 << "," << (r + c) % 5 << ",c" << c << "\n";
    return path(name);
  }

  // A trained model file (one epoch on a small CSV).
  std::string model(const std::string& name = "m.bp") {
    const std::string data = csv("train.csv");
    Finished f = run_timed(
        {"train", "--data", data, "--model", "dense(3)", "--epochs", "1", "--out", name, "-q"});
    EXPECT_EQ(f.exit_code, 0) << f.err;
    return path(name);
  }

  // Rewrites a model file's metadata (the checksum stays valid: the archive is written anew).
  void edit_metadata(const std::string& file, const std::function<void(nlohmann::json&)>& edit) {
    io::Archive a = io::load_archive(file);
    nlohmann::json meta = nlohmann::json::parse(a.meta_json);
    edit(meta);
    a.meta_json = meta.dump();
    io::save_archive(file, a);
  }

  // Files in the test's folder (but the captured output), for "nothing left behind".
  std::vector<std::string> listing() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir_)) {
      const std::string n = e.path().filename().string();
      if (n != ".stdout" && n != ".stderr") names.push_back(n);
    }
    std::sort(names.begin(), names.end());
    return names;
  }

  // A sparse file of `bytes` bytes (no disk used).
  std::string sparse(const std::string& name, uint64_t bytes) const {
    const int fd = ::open(path(name).c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    EXPECT_GE(fd, 0);
    EXPECT_EQ(::ftruncate(fd, static_cast<off_t>(bytes)), 0);
    ::close(fd);
    return path(name);
  }

  std::chrono::steady_clock::time_point started_;
};

std::string nested(const std::string& open, const std::string& inner, const std::string& close,
                   int depth) {
  std::string s;
  for (int i = 0; i < depth; ++i) s += open;
  s += inner;
  for (int i = 0; i < depth; ++i) s += close;
  return s;
}

// ---- 1-3: nesting and linear-time parsing ----

TEST_F(Hostile, DeepTextSpecIsRefusedAtTheLimit) {
  const std::string deep = nested("residual(", "relu", ")", 10000);
  refused({"gradcheck", "--model", deep, "--input-shape", "4"},
          {"nests containers deeper than the limit of 64 levels", "column 577"}, 2);
  refused({"train", "--data", csv("d.csv"), "--model", deep, "-q"}, {"limit of 64 levels"}, 2);
  // 64 levels are allowed.
  Finished f = run_timed(
      {"gradcheck", "--model", nested("residual(", "relu", ")", 64), "--input-shape", "4"});
  EXPECT_EQ(f.exit_code, 0) << f.err;
  EXPECT_NE(f.out.find("gradient check passed"), std::string::npos);
}

TEST_F(Hostile, SpecParsingIsLinearInTheText) {
  // 64 levels around 20,000 layers (100 KB): each level's text read once, not once per level.
  std::string layers;
  for (int i = 0; i < 20000; ++i) layers += "relu,";
  layers += "tanh";
  // Against the same layers at one level, on the same machine: text read once per level would
  // take about 64 times as long; linear parsing keeps the two close (the gradient check of the
  // 20,000 layers, the same work in both, dominates). A ratio, not a time, so a slow or
  // instrumented build does not fail it.
  auto seconds = [&](int levels) {
    const std::string spec = nested("residual(", layers, ")", levels) + ",dense(2)";
    Finished f =
        run_timed({"gradcheck", "--model", spec, "--input-shape", "3", "--samples", "1"}, 300);
    EXPECT_EQ(f.exit_code, 0) << f.err;
    return f.seconds;
  };
  const double one = seconds(1), deep = seconds(64);
  EXPECT_LT(deep, 8 * one + 1) << "64 levels: " << deep << " s, one level: " << one << " s";
}

TEST_F(Hostile, DeepJsonSpecIsRefusedBeforeParsing) {
  std::ofstream(path("arrays.json")) << nested("[", "", "]", 100000);
  refused({"train", "--data", csv("d.csv"), "--model", "@arrays.json", "-q"},
          {"arrays.json", "JSON nested deeper than the limit of 64 levels", "line 1, column 65"},
          2);
  std::ofstream(path("objects.json")) << nested("{\"a\":", "1", "}", 100000);
  refused({"gradcheck", "--model", "@objects.json", "--input-shape", "2"},
          {"objects.json", "limit of 64 levels"}, 2);
  // Brackets inside strings do not count; a deep text spec inside JSON hits the spec's limit.
  std::ofstream(path("strings.json"))
      << "[\"" << nested("residual(", "relu", ")", 100) << "\", \"[[[[[[[[\"]";
  refused({"gradcheck", "--model", "@strings.json", "--input-shape", "2"},
          {"strings.json", "limit of 64 levels"}, 2);
}

TEST_F(Hostile, ModelFilesWithDeepSpecsOrMetadataAreRefused) {
  const std::string m = model();
  const std::string data = csv("eval.csv");
  const std::string deep = path("deep.bp");
  fs::copy_file(m, deep);
  edit_metadata(deep, [](nlohmann::json& j) {
    j["spec"] = nested("residual(", "relu", ")", 10000) + ",dense(3)";
  });
  for (const auto& args :
       std::vector<std::vector<std::string>>{{"info", "--model-file", deep},
                                             {"eval", "--model-file", deep, "--data", data},
                                             {"predict", "--model-file", deep, "--input", data}})
    refused(args, {"deep.bp", "limit of 64 levels"}, 2);
  // Deep JSON in the free-form part of the metadata.
  io::Archive a = io::load_archive(m);
  const std::string meta = a.meta_json;
  a.meta_json =
      meta.substr(0, meta.size() - 1) + ",\"extra\":" + nested("[", "", "]", 100000) + "}";
  io::save_archive(path("json.bp"), a);
  refused({"info", "--model-file", "json.bp"},
          {"json.bp", "malformed model metadata", "JSON nested deeper than the limit of 64"}, 2);
}

// ---- 4: unbounded reads ----

TEST_F(Hostile, FilesOverTheSizeLimitAreRefusedBeforeReading) {
  const std::string m = model();
  sparse("huge.csv", uint64_t{5} << 30);
  refused({"train", "--data", "huge.csv", "-q"},
          {"huge.csv is 5368709120 bytes, over the limit of 4294967296 bytes"}, 2);
  refused({"predict", "--model-file", m, "--input", "huge.csv"}, {"huge.csv", "over the limit"}, 2);
  fs::create_directory(path("mnist"));
  sparse("mnist/train-images-idx3-ubyte", uint64_t{3} << 30);
  sparse("mnist/train-labels-idx1-ubyte", 0);
  refused({"train", "--data", "mnist", "-q"},
          {"train-images-idx3-ubyte is 3221225472 bytes, over the limit of 2147483648 bytes"}, 2);
  sparse("huge.bp", uint64_t{17} << 30);
  refused({"info", "--model-file", "huge.bp"}, {"huge.bp", "over the limit of 17179869184"}, 2);
  sparse("huge.json", uint64_t{17} << 20);
  refused({"gradcheck", "--model", "@huge.json", "--input-shape", "2"},
          {"huge.json", "over the limit of 16777216 bytes"}, 2);
}

TEST_F(Hostile, DevicesFifosAndFoldersAreRefusedNamingWhatTheyAre) {
  const std::string m = model();
  ASSERT_EQ(::mkfifo(path("fifo.csv").c_str(), 0644), 0);
  fs::create_symlink("/dev/zero", path("zero.csv"));
  fs::create_directory(path("folder.csv"));
  refused({"train", "--data", "fifo.csv", "-q"}, {"fifo.csv is a FIFO", "not a regular file"}, 2);
  refused({"train", "--data", "zero.csv", "-q"},
          {"zero.csv is a character device, not a regular file"}, 2);
  refused({"train", "--data", "folder.csv", "-q"}, {"folder.csv is a directory"}, 2);
  refused({"train", "--data", csv("d.csv"), "--model", "@/dev/zero", "-q"},
          {"/dev/zero is a character device"}, 2);
  refused({"train", "--data", csv("d.csv"), "--model", "@fifo.csv", "-q"}, {"fifo.csv is a FIFO"},
          2);
  refused({"predict", "--model-file", m, "--input", "/dev/zero"}, {"/dev/zero", "character device"},
          2);
  refused({"predict", "--model-file", m, "--input", "/dev/urandom"}, {"/dev/urandom"}, 2);
  refused({"predict", "--model-file", m, "--input", "fifo.csv"}, {"fifo.csv is a FIFO"}, 2);
  refused({"info", "--model-file", "fifo.csv"}, {"fifo.csv is a FIFO"}, 2);
  refused({"eval", "--model-file", "/dev/zero", "--data", "d.csv"}, {"/dev/zero", "device"}, 2);
  refused({"train", "--data", "d.csv", "--resume", "fifo.csv", "-q"}, {"fifo.csv", "FIFO"}, 2);
}

// A gzip IDX file whose header declares 10 one-byte labels but which inflates to 256 MB.
TEST_F(Hostile, GzipStopsAtTheSizeItsHeaderDeclares) {
  const std::string dir = path("bomb");
  fs::create_directory(dir);
  const std::string header{0, 0, 8, 1, 0, 0, 0, 10};
  gzFile gz = gzopen((dir + "/train-labels-idx1-ubyte.gz").c_str(), "wb1");
  ASSERT_NE(gz, nullptr);
  gzwrite(gz, header.data(), static_cast<unsigned>(header.size()));
  const std::string zeros(1 << 20, '\0');
  for (int i = 0; i < 256; ++i) gzwrite(gz, zeros.data(), static_cast<unsigned>(zeros.size()));
  gzclose(gz);
  // Images that match the labels, so that the labels file is the one read and refused.
  std::string images{0, 0, 8, 3, 0, 0, 0, 10, 0, 0, 0, 28, 0, 0, 0, 28};
  images += std::string(10 * 28 * 28, '\1');
  std::ofstream(dir + "/train-images-idx3-ubyte", std::ios::binary) << images;
  const Finished f = refused({"train", "--data", "bomb", "-q"},
                             {"train-labels-idx1-ubyte.gz",
                              "trailing bytes after the payload ends "
                              "at offset 18",
                              "decompression stopped there"},
                             2);
  // Inflating the whole stream would take 256 MB (a sanitizer build adds its own overhead).
  EXPECT_LT(f.peak_kb, 160 * 1024) << "peak memory in KB";
}

// ---- 5: memory linear in the class count ----

// 20,000 classes: a confusion matrix would be 400 million counts (3.2 GB); per-class scores are
// 20,000 values each.
TEST_F(Hostile, TwentyThousandClassesNeedMemoryLinearInTheClasses) {
  constexpr int kClasses = 20000;
  Generator gen(3);
  Model m = Model::create(nn::parse_model_spec("dense(20000)"), {2}, gen);
  for (int c = 0; c < kClasses; ++c) m.label_names.push_back("class_" + std::to_string(c));
  save_model(path("many.bp"), m);
  std::ofstream out(path("few.csv"));
  out << "x,y,label\n";
  for (int r = 0; r < 20; ++r) out << r << "," << r % 3 << ",class_" << r * 997 << "\n";
  out.close();
  Finished f = run_timed({"eval", "--model-file", "many.bp", "--data", "few.csv"});
  EXPECT_EQ(f.exit_code, 0) << f.err;
  EXPECT_LT(f.seconds, 5);
  // A confusion matrix alone would be 3.2 GB (a sanitizer build adds its own overhead).
  EXPECT_LT(f.peak_kb, 400 * 1024) << "peak memory in KB";
  EXPECT_NE(f.out.find("confusion matrix: not kept for more than 100 classes"), std::string::npos);
  EXPECT_NE(f.out.find("class_19999"), std::string::npos);  // every class's precision and recall
  EXPECT_NE(f.out.find("over 20 samples"), std::string::npos);
}

// ---- 6: numbers that make NaN ----

TEST_F(Hostile, OptimizerSettingsOutOfRangeAreRefusedUpFront) {
  const std::string data = csv("d.csv");
  struct Case {
    std::vector<std::string> flags;
    std::string message;
  };
  const Case cases[] = {
      {{"--optimizer", "adam", "--eps", "0"}, "--eps: must be a number in (0, 1], got '0'"},
      {{"--optimizer", "adagrad", "--eps", "0"}, "--eps: must be a number in (0, 1]"},
      {{"--eps", "-1e-8"}, "--eps: must be a number in (0, 1]"},
      {{"--lr", "inf"}, "--lr: must be a number in [0, 1000], got 'inf'"},
      {{"--lr", "-0.1"}, "--lr: must be a number in [0, 1000]"},
      {{"--momentum", "1"}, "--momentum: must be a number in [0, 1), got '1'"},
      {{"--beta1", "1"}, "--beta1: must be a number in [0, 1)"},
      {{"--beta2", "nan"}, "--beta2: must be a number in [0, 1), got 'nan'"},
      {{"--weight-decay", "-1"}, "--weight-decay: must be a number in [0, 1]"},
      {{"--clip-norm", "-inf"}, "--clip-norm: must be a number in [0, 1e+30]"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> args{"train", "--data", data, "--out", "m.bp", "-q"};
    args.insert(args.end(), c.flags.begin(), c.flags.end());
    Finished f = run_timed(args);
    EXPECT_EQ(f.exit_code, 2) << c.message << "\n" << f.err;
    EXPECT_EQ(f.err.rfind("error: " + c.message, 0), 0u) << f.err;
    EXPECT_NE(f.err.find("got '" + c.flags.back() + "'"), std::string::npos) << f.err;
    EXPECT_EQ(lines_of(f.err).size(), 1u) << f.err;
  }
  EXPECT_FALSE(fs::exists(path("m.bp")));
  // --help shows every range.
  const std::string help = run_timed({"train", "--help"}).out;
  for (const char* range :
       {"--eps FLOAT:in (0, 1]", "--lr FLOAT:in [0, 1000]", "--momentum FLOAT:in [0, 1)",
        "--beta1 FLOAT:in [0, 1)", "--beta2 FLOAT:in [0, 1)", "--weight-decay FLOAT:in [0, 1]"})
    EXPECT_NE(help.find(range), std::string::npos) << range;
}

// Features so large that one update sends the weights to infinity while the loss stays finite.
TEST_F(Hostile, NonFiniteWeightsStopTrainingNamingTheParameterAndKeepTheCheckpoint) {
  const std::string good = csv("good.csv");
  Finished first = run_timed({"train", "--data", good, "--model", "dense(3)", "--normalize", "none",
                              "--epochs", "1", "--checkpoint", "ck.bp", "--out", "m.bp", "-q"});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  const std::string checkpoint = read_file(path("ck.bp"));
  fs::remove(path("m.bp"));
  std::ofstream out(path("huge.csv"));
  out << "a,b,label\n";
  for (int r = 0; r < 30; ++r) out << (r % 2 ? "3e37" : "-3e37") << ",1e37,c" << r % 3 << "\n";
  out.close();
  refused({"train", "--data", "huge.csv", "--resume", "ck.bp", "--epochs", "2", "--lr", "1000",
           "--out", "m.bp", "-q"},
          {"training stopped: parameter '0.weight' became", "in the update of epoch 2, batch 1",
           "the last checkpoint, if any, is intact"});
  EXPECT_EQ(read_file(path("ck.bp")), checkpoint);
  EXPECT_FALSE(fs::exists(path("m.bp")));
}

TEST_F(Hostile, ModelFilesWithNonFiniteWeightsAreRefusedNamingTheTensor) {
  const std::string m = model();
  io::Archive a = io::load_archive(m);
  for (auto& [name, t] : a.tensors)
    if (name == "param/0.bias") t.data()[1] = std::numeric_limits<float>::quiet_NaN();
  io::save_archive(path("nan.bp"), a);
  refused({"info", "--model-file", "nan.bp"},
          {"nan.bp", "tensor 'param/0.bias' holds a non-finite value (nan) at element 1"}, 2);
  refused({"predict", "--model-file", "nan.bp", "--input", csv("in.csv")}, {"'param/0.bias'"}, 2);
  refused({"train", "--data", "in.csv", "--resume", "nan.bp", "-q"}, {"'param/0.bias'"}, 2);
}

// ---- 7: output paths checked before training ----

TEST_F(Hostile, BadOutputPathsAreRefusedBeforeAnyDataIsRead) {
  // The data is a FIFO: reading it would be refused too, so each error below proves that the
  // outputs were checked first.
  ASSERT_EQ(::mkfifo(path("data.csv").c_str(), 0644), 0);
  fs::create_directory(path("folder"));
  std::ofstream(path("keep.bp")) << "old";
  const std::vector<std::string> base{"train", "--data", "data.csv", "-q"};
  auto with = [&](std::initializer_list<std::string> extra) {
    std::vector<std::string> a = base;
    a.insert(a.end(), extra);
    return a;
  };
  refused(with({"--out", "missing/m.bp"}), {"--out: cannot write 'missing/m.bp'", "no directory"});
  refused(with({"--out", "folder"}), {"--out: cannot write 'folder': it is a directory"});
  refused(with({"--out", "/dev/null"}), {"'/dev/null': it is a character device"});
  refused(with({"--checkpoint", "missing/c.bp"}), {"--checkpoint: cannot write", "no directory"});
  refused(with({"--log-json", "folder"}), {"--log-json", "is a directory"});
  refused(with({"--report", "missing/r.html"}), {"--report", "no directory"});
  refused(with({"--out", "keep.bp", "--checkpoint", "./folder/../keep.bp"}),
          {"--out and --checkpoint name the same file"});
  refused(with({"--out", "a.bp", "--log-json", "a.bp"}), {"--out and --log-json name the same"});
  fs::create_hard_link(path("keep.bp"), path("link.bp"));
  refused(with({"--out", "keep.bp", "--report", "link.bp"}), {"--out and --report name the same"});
  for (const char* flag : {"--out", "--checkpoint", "--log-json", "--resume", "--report"}) {
    Finished f = run_timed(with({flag, ""}));
    EXPECT_EQ(f.exit_code, 2) << flag;
    EXPECT_EQ(f.err, std::string("error: ") + flag + ": the path is empty\n");
  }
  EXPECT_EQ(read_file(path("keep.bp")), "old");
  EXPECT_EQ(listing(), (std::vector<std::string>{"data.csv", "folder", "keep.bp", "link.bp"}));
}

// A tmpfs of `kb` KB mounted at path(name) for the test (root only), unmounted afterwards.
class SmallFileSystem {
 public:
  SmallFileSystem(const std::string& at, int kb, bool read_only = false) : at_(at) {
    fs::create_directory(at);
    const std::string options = "size=" + std::to_string(kb) + "k";
    mounted_ =
        ::mount("tmpfs", at.c_str(), "tmpfs", read_only ? MS_RDONLY : 0, options.c_str()) == 0;
  }
  ~SmallFileSystem() {
    if (mounted_) ::umount2(at_.c_str(), MNT_DETACH);
  }
  bool mounted() const { return mounted_; }

 private:
  std::string at_;
  bool mounted_ = false;
};

TEST_F(Hostile, ReadOnlyFolderIsRefusedBeforeTraining) {
  SmallFileSystem ro(path("ro"), 64, /*read_only=*/true);
  if (!ro.mounted()) GTEST_SKIP() << "mounting a tmpfs needs root";
  refused({"train", "--data", csv("d.csv"), "--out", "ro/m.bp", "-q"},
          {"--out: cannot write 'ro/m.bp': Read-only file system"});
}

// ---- 9: write errors ----

TEST_F(Hostile, FullDiskFailsTheRunNamingThePathAndKeepsTheOldModel) {
  const std::string m = model();
  const std::string data = csv("d.csv");
  SmallFileSystem small(path("small"), 64);
  if (!small.mounted()) GTEST_SKIP() << "mounting a tmpfs needs root";
  fs::copy_file(m, path("small/m.bp"));
  const std::string old_model = read_file(path("small/m.bp"));
  {  // Fill what is left.
    std::ofstream fill(path("small/fill"), std::ios::binary);
    const std::string block(1024, 'x');
    for (int i = 0; i < 64 && fill.write(block.data(), block.size()); ++i) {
    }
  }
  const std::vector<std::string> train{"train",    "--data",   data, "--model",
                                       "dense(3)", "--epochs", "2",  "-q"};
  auto with = [&](std::initializer_list<std::string> extra) {
    std::vector<std::string> a = train;
    a.insert(a.end(), extra);
    return a;
  };
  refused(with({"--out", "small/m.bp"}), {"cannot write 'small/m.bp': No space left on device"});
  refused(with({"--out", "n.bp", "--checkpoint", "small/c.bp"}),
          {"cannot write 'small/c.bp': No space left on device"});
  refused(with({"--out", "n.bp", "--log-json", "small/log.jsonl"}),
          {"JSON log: cannot write 'small/log.jsonl': No space left on device"});
  EXPECT_EQ(read_file(path("small/m.bp")), old_model);
  std::vector<std::string> left;
  for (const auto& e : fs::directory_iterator(path("small")))
    left.push_back(e.path().filename().string());
  std::sort(left.begin(), left.end());
  EXPECT_EQ(left, (std::vector<std::string>{"fill", "log.jsonl", "m.bp"}));  // no temporaries
  EXPECT_FALSE(fs::exists(path("n.bp")));
}

TEST_F(Hostile, DevFullBehindTheLogOrStandardOutputIsAnError) {
  const std::string m = model();
  refused({"train", "--data", csv("d.csv"), "--model", "dense(3)", "--epochs", "1", "--out", "n.bp",
           "--log-json", "/dev/full", "-q"},
          {"JSON log: cannot write '/dev/full': No space left on device"});
  EXPECT_FALSE(fs::exists(path("n.bp")));
  // Standard output on a full disk: the shell sends it to /dev/full.
  const std::string cmd = bp::testing::quote(BP_CLI) + " info --model-file " +
                          bp::testing::quote(m) + " >/dev/full 2>" +
                          bp::testing::quote(path("err.txt"));
  const int status = std::system(cmd.c_str());
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 1);
  EXPECT_EQ(read_file(path("err.txt")),
            "error: cannot write to standard output: No space left on device\n");
}

// ---- 8: strings and third-party errors ----

TEST_F(Hostile, TextThatIsNotUtf8IsRefusedWhereItIsRead) {
  std::ofstream(path("latin1.csv")) << "x,y,label\n1,2,caf\xe9\n3,4,tea\n";
  const Finished f = refused({"train", "--data", "latin1.csv", "--out", "m.bp", "-q"},
                             {"read_csv: latin1.csv: line 2, column 3: the label is not valid "
                              "UTF-8 (byte 0xe9 at offset 3 of the field)"});
  EXPECT_EQ(f.out, "");  // refused before training
  EXPECT_FALSE(fs::exists(path("m.bp")));
  std::ofstream(path("header.csv")) << "x,\xff,label\n1,2,a\n3,4,b\n";
  refused({"train", "--data", "header.csv", "-q"},
          {"header.csv: line 1, column 2: the column name is not valid UTF-8"});
  // A file name that is not UTF-8 is only a name: the run works and records it.
  fs::copy_file(csv("d.csv"), path("d\xff.csv"));
  Finished ok = run_timed({"train", "--data", "d\xff.csv", "--model", "dense(3)", "--epochs", "1",
                           "--out", "m.bp", "-q"});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_EQ(run_timed({"info", "--model-file", "m.bp"}).exit_code, 0);
}

TEST_F(Hostile, LibraryErrorTextNeverReachesTheUser) {
  const std::string data = csv("d.csv");
  // Each message is ours: no "[json.exception", "stoll" or "filesystem error".
  std::ofstream(path("bad.json")) << "[\"dense(3)\",\n  {\"layer\": }]";
  refused({"train", "--data", data, "--model", "@bad.json", "-q"},
          {"bad.json: model spec: invalid JSON: syntax error at line 2, column 13"});
  std::ofstream(path("type.json")) << "[{\"layer\": \"dense\", \"args\": 3}]";
  refused({"train", "--data", data, "--model", "@type.json", "-q"}, {"\"args\" must be an array"});
  refused({"train", "--data", data, "--csv-label", "99999999999999999999", "-q"},
          {"--csv-label: '99999999999999999999' is neither a column index nor a column name"});
  refused({"train", "--data", std::string(5000, 'a'), "-q"},
          {"is neither 'fashion-mnist', a folder of IDX files nor a .csv file"});
  const std::string m = model();
  edit_metadata(m, [](nlohmann::json& j) { j["label_names"] = 7; });
  refused({"info", "--model-file", m},
          {"malformed model metadata: field 'label_names' must be an array of strings, got "
           "number"});
  for (const std::string& line : {std::string("[json.exception"), std::string("stoll")})
    EXPECT_EQ(read_file(path(".stderr")).find(line), std::string::npos);
}

// ---- 10: signals and temporary files ----

class Signals : public Hostile {
 protected:
  // 4,800 training rows in batches of 8: 600 steps an epoch, long enough to interrupt.
  std::vector<std::string> training(std::initializer_list<std::string> extra) {
    if (!fs::exists(path("s.csv"))) {
      std::ofstream out(path("s.csv"));
      out << "a,b,c,d,label\n";
      Generator gen(5);
      for (int r = 0; r < 6000; ++r)
        out << gen.normal(static_cast<float>(r % 3), 1) << "," << gen.normal(0, 1) << ","
            << gen.normal(0, 1) << "," << gen.normal(0, 1) << ",k" << r % 3 << "\n";
    }
    std::vector<std::string> args{
        "train",   "--data", "s.csv",    "--model", "dense(128),relu,dense(128),relu,dense(3)",
        "--batch", "8",      "--epochs", "4"};
    args.insert(args.end(), extra);
    return args;
  }

  // Starts `args` and returns once the first epoch's line is out: the run is training epoch 2.
  pid_t start_training(const std::vector<std::string>& args) {
    const pid_t pid = start(args);
    for (int i = 0; i < 2000 && read_file(path(".stdout")).find("epoch 1/") == std::string::npos;
         ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    // Into the epoch's batches, if the machine is not very slow.
    std::this_thread::sleep_for(std::chrono::milliseconds(60));
    return pid;
  }

  Finished interrupt(const std::vector<std::string>& args, int sig) {
    const pid_t pid = start_training(args);
    ::kill(pid, sig);
    return wait(pid);
  }
};

TEST_F(Signals, FirstSigintSavesCheckpointAndModelAndResumingGivesTheUninterruptedRun) {
  Finished full = run_timed(training({"--out", "full.bp"}));
  ASSERT_EQ(full.exit_code, 0) << full.err;
  Finished f = interrupt(training({"--out", "m.bp", "--checkpoint", "ck.bp"}), SIGINT);
  ASSERT_EQ(f.exit_code, 130) << f.err;
  EXPECT_EQ(f.err, "");
  EXPECT_EQ(f.out.find("test accuracy"), std::string::npos);  // it stopped in epoch 2 of 4
  EXPECT_NE(f.out.find("interrupted by SIGINT at epoch "), std::string::npos) << f.out;
  EXPECT_NE(f.out.find("checkpoint saved to ck.bp (continue with --resume ck.bp), model saved to "
                       "m.bp"),
            std::string::npos)
      << f.out;
  const Finished info = run_timed({"info", "--model-file", "m.bp"});
  EXPECT_NE(info.out.find("interrupted: by SIGINT at epoch "), std::string::npos) << info.out;
  const Checkpoint ck = load_checkpoint(path("ck.bp"));
  const auto at = f.out.find("at epoch ");
  EXPECT_EQ(f.out.substr(at, f.out.find(':', at) - at),
            fmt::format("at epoch {}, batch {}", ck.epochs_done + 1, ck.batches_done));
  // Resumed, it ends where the uninterrupted run did, bit for bit.
  Finished resumed = run_timed(training({"--resume", "ck.bp", "--out", "resumed.bp"}));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  const auto a = load_model(path("full.bp")).network->named_parameters();
  const auto b = load_model(path("resumed.bp")).network->named_parameters();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i)
    EXPECT_EQ(a[i].second.to_vector(), b[i].second.to_vector()) << a[i].first;
}

TEST_F(Signals, SigtermExits143AfterSavingTheModel) {
  Finished f = interrupt(training({"--out", "m.bp"}), SIGTERM);
  EXPECT_EQ(f.exit_code, 143) << f.err;
  EXPECT_NE(f.out.find("interrupted by SIGTERM at epoch "), std::string::npos) << f.out;
  EXPECT_NO_THROW(load_model(path("m.bp")));
}

TEST_F(Signals, SecondSignalEndsTheRunAtOnceLeavingNoTemporaryFiles) {
  // Both signals are pending when the stopped process continues: the first is caught, the
  // second ends it.
  const pid_t pid = start_training(training({"--out", "m.bp", "--checkpoint", "ck.bp"}));
  ::kill(pid, SIGSTOP);
  ::kill(pid, SIGINT);
  ::kill(pid, SIGTERM);
  ::kill(pid, SIGCONT);
  Finished f = wait(pid);
  EXPECT_TRUE(f.signal == SIGINT || f.signal == SIGTERM) << f.exit_code << "\n" << f.err;
  for (const std::string& name : listing()) EXPECT_EQ(name.find(".tmp"), std::string::npos) << name;
  if (fs::exists(path("ck.bp"))) {
    EXPECT_NO_THROW(load_checkpoint(path("ck.bp")));
  }
}

TEST_F(Signals, KillsDuringSavesLeaveNoTemporaryFiles) {
  // A large model saved after every epoch of a tiny data set: most of the time goes to saving.
  const std::string data = csv("d.csv");
  const std::vector<std::string> args{
      "train",    "--data", data,           "--model", "dense(1000),relu,dense(1000),dense(3)",
      "--epochs", "1000",   "--checkpoint", "ck.bp",   "--out",
      "m.bp",     "-q"};
  for (int delay_ms : {300, 350, 400, 450, 500}) {
    const pid_t pid = start(args);
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    ::kill(pid, SIGKILL);
    wait(pid);
  }
  for (const std::string& name : listing()) EXPECT_EQ(name.find(".tmp"), std::string::npos) << name;
  if (fs::exists(path("ck.bp"))) {
    EXPECT_NO_THROW(load_checkpoint(path("ck.bp")));
  }
}

}  // namespace
}  // namespace bp
