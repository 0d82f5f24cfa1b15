// ONNX export and import: a Model as an ONNX file (opset 17) that another runtime runs on the same
// raw inputs as Model::predict, and an ONNX file made of the operators that export writes as a
// Model. The mapping of each layer to ONNX operators, both ways, is listed in docs/onnx.md.
#pragma once

#include <string>

#include "backprop/export.hpp"
#include "backprop/model.hpp"

namespace bp::onnx {

// The opset of every exported file, and the newest that import reads.
inline constexpr int kOpset = 17;
// The oldest opset import reads.
inline constexpr int kMinImportOpset = 13;

// Writes `model` to `path` atomically as an ONNX model: one input "input" (batch, input_shape...),
// float, with a dynamic batch axis; the feature normalisation as its first nodes; the network in
// evaluation form (dropout as ONNX Dropout, the identity in inference; batch norm with its running
// statistics; attention and transformer blocks as calls of model-local functions of the domain
// "backprop", whose bodies are standard operators); one output "output" (batch, outputs) with the
// network's raw outputs (logits for a classifier, as predict's scores). The label names and the
// model's training record are metadata ("labels" as a JSON array, "backprop.info"). Throws
// bp::Error naming the first layer that has no ONNX form, or on I/O failure (nothing is left at
// `path`).
BP_API void export_model(const Model& model, const std::string& path);

// Reads an ONNX file whose graph is one chain of the operators in docs/onnx.md (and of calls of
// export_model's own local functions), from one float input (batch, sample...) to one output:
// what export_model writes (the same spec, parameters and normalisation back, bit for bit) and
// what other exporters such as PyTorch's write for the same layers. Opsets kMinImportOpset to
// kOpset. The label names, task and training record come from export's metadata when present
// (else: a classifier without label names). Throws bp::Error naming the path on a missing,
// truncated or non-ONNX file, another opset, several inputs or outputs, and naming the node and
// its operator on an operator, attribute or arrangement of nodes that has no layer form; nothing
// is approximated.
BP_API Model import_model(const std::string& path);

}  // namespace bp::onnx
