// The gradient-check registry of the test suite. Each test file that defines differentiable ops
// registers its cases with BP_GRADCHECK_CASES; tests/autograd/test_gradcheck_ops.cpp checks every
// case and fails when an OpKind (autograd.hpp) has none.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "backprop/backprop.hpp"

namespace bp::testing {

struct GradcheckCase {
  std::string label;
  std::function<Tensor(const std::vector<Tensor>&)> fn;
  std::vector<Tensor> inputs;
  GradcheckOptions options = {};
};

using GradcheckCases = std::map<autograd::OpKind, std::vector<GradcheckCase>>;
using CaseBuilder = std::function<void(GradcheckCases&)>;

inline std::vector<CaseBuilder>& gradcheck_case_builders() {
  static std::vector<CaseBuilder> builders;
  return builders;
}

// All registered cases, built afresh (inputs are leaves that the checks perturb).
inline GradcheckCases all_gradcheck_cases() {
  GradcheckCases cases;
  for (auto& build : gradcheck_case_builders()) build(cases);
  return cases;
}

struct GradcheckRegistrar {
  explicit GradcheckRegistrar(CaseBuilder build) {
    gradcheck_case_builders().push_back(std::move(build));
  }
};

}  // namespace bp::testing

#define BP_GRADCHECK_CONCAT2(a, b) a##b
#define BP_GRADCHECK_CONCAT(a, b) BP_GRADCHECK_CONCAT2(a, b)
// BP_GRADCHECK_CASES(cases) { cases[OpKind::x].push_back({...}); }
#define BP_GRADCHECK_CASES(cases)                                                                 \
  static void BP_GRADCHECK_CONCAT(bp_gradcheck_cases_, __LINE__)(::bp::testing::GradcheckCases&); \
  static ::bp::testing::GradcheckRegistrar BP_GRADCHECK_CONCAT(                                   \
      bp_gradcheck_registrar_, __LINE__)(BP_GRADCHECK_CONCAT(bp_gradcheck_cases_, __LINE__));     \
  static void BP_GRADCHECK_CONCAT(bp_gradcheck_cases_,                                            \
                                  __LINE__)(::bp::testing::GradcheckCases & cases)
