// Normalisation, dropout and embedding layers in model specs.
#include "nn/spec_internal.hpp"

namespace bp::nn::spec {

void add_norm_layers(LayerTable&) {}

}  // namespace bp::nn::spec
