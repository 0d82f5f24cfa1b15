// The experiments of Rumelhart, Hinton & Williams, "Learning representations by back-propagating
// errors" (Nature 323, 1986) and "Learning internal representations by error propagation" (PDP
// vol. 1, ch. 8), with the papers' set-up: sigmoid units, squared error E = ½Σ(y−d)², one batch
// update per sweep through all the patterns, Δw(t) = −ε·∂E/∂w + α·Δw(t−1) (optim::SGD), small
// uniform initial weights, and direct input-to-output connections where the paper has them.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "backprop/export.hpp"
#include "backprop/tensor.hpp"

namespace bp::paper {

// How one run is trained. Every experiment has its own defaults (Experiment::defaults).
struct BP_API Settings {
  uint64_t seed = 1;        // initial weights (and, for family-trees, which triples are held out)
  float lr = 0.5f;          // ε
  float momentum = 0.9f;    // α
  float init_range = 0.3f;  // every weight and bias starts uniform in [−init_range, init_range)
  int64_t max_sweeps = 5000;
  // Converged when every output of every training pattern is within `tolerance` of its 0/1
  // target (0.5: on the right side of 0.5).
  float tolerance = 0.4f;
  bool stop_at_convergence = true;  // false: train all max_sweeps (family-trees)
  int64_t hidden = 0;               // hidden units (or t-c feature maps); 0: the experiment's own
  // The paper's family-trees schedule: ε and α of the first `warmup_sweeps` sweeps.
  int64_t warmup_sweeps = 0;
  float warmup_lr = 0.0f;
  float warmup_momentum = 0.0f;
  // After each weight change every weight (and bias) is multiplied by 1 − weight_decay
  // ("decrementing every weight by 0.2%" is 0.002).
  float weight_decay = 0.0f;
  // An output counts as no error once it is within error_margin of its target (family-trees: an
  // output that should be on and is above 0.8, or should be off and is below 0.2). 0: off.
  float error_margin = 0.0f;
  int64_t held_out = 0;  // family-trees: patterns held out of training, chosen by `seed`
};

struct BP_API Result {
  std::string experiment;
  Settings settings;
  bool converged = false;
  int64_t sweeps = 0;  // weight updates made before the criterion first held (max_sweeps if never)
  double error = 0.0;  // E = ½Σ(y−d)² over the training patterns after training
  int64_t right = 0;   // training patterns whose every output is on the right side of 0.5
  int64_t total = 0;
  int64_t held_out_right = 0;  // the same over the held-out patterns (family-trees)
  int64_t held_out_total = 0;
  Tensor inputs, targets, outputs;  // training patterns and the outputs after training
  Tensor held_out_inputs, held_out_targets, held_out_outputs;
  Tensor hidden;  // hidden-unit activations per training pattern after training
  std::vector<std::pair<std::string, Tensor>> weights;  // the learned weights, by name
  bool all_right() const { return right == total; }
};

struct BP_API Experiment {
  std::string name;          // what `backprop paper NAME` takes
  std::string architecture;  // e.g. "2-1-1, direct input-output connections"
  std::string paper;         // what the paper reports
  Settings defaults;
};

// Every experiment, in the order the papers present them.
BP_API const std::vector<Experiment>& experiments();
// Throws bp::Error naming the known experiments when `name` is not one of them.
BP_API const Experiment& experiment(const std::string& name);

// Trains experiment `name` with `settings` (start from experiment(name).defaults), on one thread
// (the thread count is restored afterwards). Deterministic: the same settings give the same
// result. Throws
// bp::Error on an unknown name or settings out of range (lr or momentum negative, momentum >= 1,
// init_range <= 0, max_sweeps < 1, tolerance outside (0, 0.5], weight_decay outside [0, 1),
// held_out too large).
BP_API Result run(const std::string& name, const Settings& settings);

// ---- the data sets ----

// The two isomorphic family trees (English and Italian), 12 people each.
BP_API const std::vector<std::string>& family_people();  // 24 names, English first
BP_API const std::vector<std::string>&
family_relations();  // father, mother, husband, wife, son, ...
struct BP_API FamilyFact {
  int64_t person;                // index into family_people()
  int64_t relation;              // index into family_relations()
  std::vector<int64_t> answers;  // every person who stands in that relation to `person`
};
// The 104 (person, relation) questions that have an answer, derived from the trees.
BP_API std::vector<FamilyFact> family_facts();

// t-c: the T and the C (five squares each, in a 3×3 box) in four rotations: 8 shapes as 3×3
// 0/1 grids, T first; shape k is a T when k < 4.
BP_API std::vector<std::vector<float>> tc_shapes();
constexpr int64_t kRetina = 6;  // the t-c retina is kRetina × kRetina; shapes go anywhere on it

// ---- reading the weights ----

// Symmetry (6-2-1): for each hidden unit, how close its six input weights w0..w5 come to the
// paper's solution, equal magnitude and opposite sign across the midline (w_i = −w_{5−i}) with
// magnitudes in the ratio 1:2:4 on each side.
struct BP_API MirrorUnit {
  double mirror_error = 0.0;     // max_i |w_i + w_{5−i}| / max_i |w_i|
  double ratios[3] = {0, 0, 0};  // the left side's magnitudes, sorted, divided by the smallest
};
// Throws bp::Error unless `result` is a symmetry run.
BP_API std::vector<MirrorUnit> mirror_structure(const Result& result);

// ---- pictures ----

// Draws the run's learned weights as SVG Hinton diagrams in `dir` (created if needed), as the
// papers' figures show them: every experiment's "<name>-weights.svg" (one panel per unit), and
// symmetry-hidden.svg (the mirror weights), encoder-codes.svg (the hidden codes),
// family-trees-people.svg (the six person units, English above Italian, as Nature's Fig. 4) and
// t-c-filters.svg (the receptive field as a 3×3 image) in their place. Returns the paths written.
// Throws bp::Error when a file cannot be written.
BP_API std::vector<std::string> write_plots(const Result& result, const std::string& dir);

}  // namespace bp::paper
