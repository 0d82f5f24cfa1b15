// Model specifications: a network written as text, e.g.
//   "flatten,dense(256),relu,dense(128),relu,dense(10)"
// or as JSON, and built into a Sequential once the input shape is known.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "backprop/export.hpp"
#include "backprop/nn.hpp"
#include "backprop/random.hpp"

namespace bp::nn {

// One argument: positional (key empty) or key=value.
struct BP_API LayerArg {
  std::string key;
  std::string value;
};

// One layer of a spec. `position` is 1-based (within its container, for an inner layer); `column`
// is the 1-based character offset in the text form (0 for the JSON form).
struct BP_API LayerSpec {
  std::string name;
  std::vector<LayerArg> args;
  size_t position = 0;
  size_t column = 0;
  std::vector<LayerSpec> inner;  // a container's layers, e.g. residual(dense(8),relu); else empty
};

// Containers nest at most this deep: residual(residual(relu)) nests 2 levels. The parsers refuse
// deeper specs before recursing, and take time linear in the length of the text.
inline constexpr size_t kMaxSpecNesting = 64;

// Parses the text form: layers separated by commas, each `name` or `name(arg, key=value, ...)`;
// a container's arguments are layers. Throws bp::Error naming the position, the column and the
// offending text on a syntax error, an unknown layer, a bad argument, or nesting deeper than
// kMaxSpecNesting.
BP_API std::vector<LayerSpec> parse_model_spec(const std::string& text);

// Parses the JSON form: an array (or {"layers": [...]}) of strings in the text form, or objects
// {"layer": "dense", "args": [256], "bias": false}. Throws bp::Error like parse_model_spec, and on
// invalid JSON or JSON nested deeper than io's limit (64 levels), checked before parsing.
BP_API std::vector<LayerSpec> parse_model_spec_json(const std::string& json);

// Largest JSON spec file read by read_model_spec_file.
inline constexpr uint64_t kMaxSpecFileBytes = uint64_t{16} << 20;

// Reads a JSON spec file (the command line's --model @FILE). Throws bp::Error naming the path when
// it is not a regular file, is larger than kMaxSpecFileBytes or cannot be read, and as
// parse_model_spec_json.
BP_API std::vector<LayerSpec> read_model_spec_file(const std::string& path);

// The canonical text form ("dense(256),relu"); parse_model_spec of it gives the same layers.
BP_API std::string to_string(const std::vector<LayerSpec>& layers);

// Builds the network for inputs of `input_shape` (without the batch dimension), drawing initial
// weights from `gen`. Throws bp::Error naming the layer when it does not fit its input shape, or
// when the network would need more than `max_parameters` parameters (negative: no limit; loaders
// pass what the file holds, so a spec read from a file never allocates more than the file backs).
BP_API std::shared_ptr<Sequential> build_model(const std::vector<LayerSpec>& layers,
                                               const Shape& input_shape, Generator& gen,
                                               int64_t max_parameters = -1);

// One line per layer kind: its spec syntax and what it does (for --help and the docs).
BP_API std::vector<std::string> layer_help();

}  // namespace bp::nn
