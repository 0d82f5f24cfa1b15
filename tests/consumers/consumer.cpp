// A program outside the project that uses the installed (or embedded) library the way a user's
// would: it trains a small network, saves it, loads it in a fresh model, and checks that an error
// thrown inside the library is caught here by its type. Exits non-zero when anything is off.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>

#include <unistd.h>

#include <backprop/backprop.hpp>

static_assert(BP_VERSION_MAJOR >= 0 && BP_VERSION_MINOR >= 0 && BP_VERSION_PATCH >= 0);

int main() {
  using namespace bp;
  std::printf("backprop %s\n", BP_VERSION_STRING);
  Generator gen(1);
  Model model = Model::create(nn::parse_model_spec("dense(16),tanh,dense(1)"), {1}, gen);
  model.task = data::Task::regression;
  model.num_outputs = 1;
  Tensor x = Tensor::uniform({64, 1}, -2.0f, 2.0f, gen), y = square(x);
  optim::SGD sgd(model.network->parameters(), {.lr = 0.05f, .momentum = 0.9f});
  float first = 0, last = 0;
  for (int step = 0; step < 300; ++step) {
    sgd.zero_grad();
    Tensor loss = mse_loss((*model.network)(x), y);
    loss.backward();
    sgd.step();
    (step == 0 ? first : last) = loss.item();
  }
  std::printf("loss %.4f -> %.4f\n", first, last);
  if (!(last < 0.5f * first)) return 1;

  const std::string path = (std::filesystem::temp_directory_path() /
                            ("backprop_consumer_" + std::to_string(getpid()) + ".bp"))
                               .string();
  save_model(path, model);
  const Model loaded = load_model(path);
  std::filesystem::remove(path);
  const Tensor a = model.predict(x), b = loaded.predict(x);
  for (int64_t i = 0; i < a.numel(); ++i) {
    if (a.data()[i] != b.data()[i]) return 2;
  }

  try {
    (void)load_model(path);  // removed above
    return 3;
  } catch (const bp::Error& e) {
    std::printf("caught bp::Error: %s\n", e.what());
  }
  std::printf("consumer ok\n");
  return 0;
}
