// Trains an MLP on Fashion-MNIST with one process, or data-parallel with several:
//   ./data_parallel                 one process, batch 128
//   mpirun -np 2 ./data_parallel    two ranks, 64 samples each per update (the same training)
#include <cstdio>

#include "backprop/backprop.hpp"

int main() {
  using namespace bp;
  distributed::Communicator& world = distributed::Communicator::world();
  try {
    data::Dataset train = data::load_fashion_mnist(data::Split::train);
    data::Dataset test = data::load_fashion_mnist(data::Split::test);
    Generator gen(1);  // rank 0's initial weights are broadcast to the others anyway
    Model model = Model::create(nn::parse_model_spec("flatten,dense(256),relu,dense(10)"),
                                train.feature_shape, gen);
    optim::SGD sgd(model.network->parameters(), {.lr = 0.05f, .momentum = 0.9f});
    train::Trainer trainer(*model.network, sgd,
                           {.epochs = 2, .batch_size = 128 / world.size(), .communicator = &world});
    if (world.rank() == 0) trainer.add_callback(std::make_shared<train::ProgressPrinter>());
    trainer.fit(train, {{"test", &test}});
    if (world.rank() == 0) save_model("data_parallel.bp", model);
  } catch (const std::exception& e) {
    if (world.size() > 1) world.abort(e.what());  // "error: rank R: ..." and MPI_Abort
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
