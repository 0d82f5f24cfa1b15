// How a training run stops on SIGINT or SIGTERM: the first signal only sets a flag, the trainer
// stops after the batch it is training, and the run saves what it has. A second one ends the
// process at once, by the default action of the signal.
#pragma once

#include <csignal>

namespace bp::cli {

// The first SIGINT or SIGTERM caught, or 0: for train::TrainOptions::interrupt.
const volatile std::sig_atomic_t* interrupt_signal();

// Catches SIGINT and SIGTERM from now on, but not where they are ignored (a shell script's
// background job ignores SIGINT): such a run must not stop on one.
void catch_interrupts();

}  // namespace bp::cli
