#include "cli/interrupt.hpp"

#include <signal.h>

#include <initializer_list>

namespace bp::cli {

namespace {

volatile std::sig_atomic_t g_interrupt = 0;

extern "C" void on_interrupt(int sig) {
  if (g_interrupt != 0) {
    std::signal(sig, SIG_DFL);
    std::raise(sig);
    return;
  }
  g_interrupt = sig;
}

}  // namespace

const volatile std::sig_atomic_t* interrupt_signal() {
  return &g_interrupt;
}

void catch_interrupts() {
  struct sigaction action {};
  action.sa_handler = on_interrupt;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  for (int sig : {SIGINT, SIGTERM}) {
    struct sigaction old {};
    if (::sigaction(sig, nullptr, &old) == 0 && old.sa_handler == SIG_IGN) continue;
    ::sigaction(sig, &action, nullptr);
  }
}

}  // namespace bp::cli
