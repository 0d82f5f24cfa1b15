// `backprop paper`: the 1986 experiments from the command line, their tables and pictures, and a
// one-line error for every kind of bad input.
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "cli/cli_fixture.hpp"

namespace bp {
namespace {

namespace fs = std::filesystem;
using bp::testing::read_file;
using bp::testing::Result;

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

class CliPaper : public bp::testing::CliFixture {
 protected:
  // `backprop paper ARGS...`
  Result paper(std::vector<std::string> args) const {
    args.insert(args.begin(), "paper");
    return run(args);
  }
};

TEST_F(CliPaper, ListsEveryExperiment) {
  Result r = paper({"--list"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* name : {"xor", "xor-direct", "encoder", "parity", "symmetry", "addition",
                           "negation", "family-trees", "t-c"})
    EXPECT_NE(("\n" + r.out).find(std::string("\n") + name + " "), std::string::npos) << name;
  EXPECT_NE(paper({"--help"}).out.find("family-trees"), std::string::npos);
}

TEST_F(CliPaper, TablePerSeedAndSummary) {
  Result r = paper({"xor", "--seeds", "3", "--seed", "5"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* seed : {"\n       5 ", "\n       6 ", "\n       7 "})
    EXPECT_NE(r.out.find(seed), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("converged 3 of 3"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("sweeps to converge: median"), std::string::npos) << r.out;
  // Flags override the experiment's settings, and the header says so.
  r = paper({"xor", "--lr", "0.25", "--momentum", "0.5", "--max-sweeps", "7"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("eps 0.25, alpha 0.5"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("up to 7 sweeps"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("converged 0 of 1"), std::string::npos) << r.out;
}

TEST_F(CliPaper, SymmetryPicturesTheMirrorWeights) {
  Result r = paper({"symmetry", "--plot", "pics/sym"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("1:"), std::string::npos);  // the magnitudes column
  const std::string svg = read_file(path("pics/sym/symmetry-hidden.svg"));
  EXPECT_EQ(count(svg, "<svg"), 1u);
  EXPECT_EQ(count(svg, ">hidden 1<") + count(svg, ">hidden 2<"), 2u);
  EXPECT_EQ(count(svg, ">in 6<"), 2u);  // six inputs per hidden unit
  EXPECT_TRUE(fs::exists(path("pics/sym/symmetry-weights.svg")));
}

TEST_F(CliPaper, FamilyTreesAndTCPictures) {
  Result r = paper({"family-trees", "--max-sweeps", "30", "--plot", "pics"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("held out"), std::string::npos);
  const std::string people = read_file(path("pics/family-trees-people.svg"));
  for (int unit = 1; unit <= 6; ++unit)
    EXPECT_EQ(count(people, ">unit " + std::to_string(unit) + "<"), 1u) << unit;
  EXPECT_EQ(count(people, ">English<"), 6u);  // English above Italian in each unit's panel
  EXPECT_EQ(count(people, ">Italian<"), 6u);
  r = paper({"t-c", "--max-sweeps", "5", "--plot", "pics"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(read_file(path("pics/t-c-filters.svg")).find(">receptive field 1<"), std::string::npos);
  r = paper({"encoder", "--plot", "pics"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(count(read_file(path("pics/encoder-codes.svg")), ">pattern "), 8u);
}

TEST_F(CliPaper, BadInputIsOneLineError) {
  Result r = paper({"xnor"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err.rfind("error: paper: unknown experiment 'xnor' (known: xor,", 0), 0u) << r.err;
  EXPECT_EQ(count(r.err, "\n"), 1u);
  std::ofstream(path("file")) << "x";
  r = paper({"xor", "--plot", "file"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err.rfind("error: ", 0), 0u) << r.err;
  EXPECT_EQ(r.out.find("seed"), std::string::npos);  // it says so before training
  for (std::vector<std::string> args : {std::vector<std::string>{"xor", "--seeds", "0"},
                                        {"xor", "--momentum", "1"},
                                        {"xor", "--momentum", "nan"},
                                        {"xor", "--lr", "-1"},
                                        {"xor", "--tolerance", "0.7"},
                                        {"xor", "--hidden", "0"},
                                        {"xor", "--max-sweeps", "x"}}) {
    r = paper(args);
    EXPECT_EQ(r.exit_code, 2) << args[1];
    // One line naming the flag, the value and (for a number out of range) the valid range.
    EXPECT_EQ(count(r.err, "\n"), 1u) << r.err;
    EXPECT_EQ(r.err.rfind("error: " + args[1] + ": ", 0), 0u) << r.err;
    EXPECT_NE(r.err.find(args[2]), std::string::npos) << r.err;
  }
}

}  // namespace
}  // namespace bp
