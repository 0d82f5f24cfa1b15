// `backprop gradcheck`: a whole network's gradients against finite differences, one tensor (the
// input, then each parameter) at a time.
#include <cmath>
#include <cstdio>
#include <memory>
#include <sstream>

#include "backprop/backprop.hpp"
#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "cli/flags.hpp"

namespace bp::cli {

namespace {

struct GradcheckArgs {
  std::string model, input_shape;
  int64_t samples = 20;
  uint64_t seed = 1;
  float eps = 1e-3f;
};

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

// Checks one tensor of the network's and prints its line. gradcheck perturbs the tensor's data in
// place, which the network reads directly.
bool check_tensor(const Model& model, const Tensor& input, const Tensor& tensor,
                  const std::string& name, const GradcheckArgs& a) {
  GradcheckResult r =
      gradcheck([&](const std::vector<Tensor>&) { return model.network->forward(input); }, {tensor},
                {.eps = a.eps, .seed = a.seed, .max_elements_per_input = a.samples});
  std::printf("%-20s %-16s checked %4lld  max |error| %.3g  %s\n", name.c_str(),
              to_string(tensor.shape()).c_str(), static_cast<long long>(r.checked), r.max_abs_error,
              r.ok ? "ok" : "FAILED");
  if (!r.ok) std::printf("  %s\n", r.message.c_str());
  return r.ok;
}

int run_gradcheck(const GradcheckArgs& a) {
  BP_CHECK(std::isfinite(a.eps) && a.eps > 0, "--eps must be a positive number, got {}", a.eps);
  Generator gen(a.seed);
  Shape shape = parse_shape(a.input_shape);
  Model model = Model::create(parse_spec_argument(a.model), shape, gen);
  print_summary(model);
  Shape batch_shape{2};
  batch_shape.insert(batch_shape.end(), shape.begin(), shape.end());
  Tensor input = Tensor::uniform(batch_shape, 0.0f, 1.0f, gen, true);
  // One tensor at a time, so that the report names the one that fails.
  bool all_ok = check_tensor(model, input, input, "input", a);
  for (auto& [name, p] : model.network->named_parameters())
    all_ok = check_tensor(model, input, p, name, a) && all_ok;
  std::printf("%s\n", all_ok ? "gradient check passed" : "gradient check FAILED");
  return all_ok ? 0 : 1;
}

}  // namespace

Command add_gradcheck_command(CLI::App& app) {
  auto a = std::make_shared<GradcheckArgs>();
  CLI::App* cmd = app.add_subcommand("gradcheck", "check a network's gradients numerically");
  cmd->footer(spec_help());
  cmd->add_option("--model", a->model, "model spec, or @file.json")->required();
  cmd->add_option("--input-shape", a->input_shape, "one sample's shape, e.g. 1,28,28")->required();
  cmd->add_option("--samples", a->samples, "elements checked per tensor (0: all)")
      ->check(CLI::Range(0, 1 << 30))
      ->capture_default_str();
  cmd->add_option("--seed", a->seed, "seed")->capture_default_str();
  cmd->add_option("--eps", a->eps, "finite-difference step")
      ->check(in_range(1e-6, 1))
      ->capture_default_str();
  return {cmd, [a] { return run_gradcheck(*a); }};
}

}  // namespace bp::cli
