// Learning-rate schedules: each against hand-computed sequences, sequential composition, reduce on
// plateau with its state, and the text form with its errors.
#include <cmath>
#include <numbers>

#include "backprop/schedule.hpp"
#include "backprop/spec.hpp"
#include "backprop/train.hpp"
#include "test_util.hpp"

namespace bp::optim {
namespace {

using bp::testing::expect_error;

std::vector<double> sequence(const Schedule& s, int64_t steps) {
  std::vector<double> out;
  for (int64_t t = 0; t < steps; ++t) out.push_back(s.lr(t));
  return out;
}

void expect_sequence(const Schedule& s, const std::vector<double>& want, double tol = 1e-12) {
  const std::vector<double> got = sequence(s, static_cast<int64_t>(want.size()));
  for (size_t t = 0; t < want.size(); ++t) EXPECT_NEAR(got[t], want[t], tol) << "step " << t;
}

ScheduleContext ctx(double lr = 0.1, int64_t total = 100, int64_t per_epoch = 10) {
  return {.base_lr = lr, .total_steps = total, .steps_per_epoch = per_epoch};
}

TEST(Schedule, Constant) {
  ConstantLR s(0.5);
  expect_sequence(s, {0.5, 0.5, 0.5});
  EXPECT_EQ(s.length(), 0);
  EXPECT_EQ(ConstantLR(0.5, 7).length(), 7);
  expect_error([&] { s.lr(-1); }, "step must be >= 0");
}

TEST(Schedule, Step) {
  StepLR s(1.0, 3, 0.5);
  expect_sequence(s, {1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25});
  expect_error([] { StepLR(1.0, 0, 0.5); }, "step: size must be >= 1");
  expect_error([] { StepLR(1.0, 2, 1.5); }, "step: gamma must be in (0, 1]");
}

TEST(Schedule, MultiStep) {
  MultiStepLR s(1.0, {2, 5}, 0.1);
  expect_sequence(s, {1, 1, 0.1, 0.1, 0.1, 0.01, 0.01}, 1e-15);
  expect_error([] { MultiStepLR(1.0, {5, 2}, 0.1); }, "milestones must be increasing");
  expect_error([] { MultiStepLR(1.0, {}, 0.1); }, "at least one milestone");
}

TEST(Schedule, Exponential) {
  ExponentialLR s(2.0, 0.5);
  expect_sequence(s, {2, 1, 0.5, 0.25});
  expect_error([] { ExponentialLR(2.0, 0.0); }, "exponential: gamma");
}

TEST(Schedule, Cosine) {
  // T = 4, base 1, η_min 0: (1 + cos(πt/4))/2 = 1, 0.853553…, 0.5, 0.146446…, 0, then held at 0.
  CosineLR s(1.0, 4);
  const double c = (1 + std::cos(std::numbers::pi / 4)) / 2;
  expect_sequence(s, {1, c, 0.5, 1 - c, 0, 0, 0});
  CosineLR m(1.0, 2, 0.2);  // 1, 0.6, 0.2
  expect_sequence(m, {1, 0.6, 0.2, 0.2});
  EXPECT_EQ(s.length(), 4);
  expect_error([] { CosineLR(1.0, 0); }, "cosine: T_max must be >= 1");
}

TEST(Schedule, Warmup) {
  // 4 steps from 0.25·base: 0.25, 0.4375, 0.625, 0.8125, then base.
  WarmupLR s(1.0, 4, 0.25);
  expect_sequence(s, {0.25, 0.4375, 0.625, 0.8125, 1, 1});
  EXPECT_EQ(s.length(), 4);
  expect_error([] { WarmupLR(1.0, 4, 0.0); }, "start_factor must be in (0, 1]");
  expect_error([] { WarmupLR(1.0, 0); }, "warmup: steps must be >= 1");
}

TEST(Schedule, OneCycleCosine) {
  // max 1, 10 steps, pct 0.3, div 10, final div 10: initial 0.1, final 0.01. The rise ends at
  // step 0.3·10 − 1 = 2 and the fall at step 9.
  OneCycleLR s({.max_lr = 1.0,
                .total_steps = 10,
                .pct_start = 0.3,
                .div_factor = 10,
                .final_div_factor = 10});
  auto cos_anneal = [](double start, double end, double pct) {
    return end + (start - end) / 2 * (std::cos(std::numbers::pi * pct) + 1);
  };
  std::vector<double> want{0.1, cos_anneal(0.1, 1, 0.5), 1.0};
  for (int t = 3; t <= 9; ++t) want.push_back(cos_anneal(1.0, 0.01, (t - 2) / 7.0));
  want.push_back(0.01);  // held after the last step
  expect_sequence(s, want);
  EXPECT_NEAR(s.lr(1), 0.55, 1e-12);
  EXPECT_NEAR(s.lr(9), 0.01, 1e-12);
}

TEST(Schedule, OneCycleLinear) {
  OneCycleLR s({.max_lr = 0.5,
                .total_steps = 6,
                .pct_start = 0.5,
                .cosine = false,
                .div_factor = 5,
                .final_div_factor = 2});
  // initial 0.1, final 0.05; rise to step 2: 0.1, 0.3, 0.5; fall to step 5: 0.35, 0.2, 0.05.
  expect_sequence(s, {0.1, 0.3, 0.5, 0.35, 0.2, 0.05, 0.05}, 1e-12);
  expect_error([] { OneCycleLR({.max_lr = 1, .total_steps = 10, .pct_start = 0.1}); },
               "leaves a phase without steps");
  expect_error([] { OneCycleLR({.max_lr = 1, .total_steps = 1}); }, "total_steps must be >= 2");
}

TEST(Schedule, ReduceOnPlateau) {
  // factor 0.5, patience 2: the lr halves after the third epoch in a row without improvement.
  ReduceOnPlateau s(1.0, {.factor = 0.5, .patience = 2});
  EXPECT_EQ(s.lr(0), 1.0);
  std::vector<double> lrs;
  for (double loss : {1.0, 0.9, 0.95, 0.91, 0.92, 0.93, 0.8, 0.9, 0.9, 0.9}) {
    s.observe(loss);
    lrs.push_back(s.lr(0));
  }
  EXPECT_EQ(lrs, (std::vector<double>{1, 1, 1, 1, 0.5, 0.5, 0.5, 0.5, 0.5, 0.25}));
}

TEST(Schedule, ReduceOnPlateauThresholdCooldownAndFloor) {
  // An improvement smaller than threshold·best does not count.
  ReduceOnPlateau s(
      1.0, {.factor = 0.1, .patience = 0, .threshold = 0.1, .cooldown = 1, .min_lr = 0.05});
  s.observe(1.0);  // best 1
  EXPECT_EQ(s.lr(0), 1.0);
  s.observe(0.95);  // not below 0.9: bad, > patience 0: reduce to 0.1, cooldown 1
  EXPECT_NEAR(s.lr(0), 0.1, 1e-15);
  s.observe(0.99);  // bad, but in cooldown: not counted
  EXPECT_NEAR(s.lr(0), 0.1, 1e-15);
  s.observe(0.99);  // bad: reduce to max(0.01, 0.05) = 0.05
  EXPECT_NEAR(s.lr(0), 0.05, 1e-15);
  s.observe(2.0);  // cooldown
  s.observe(2.0);  // bad, already at the floor
  EXPECT_NEAR(s.lr(0), 0.05, 1e-15);
}

TEST(Schedule, ReduceOnPlateauStateRoundTrip) {
  ReduceOnPlateau a(1.0, {.factor = 0.5, .patience = 1, .cooldown = 2});
  ReduceOnPlateau b(1.0, {.factor = 0.5, .patience = 1, .cooldown = 2});
  const std::vector<double> losses{1, 0.9, 0.95, 0.96, 0.97, 0.98, 0.99, 1.0, 0.5, 0.6, 0.7};
  for (size_t i = 0; i < 5; ++i) a.observe(losses[i]);
  b.load_state(a.state());
  for (size_t i = 5; i < losses.size(); ++i) {
    a.observe(losses[i]);
    b.observe(losses[i]);
    EXPECT_EQ(a.lr(0), b.lr(0));
    EXPECT_EQ(a.state(), b.state());
  }
  EXPECT_LT(a.lr(0), 1.0);
  ReduceOnPlateau fresh(1.0);
  EXPECT_EQ(fresh.state(), (std::vector<double>{1, 0, 0, 0, 0}));
  expect_error([&] { fresh.load_state(std::vector<double>{1, 0}); }, "plateau: state has 2 values");
  expect_error([&] { fresh.load_state(std::vector<double>{1, 2, 0, 0, 0}); }, "malformed state");
  expect_error([&] { ConstantLR(1).load_state(std::vector<double>{1}); }, "has no state");
}

TEST(Schedule, SequentialWarmupThenCosine) {
  std::vector<std::unique_ptr<Schedule>> pieces;
  pieces.push_back(std::make_unique<WarmupLR>(1.0, 2, 0.5));
  pieces.push_back(std::make_unique<CosineLR>(1.0, 2));
  SequentialSchedule s(std::move(pieces));
  // warm-up 0.5, 0.75; cosine 1, 0.5, 0; held.
  expect_sequence(s, {0.5, 0.75, 1, 0.5, 0, 0});
  EXPECT_EQ(s.length(), 4);
  EXPECT_EQ(s.to_string(), "warmup(2,0.5),cosine(2,0)");
}

TEST(Schedule, SequentialRejectsOpenEndedPiecesBeforeTheLast) {
  std::vector<std::unique_ptr<Schedule>> pieces;
  pieces.push_back(std::make_unique<ExponentialLR>(1.0, 0.5));
  pieces.push_back(std::make_unique<ConstantLR>(1.0));
  expect_error([&] { SequentialSchedule(std::move(pieces)); }, "only the last piece");
  expect_error([] { SequentialSchedule({}); }, "at least one piece");
}

TEST(Schedule, SequentialPassesObservationsAndState) {
  std::vector<std::unique_ptr<Schedule>> pieces;
  pieces.push_back(std::make_unique<WarmupLR>(1.0, 2));
  pieces.push_back(std::make_unique<ReduceOnPlateau>(1.0, PlateauOptions{.patience = 0}));
  SequentialSchedule s(std::move(pieces));
  s.observe(1.0);
  s.observe(2.0);                     // reduce to 0.1
  EXPECT_NEAR(s.lr(0), 0.01, 1e-15);  // still warming up: the warm-up's own value
  EXPECT_NEAR(s.lr(5), 0.1, 1e-15);
  EXPECT_EQ(s.state().size(), 5u);
  EXPECT_NEAR(s.state()[0], 0.1, 1e-15);
}

// ---- the text form ----

TEST(ParseSchedule, EachKind) {
  EXPECT_EQ(parse_schedule("constant", ctx())->to_string(), "constant");
  EXPECT_EQ(parse_schedule("step(10,0.5)", ctx())->to_string(), "step(10,0.5)");
  EXPECT_EQ(parse_schedule("step(10)", ctx())->to_string(), "step(10,0.1)");
  EXPECT_EQ(parse_schedule("multistep(10;20,0.1)", ctx())->to_string(), "multistep(10;20,0.1)");
  EXPECT_EQ(parse_schedule("multistep(milestones=3;4)", ctx())->to_string(), "multistep(3;4,0.1)");
  EXPECT_EQ(parse_schedule("exponential(0.95)", ctx())->to_string(), "exponential(0.95)");
  EXPECT_EQ(parse_schedule("EXP(0.5)", ctx())->to_string(), "exponential(0.5)");
  EXPECT_EQ(parse_schedule("cosine", ctx())->to_string(), "cosine(100,0)");
  EXPECT_EQ(parse_schedule("cosine(50, eta_min=1e-4)", ctx())->to_string(), "cosine(50,0.0001)");
  EXPECT_EQ(parse_schedule("warmup(5)", ctx())->to_string(), "warmup(5,0.01)");
  EXPECT_EQ(parse_schedule("onecycle", ctx())->to_string(), "onecycle(0.1,100,0.3,cos,25,10000)");
  EXPECT_EQ(parse_schedule("onecycle(1, pct_start=0.25, anneal=linear)", ctx())->to_string(),
            "onecycle(1,100,0.25,linear,25,10000)");
  EXPECT_EQ(parse_schedule("plateau(0.1,5)", ctx())->to_string(), "plateau(0.1,5,0.0001,0,0)");
  EXPECT_EQ(parse_schedule("plateau(factor=0.5, min_lr=1e-5)", ctx())->to_string(),
            "plateau(0.5,10,0.0001,0,1e-05)");
}

TEST(ParseSchedule, ValuesUseTheBaseLearningRate) {
  auto s = parse_schedule("step(2,0.5)", ctx(0.4));
  expect_sequence(*s, {0.4, 0.4, 0.2, 0.2, 0.1});
}

TEST(ParseSchedule, WarmupThenCosineOverTheRest) {
  // 100 steps: 20 of warm-up, cosine over the remaining 80.
  auto s = parse_schedule("warmup(20),cosine", ctx(1.0, 100));
  EXPECT_EQ(s->to_string(), "warmup(20,0.01),cosine(80,0)");
  EXPECT_NEAR(s->lr(0), 0.01, 1e-12);
  EXPECT_NEAR(s->lr(10), 0.01 + 0.99 * 0.5, 1e-12);
  EXPECT_NEAR(s->lr(20), 1.0, 1e-12);
  EXPECT_NEAR(s->lr(60), 0.5, 1e-12);
  EXPECT_NEAR(s->lr(99), (1 + std::cos(std::numbers::pi * 79 / 80)) / 2, 1e-12);
}

TEST(ParseSchedule, DurationsInEpochs) {
  // 10 steps per epoch: "2e" is 20 steps, "0.5e" 5.
  EXPECT_EQ(parse_schedule("step(2e,0.5)", ctx())->to_string(), "step(20,0.5)");
  EXPECT_EQ(parse_schedule("warmup(0.5e),cosine", ctx())->to_string(),
            "warmup(5,0.01),cosine(95,0)");
  EXPECT_EQ(parse_schedule("multistep(3e;6e)", ctx())->to_string(), "multistep(30;60,0.1)");
  expect_error([] { parse_schedule("step(2e)", ctx(0.1, 100, 0)); },
               "size '2e' is in epochs, but the steps per epoch are unknown");
}

TEST(ParseSchedule, ThreePieces) {
  auto s = parse_schedule("constant(3), warmup(2, 0.5), exponential(0.5)", ctx(1.0));
  expect_sequence(*s, {1, 1, 1, 0.5, 0.75, 1, 0.5, 0.25});
}

TEST(ParseSchedule, HelpNamesEveryScheduleItParses) {
  const std::vector<std::string> help = schedule_help();
  ASSERT_FALSE(help.empty());
  for (const std::string& line : help) {
    const std::string name = line.substr(0, line.find_first_of("([ "));
    try {
      parse_schedule(name, ctx());
    } catch (const Error& e) {
      EXPECT_EQ(std::string(e.what()).find("unknown schedule"), std::string::npos) << e.what();
    }
  }
}

TEST(ParseSchedule, NamesAndKeysInAnyCase) {
  EXPECT_EQ(parse_schedule("STEP(+10, Gamma=0.5)", ctx())->to_string(), "step(10,0.5)");
  EXPECT_EQ(parse_schedule("onecycle(anneal=LINEAR)", ctx())->to_string(),
            "onecycle(0.1,100,0.3,linear,25,10000)");
}

TEST(ParseSchedule, Errors) {
  expect_error([] { parse_schedule("", ctx()); }, "empty specification");
  expect_error([] { parse_schedule("cosnie", ctx()); },
               "schedule piece 'cosnie': unknown schedule 'cosnie' (known: constant, step");
  expect_error([] { parse_schedule("step(10,x)", ctx()); },
               "schedule piece 'step(10,x)': argument 'gamma' must be a number, got 'x'");
  expect_error([] { parse_schedule("step(ten)", ctx()); },
               "argument 'size' must be a whole number of steps");
  expect_error([] { parse_schedule("step", ctx()); },
               "schedule piece 'step': missing argument 'size'");
  expect_error([] { parse_schedule("step(1,2,3)", ctx()); }, "takes at most 2 arguments");
  expect_error([] { parse_schedule("step(10, decay=0.5)", ctx()); },
               "unknown argument 'decay' (step takes size, gamma)");
  expect_error([] { parse_schedule("step(10, size=4)", ctx()); }, "'size' given twice");
  expect_error([] { parse_schedule("step(gamma=0.5, 10)", ctx()); },
               "positional argument '10' after");
  expect_error([] { parse_schedule("step(10,0.5", ctx()); },
               "unclosed '(' in schedule 'step' at column 6");
  expect_error([] { parse_schedule("step(10,0.5))", ctx()); }, "unexpected ')' at column 13");
  expect_error([] { parse_schedule("warmup(5),,cosine", ctx()); },
               "expected a schedule name at column 11");
  expect_error([] { parse_schedule("step(10,2)", ctx()); },
               "schedule piece 'step(10,2)': step: gamma must be in (0, 1]");
  expect_error([] { parse_schedule("exponential(0.9),cosine", ctx()); },
               "'exponential(0.9)': exponential runs open-ended, so it can only be the last piece");
  expect_error([] { parse_schedule("constant,cosine", ctx()); }, "give constant(steps) a length");
  expect_error([] { parse_schedule("cosine,warmup(5)", ctx()); },
               "'cosine': give T_max when another piece follows");
  expect_error([] { parse_schedule("cosine", ctx(0.1, 0)); },
               "give T_max; the number of training steps is unknown here");
  expect_error([] { parse_schedule("warmup(100),cosine", ctx(0.1, 100)); },
               "take 100 of the 100 training steps, leaving none");
  expect_error([] { parse_schedule("onecycle(anneal=cubic)", ctx()); },
               "'onecycle(anneal=cubic)': argument 'anneal' must be one of cos, cosine, linear");
  expect_error([] { parse_schedule("plateau(2)", ctx()); }, "plateau: factor must be in (0, 1)");
  expect_error([] { parse_schedule("cosine", ctx(-1.0)); }, "learning rate must be");
}

TEST(ParseSchedule, ToStringReadsBack) {
  for (const char* text :
       {"warmup(20),cosine", "step(3,0.5)", "multistep(3;7,0.2)", "onecycle(0.5, pct_start=0.4)",
        "plateau(0.5,2)", "exponential(0.9)", "constant(5),warmup(5),cosine(30,0.001)"}) {
    auto s = parse_schedule(text, ctx());
    auto again = parse_schedule(s->to_string(), ctx());
    EXPECT_EQ(again->to_string(), s->to_string()) << text;
    EXPECT_EQ(sequence(*again, 120), sequence(*s, 120)) << text;
  }
}

// ---- in the training loop ----

// 10 samples of 2 features in 2 classes: 3 batches of 4 per epoch.
data::Dataset tiny_data() {
  data::Dataset d;
  Generator gen(5);
  d.features = Tensor::uniform({10, 2}, -1.0f, 1.0f, gen);
  d.feature_shape = {2};
  d.num_classes = 2;
  for (int64_t i = 0; i < 10; ++i) d.labels.push_back(i % 2);
  d.validate();
  return d;
}

// Records, after every backward pass, the global step, each group's lr and the largest |gradient|.
class Recorder : public train::Callback {
 public:
  void on_after_backward(train::Trainer& trainer) override {
    steps.push_back(trainer.global_step());
    std::vector<float> lr;
    float largest = 0;
    for (const auto& g : trainer.optimizer().param_groups()) {
      lr.push_back(g.lr);
      for (const Tensor& p : g.params)
        if (p.grad().defined())
          for (float v : p.grad().values()) largest = std::max(largest, std::fabs(v));
    }
    lrs.push_back(lr);
    max_grad.push_back(largest);
  }
  std::vector<int64_t> steps;
  std::vector<std::vector<float>> lrs;
  std::vector<float> max_grad;
};

std::shared_ptr<nn::Sequential> tiny_net() {
  Generator gen(3);
  return nn::build_model(nn::parse_model_spec("dense(4),tanh,dense(2)"), {2}, gen);
}

TEST(ScheduleCallback, SetsTheLearningRateBeforeEveryUpdate) {
  data::Dataset d = tiny_data();
  auto net = tiny_net();
  auto params = net->parameters();
  // Two groups, the second at twice the first's rate: the ratio is kept.
  std::vector<ParamGroup> groups{{{params[0], params[1]}, 0.1f, 0.0f},
                                 {{params[2], params[3]}, 0.2f, 0.0f}};
  Adam adam(groups, {});
  auto schedule = std::shared_ptr<Schedule>(parse_schedule("warmup(2,0.5),step(2,0.5)", ctx(0.1)));
  train::Trainer trainer(*net, adam, {.epochs = 2, .batch_size = 4});
  auto recorder = std::make_shared<Recorder>();
  trainer.add_callback(std::make_shared<train::ScheduleCallback>(schedule));
  trainer.add_callback(recorder);
  trainer.fit(d, {});
  EXPECT_EQ(recorder->steps, (std::vector<int64_t>{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(trainer.global_step(), 6);
  const std::vector<double> want{0.05, 0.075, 0.1, 0.1, 0.05, 0.05};
  ASSERT_EQ(recorder->lrs.size(), want.size());
  for (size_t t = 0; t < want.size(); ++t) {
    EXPECT_FLOAT_EQ(recorder->lrs[t][0], static_cast<float>(want[t])) << t;
    EXPECT_FLOAT_EQ(recorder->lrs[t][1], static_cast<float>(2 * want[t])) << t;
  }
}

TEST(ScheduleCallback, ResumedRunContinuesAtEpochsTimesBatches) {
  data::Dataset d = tiny_data();
  auto net = tiny_net();
  SGD sgd(net->parameters(), {.lr = 1.0f});
  auto schedule = std::make_shared<ExponentialLR>(1.0, 0.5);
  train::Trainer trainer(*net, sgd, {.epochs = 3, .batch_size = 4, .start_epoch = 2});
  auto recorder = std::make_shared<Recorder>();
  trainer.add_callback(std::make_shared<train::ScheduleCallback>(schedule));
  trainer.add_callback(recorder);
  trainer.fit(d, {});
  EXPECT_EQ(recorder->steps, (std::vector<int64_t>{6, 7, 8}));
  EXPECT_FLOAT_EQ(recorder->lrs[0][0], 1.0f / 64);
  EXPECT_FLOAT_EQ(recorder->lrs[2][0], 1.0f / 256);
}

TEST(ScheduleCallback, PlateauObservesTheMonitoredLoss) {
  // A learning rate of 0 never improves the loss, so after patience 0 every epoch halves the
  // schedule's rate; the monitored set is "val", falling back to the training loss.
  data::Dataset d = tiny_data();
  for (const char* monitor : {"val", "missing"}) {
    auto net = tiny_net();
    SGD sgd(net->parameters(), {.lr = 0.0f});
    auto plateau = std::make_shared<ReduceOnPlateau>(
        0.0, PlateauOptions{.factor = 0.5, .patience = 0, .threshold = 0.5});
    plateau->load_state(std::vector<double>{1.0, 0, 0, 0, 0});  // start at 1 without moving
    train::Trainer trainer(*net, sgd, {.epochs = 3, .batch_size = 4});
    trainer.add_callback(std::make_shared<train::ScheduleCallback>(plateau, monitor));
    // Keep the weights still: the rate the schedule set is recorded, then zeroed.
    struct Freeze : train::Callback {
      void on_after_backward(train::Trainer& t) override {
        seen.push_back(t.optimizer().lr());
        t.optimizer().set_lr(0);
      }
      std::vector<float> seen;
    };
    auto freeze = std::make_shared<Freeze>();
    trainer.add_callback(freeze);
    trainer.fit(d, {{"val", &d}});
    // Epoch 1 sets the best; epochs 2 and 3 are not better by half: 1, 1, then 0.5.
    EXPECT_EQ(freeze->seen, (std::vector<float>{1, 1, 1, 1, 1, 1, 0.5f, 0.5f, 0.5f})) << monitor;
    EXPECT_EQ(plateau->lr(0), 0.25);
  }
}

TEST(GradientClippingCallback, ClipsBeforeTheStep) {
  data::Dataset d = tiny_data();
  auto net = tiny_net();
  SGD sgd(net->parameters(), {.lr = 0.1f});
  train::Trainer trainer(*net, sgd, {.epochs = 1, .batch_size = 4});
  auto clip = std::make_shared<train::GradientClipping>(0.0, 1e-3);
  auto recorder = std::make_shared<Recorder>();
  trainer.add_callback(clip);
  trainer.add_callback(recorder);
  trainer.fit(d, {});
  ASSERT_EQ(recorder->max_grad.size(), 3u);
  for (float g : recorder->max_grad) EXPECT_LE(g, 1e-3f);

  auto by_norm = std::make_shared<train::GradientClipping>(1e-3);
  train::Trainer trainer2(*net, sgd, {.epochs = 1, .batch_size = 4});
  trainer2.add_callback(by_norm);
  trainer2.fit(d, {});
  EXPECT_GT(by_norm->last_norm(), 1e-3);  // the norm before clipping
  double norm = 0;
  for (const Tensor& p : net->parameters())
    for (float v : p.grad().values()) norm += static_cast<double>(v) * static_cast<double>(v);
  EXPECT_LE(std::sqrt(norm), 1.0001e-3);
  expect_error([] { train::GradientClipping(-1.0); }, "max norm must be");
  expect_error([] { train::GradientClipping(1.0, NAN); }, "clip value must be");
}

}  // namespace
}  // namespace bp::optim
