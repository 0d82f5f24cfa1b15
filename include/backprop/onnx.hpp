// ONNX export: a Model as an ONNX file (opset 17) that another runtime runs on the same raw inputs
// as Model::predict. The mapping of each layer to ONNX operators is listed in docs/onnx.md.
#pragma once

#include <string>

#include "backprop/export.hpp"
#include "backprop/model.hpp"

namespace bp::onnx {

// The opset of every exported file.
inline constexpr int kOpset = 17;

// Writes `model` to `path` atomically as an ONNX model: one input "input" (batch, input_shape...),
// float, with a dynamic batch axis; the feature normalisation as its first nodes; the network in
// evaluation form (dropout removed, batch norm with its running statistics); one output "output"
// (batch, outputs) with the network's raw outputs (logits for a classifier, as predict's
// scores). The label names and the model's training record are metadata ("labels" as a JSON
// array, "backprop.info"). Throws bp::Error naming the first layer that has no ONNX form, or on
// I/O failure (nothing is left at `path`).
BP_API void export_model(const Model& model, const std::string& path);

}  // namespace bp::onnx
