// What several commands share: the model spec argument and its help, the model summary, and the
// options naming the data.
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

#include "backprop/backprop.hpp"
#include "backprop/train.hpp"
#include "cli/data_source.hpp"

namespace bp::cli {

// "--model SPEC" or "--model @file.json".
std::vector<nn::LayerSpec> parse_spec_argument(const std::string& text);

// The footer of the commands that take a model spec: its grammar and every layer.
// The schedule pieces, for train's --help.
std::string schedule_help();
std::string spec_help();

// The table of layers, output shapes and parameter counts, and the total.
void print_summary(const Model& model);

// A text model's loss in bits per character: nats / ln 2.
double bits_per_char(double nats);
// One line: a text model's loss in nats and bits per character, its next-character accuracy, and
// how many characters it was scored on (windows of seq_len), `unknown` of them outside its
// vocabulary.
void print_text_metrics(const char* set, const train::Metrics& m, int64_t seq_len, int64_t unknown);

// One line: a forecaster's mean absolute and root mean squared error over every forecast value of
// `raw` (samples before normalization), beside those of the naive forecast that repeats the last
// value of the target column (the last input column).
void print_forecast_metrics(const char* set, const Model& model, const data::Dataset& raw);

// --data, --csv-label, --csv-delimiter, --csv-header, --task, --window and --horizon, filling
// `data`.
void add_data_options(CLI::App& cmd, DataOptions& data);

}  // namespace bp::cli
