// Umbrella header: everything in the public API.
#pragma once

#include "backprop/autograd.hpp"
#include "backprop/error.hpp"
#include "backprop/gradcheck.hpp"
#include "backprop/init.hpp"
#include "backprop/nn.hpp"
#include "backprop/ops.hpp"
#include "backprop/optim.hpp"
#include "backprop/random.hpp"
#include "backprop/shape.hpp"
#include "backprop/tensor.hpp"
