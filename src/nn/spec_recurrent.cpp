// Recurrent and attention layers in model specs.
#include "nn/spec_internal.hpp"

namespace bp::nn::spec {

void add_recurrent_layers(LayerTable&) {}

}  // namespace bp::nn::spec
