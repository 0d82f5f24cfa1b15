// The backprop command-line program.
#include <cstdio>

#include "backprop/backprop.hpp"

int main() {
  std::puts("backprop: work in progress");
  return 0;
}
