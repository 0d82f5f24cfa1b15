// Convolution and pooling layers in model specs.
#include "nn/spec_internal.hpp"

namespace bp::nn::spec {

void add_conv_layers(LayerTable&) {}

}  // namespace bp::nn::spec
