// The 1986 experiments: each asserts what the paper reports (see docs/paper.md), over several
// seeds where the paper's claim is about how often training succeeds.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <string>
#include <vector>

#include "backprop/paper.hpp"
#include "test_util.hpp"

namespace bp::paper {
namespace {

// The sanitizer build runs these 5-10x slower: it checks the same code on fewer seeds, while the
// Release build asserts the claims over the full count. (GCC announces AddressSanitizer
// with a macro, clang through __has_feature.)
#if defined(__SANITIZE_ADDRESS__)
#define BP_ASAN_BUILD 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define BP_ASAN_BUILD 1
#endif
#endif
#ifdef BP_ASAN_BUILD
constexpr int kSeeds = 3;
#else
constexpr int kSeeds = 10;
#endif

std::vector<Result> run_seeds(const std::string& name, int seeds) {
  Settings s = experiment(name).defaults;
  std::vector<Result> out;
  for (int k = 1; k <= seeds; ++k) {
    s.seed = static_cast<uint64_t>(k);
    out.push_back(run(name, s));
  }
  return out;
}

int count_converged(const std::vector<Result>& rs) {
  return static_cast<int>(
      std::count_if(rs.begin(), rs.end(), [](const Result& r) { return r.converged; }));
}

// At least `fraction` of the seeds converge, and every converged run has every pattern right.
void expect_most_converge(const std::vector<Result>& rs, double fraction) {
  const int converged = count_converged(rs);
  EXPECT_GE(converged, static_cast<int>(std::ceil(fraction * static_cast<double>(rs.size()))))
      << rs.front().experiment << ": " << converged << " of " << rs.size() << " seeds converged";
  for (const Result& r : rs) {
    if (!r.converged) continue;
    EXPECT_EQ(r.right, r.total) << r.experiment << " seed " << r.settings.seed;
    EXPECT_LT(r.sweeps, r.settings.max_sweeps);
    for (float y : r.outputs.values()) EXPECT_TRUE(std::isfinite(y));
  }
}

const Tensor& weight(const Result& r, const std::string& name) {
  for (const auto& [n, w] : r.weights)
    if (n == name) return w;
  ADD_FAILURE() << "no weight named " << name;
  static Tensor none;
  return none;
}

TEST(PaperData, FamilyTreesHave104Questions) {
  const auto facts = family_facts();
  ASSERT_EQ(facts.size(), 104u);
  ASSERT_EQ(family_people().size(), 24u);
  ASSERT_EQ(family_relations().size(), 12u);
  // The trees are isomorphic: question k of the English tree is question k + 52 of the Italian.
  for (size_t k = 0; k < 52; ++k) {
    EXPECT_LT(facts[k].person, 12);
    EXPECT_EQ(facts[k + 52].person, facts[k].person + 12);
    EXPECT_EQ(facts[k + 52].relation, facts[k].relation);
    ASSERT_EQ(facts[k + 52].answers.size(), facts[k].answers.size());
    for (size_t a = 0; a < facts[k].answers.size(); ++a)
      EXPECT_EQ(facts[k + 52].answers[a], facts[k].answers[a] + 12);
  }
  auto answers = [&](const std::string& person, const std::string& relation) {
    std::set<std::string> out;
    for (const FamilyFact& f : facts)
      if (family_people()[static_cast<size_t>(f.person)] == person &&
          family_relations()[static_cast<size_t>(f.relation)] == relation)
        for (int64_t a : f.answers) out.insert(family_people()[static_cast<size_t>(a)]);
    return out;
  };
  EXPECT_EQ(answers("Colin", "aunt"), (std::set<std::string>{"Margaret", "Jennifer"}));
  EXPECT_EQ(answers("Colin", "uncle"), (std::set<std::string>{"Arthur", "Charles"}));
  EXPECT_EQ(answers("Charles", "niece"), (std::set<std::string>{"Charlotte"}));
  EXPECT_EQ(answers("Penelope", "husband"), (std::set<std::string>{"Christopher"}));
  EXPECT_EQ(answers("Victoria", "brother"), (std::set<std::string>{"Arthur"}));
  EXPECT_EQ(answers("Sophia", "mother"), (std::set<std::string>{"Lucia"}));
  EXPECT_EQ(answers("Emilio", "father"), (std::set<std::string>{"Roberto"}));
  EXPECT_TRUE(answers("Christopher", "father").empty());
  // 52 per tree: 12 father/mother, 10 husband/wife, 12 son/daughter, 6 brother/sister,
  // 4 uncle/aunt, 8 nephew/niece.
  std::vector<int> per_relation(12, 0);
  for (const FamilyFact& f : facts) ++per_relation[static_cast<size_t>(f.relation)];
  EXPECT_EQ(per_relation, (std::vector<int>{12, 12, 10, 10, 12, 12, 4, 4, 6, 6, 8, 8}));
}

TEST(PaperData, TAndCInFourRotations) {
  const auto shapes = tc_shapes();
  ASSERT_EQ(shapes.size(), 8u);
  std::set<std::vector<float>> distinct(shapes.begin(), shapes.end());
  EXPECT_EQ(distinct.size(), 8u);  // no rotation repeats another shape
  for (const auto& s : shapes) {
    ASSERT_EQ(s.size(), 9u);
    EXPECT_EQ(std::count(s.begin(), s.end(), 1.0f), 5);  // the two letters have as many squares
  }
}

TEST(Paper, UnknownExperimentAndBadSettingsAreErrors) {
  testing::expect_error([] { run("xnor", Settings{}); }, "unknown experiment 'xnor'");
  Settings s = experiment("xor").defaults;
  s.momentum = 1.0f;
  testing::expect_error([&] { run("xor", s); }, "momentum");
  s = experiment("xor").defaults;
  s.tolerance = 0.0f;
  testing::expect_error([&] { run("xor", s); }, "tolerance");
  s = experiment("family-trees").defaults;
  s.held_out = 104;
  testing::expect_error([&] { run("family-trees", s); }, "held out");
  s = experiment("xor").defaults;
  s.lr = NAN;
  testing::expect_error([&] { run("xor", s); }, "learning rate");
}

TEST(Paper, SameSeedSameRun) {
  Settings s = experiment("xor").defaults;
  s.seed = 3;
  Result a = run("xor", s), b = run("xor", s);
  EXPECT_EQ(a.sweeps, b.sweeps);
  EXPECT_TRUE(allclose(a.outputs, b.outputs, 0, 0));
}

TEST(Paper, Xor) {
  for (const char* name : {"xor", "xor-direct"}) {
    auto rs = run_seeds(name, kSeeds);
    expect_most_converge(rs, 0.7);
    // The direct connections are there, and XOR's outputs are on the right side of 0.5.
    if (std::string(name) == "xor-direct") {
      EXPECT_EQ(weight(rs[0], "direct.weight").shape(), (Shape{1, 2}));
    }
    for (const Result& r : rs) {
      if (!r.converged) continue;
      for (int i = 0; i < 4; ++i) {
        EXPECT_EQ(r.outputs.data()[i] > 0.5f, r.targets.data()[i] > 0.5f);
      }
    }
  }
}

TEST(Paper, EncoderLearnsEightDistinctCodes) {
  auto rs = run_seeds("encoder", kSeeds);
  expect_most_converge(rs, 0.7);
  for (const Result& r : rs) {
    if (!r.converged) continue;
    ASSERT_EQ(r.hidden.shape(), (Shape{8, 3}));
    // Every pattern's output is its own one-hot vector, so the 8 hidden codes must differ.
    for (int64_t i = 0; i < 8; ++i)
      for (int64_t j = i + 1; j < 8; ++j) {
        double d = 0;
        for (int64_t k = 0; k < 3; ++k)
          d = std::max(d, static_cast<double>(std::abs(r.hidden.at({i, k}) - r.hidden.at({j, k}))));
        EXPECT_GT(d, 0.1) << "seed " << r.settings.seed << ": codes " << i << " and " << j;
      }
  }
}

TEST(Paper, Parity) {
  auto rs = run_seeds("parity", kSeeds);
  expect_most_converge(rs, 0.5);
}

TEST(Paper, SymmetryLearnsTheMirrorWeights) {
  auto rs = run_seeds("symmetry", kSeeds);
  expect_most_converge(rs, 0.6);
  int one_two_four = 0, converged = 0;
  for (const Result& r : rs) {
    if (!r.converged) continue;
    ++converged;
    bool all_units = true;
    for (const MirrorUnit& u : mirror_structure(r)) {
      // Equal magnitude, opposite sign across the midline...
      EXPECT_LT(u.mirror_error, 0.05) << "seed " << r.settings.seed;
      // ...and three different magnitudes on a side, so that no asymmetric pattern cancels.
      EXPECT_GT(u.ratios[1], 1.3);
      EXPECT_GT(u.ratios[2], u.ratios[1] * 1.2);
      all_units = all_units && std::abs(u.ratios[1] - 2) < 0.25 && std::abs(u.ratios[2] - 4) < 0.5;
    }
    one_two_four += all_units;
  }
  // The paper's 1:2:4 is the solution most runs find (see docs/paper.md for the others).
  EXPECT_GE(2 * one_two_four, converged) << one_two_four << " of " << converged;
}

TEST(Paper, AdditionSumsRight) {
  auto rs = run_seeds("addition", kSeeds);
  expect_most_converge(rs, 0.6);
  EXPECT_EQ(weight(rs[0], "direct.weight").shape(), (Shape{3, 4}));
}

TEST(Paper, Negation) {
  auto rs = run_seeds("negation", kSeeds);
  expect_most_converge(rs, 0.6);
}

TEST(Paper, FamilyTrees) {
  auto rs = run_seeds("family-trees", kSeeds);
  int all_right = 0;
  int64_t held_right = 0, held_total = 0;
  std::set<std::vector<float>> splits;
  for (const Result& r : rs) {
    EXPECT_EQ(r.total, 100);
    EXPECT_EQ(r.held_out_total, 4);
    all_right += r.all_right();
    held_right += r.held_out_right;
    held_total += r.held_out_total;
    splits.insert(r.held_out_inputs.to_vector());
  }
  EXPECT_EQ(splits.size(), rs.size());  // each seed holds out a different four
  // With the weight decay most runs end a few questions short: 13 of seeds 1-40 got all 100
  // right (3, 5, 2 and 3 of each ten; docs/paper.md).
  EXPECT_GE(all_right, std::max(1, kSeeds / 5)) << all_right << " of " << rs.size();
  // Answering a held-out question means the right one of 24 outputs on and the other 23 off;
  // chance does that almost never. The paper got 4 of 4 in one run.
  EXPECT_GT(held_right, 0) << held_right << " of " << held_total;
}

TEST(Paper, TCAllEightShapesEverywhere) {
  auto rs = run_seeds("t-c", kSeeds);
  expect_most_converge(rs, 0.7);
  EXPECT_EQ(rs[0].total, 8 * (kRetina - 2) * (kRetina - 2));
  // The receptive field is one 3×3 filter, shared by every position.
  EXPECT_EQ(weight(rs[0], "filter.weight").shape(), (Shape{1, 1, 3, 3}));
}

}  // namespace
}  // namespace bp::paper
