// `backprop paper`: the 1986 experiments from the command line, their tables and pictures, and a
// one-line error for every kind of bad input.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#ifndef BP_CLI
#error "BP_CLI must name the command-line program (see tests/CMakeLists.txt)"
#endif

namespace bp {
namespace {

namespace fs = std::filesystem;

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

class CliPaper : public ::testing::Test {
 protected:
  struct Run {
    int exit_code = -1;
    std::string out, err;
  };

  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "bp_cli_paper_XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string path(const std::string& name) const { return (fs::path(dir_) / name).string(); }

  Run run(const std::vector<std::string>& args) const {
    std::string cmd = "cd '";
    cmd += dir_;
    cmd += "' && '";
    cmd += BP_CLI;
    cmd += "' paper";
    for (const std::string& a : args) {
      cmd += " '";
      cmd += a;  // the tests' arguments hold no quotes
      cmd += "'";
    }
    cmd += " >.stdout 2>.stderr </dev/null";
    const int status = std::system(cmd.c_str());
    Run r;
    if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
    r.out = slurp(path(".stdout"));
    r.err = slurp(path(".stderr"));
    return r;
  }

  std::string dir_;
};

TEST_F(CliPaper, ListsEveryExperiment) {
  Run r = run({"--list"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* name : {"xor", "xor-direct", "encoder", "parity", "symmetry", "addition",
                           "negation", "family-trees", "t-c"})
    EXPECT_NE(("\n" + r.out).find(std::string("\n") + name + " "), std::string::npos) << name;
  EXPECT_NE(run({"--help"}).out.find("family-trees"), std::string::npos);
}

TEST_F(CliPaper, TablePerSeedAndSummary) {
  Run r = run({"xor", "--seeds", "3", "--seed", "5"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* seed : {"\n       5 ", "\n       6 ", "\n       7 "})
    EXPECT_NE(r.out.find(seed), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("converged 3 of 3"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("sweeps to converge: median"), std::string::npos) << r.out;
  // Flags override the experiment's settings, and the header says so.
  r = run({"xor", "--lr", "0.25", "--momentum", "0.5", "--max-sweeps", "7"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("eps 0.25, alpha 0.5"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("up to 7 sweeps"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("converged 0 of 1"), std::string::npos) << r.out;
}

TEST_F(CliPaper, SymmetryPicturesTheMirrorWeights) {
  Run r = run({"symmetry", "--plot", "pics/sym"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("1:"), std::string::npos);  // the magnitudes column
  const std::string svg = slurp(path("pics/sym/symmetry-hidden.svg"));
  EXPECT_EQ(count(svg, "<svg"), 1u);
  EXPECT_EQ(count(svg, ">hidden 1<") + count(svg, ">hidden 2<"), 2u);
  EXPECT_EQ(count(svg, ">in 6<"), 2u);  // six inputs per hidden unit
  EXPECT_TRUE(fs::exists(path("pics/sym/symmetry-weights.svg")));
}

TEST_F(CliPaper, FamilyTreesAndTCPictures) {
  Run r = run({"family-trees", "--max-sweeps", "30", "--plot", "pics"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("held out"), std::string::npos);
  const std::string people = slurp(path("pics/family-trees-people.svg"));
  for (int unit = 1; unit <= 6; ++unit)
    EXPECT_EQ(count(people, ">unit " + std::to_string(unit) + "<"), 1u) << unit;
  EXPECT_EQ(count(people, ">English<"), 6u);  // English above Italian in each unit's panel
  EXPECT_EQ(count(people, ">Italian<"), 6u);
  r = run({"t-c", "--max-sweeps", "5", "--plot", "pics"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(slurp(path("pics/t-c-filters.svg")).find(">receptive field 1<"), std::string::npos);
  r = run({"encoder", "--plot", "pics"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(count(slurp(path("pics/encoder-codes.svg")), ">pattern "), 8u);
}

TEST_F(CliPaper, BadInputIsOneLineError) {
  Run r = run({"xnor"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err.rfind("error: paper: unknown experiment 'xnor' (known: xor,", 0), 0u) << r.err;
  EXPECT_EQ(count(r.err, "\n"), 1u);
  std::ofstream(path("file")) << "x";
  r = run({"xor", "--plot", "file"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err.rfind("error: ", 0), 0u) << r.err;
  EXPECT_EQ(r.out.find("seed"), std::string::npos);  // it says so before training
  for (std::vector<std::string> args : {std::vector<std::string>{"xor", "--seeds", "0"},
                                        {"xor", "--momentum", "1"},
                                        {"xor", "--lr", "-1"},
                                        {"xor", "--tolerance", "0.7"},
                                        {"xor", "--hidden", "0"},
                                        {"xor", "--max-sweeps", "x"}}) {
    r = run(args);
    EXPECT_NE(r.exit_code, 0) << args[1];
    EXPECT_FALSE(r.err.empty()) << args[1];
  }
}

}  // namespace
}  // namespace bp
