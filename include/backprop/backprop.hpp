// Umbrella header: everything in the public API.
#pragma once

#include "backprop/autograd.hpp"
#include "backprop/conv.hpp"
#include "backprop/data.hpp"
#include "backprop/error.hpp"
#include "backprop/gradcheck.hpp"
#include "backprop/init.hpp"
#include "backprop/io.hpp"
#include "backprop/model.hpp"
#include "backprop/nn.hpp"
#include "backprop/ops.hpp"
#include "backprop/optim.hpp"
#include "backprop/random.hpp"
#include "backprop/recurrent.hpp"
#include "backprop/shape.hpp"
#include "backprop/spec.hpp"
#include "backprop/tensor.hpp"
