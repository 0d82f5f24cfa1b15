// How the command line names data: "fashion-mnist", a folder of IDX files, a CSV file, or a text
// corpus.
#pragma once

#include <optional>
#include <string>

#include "backprop/data.hpp"
#include "backprop/model.hpp"

namespace bp::cli {

struct DataOptions {
  std::string source = "fashion-mnist";
  std::string csv_label;  // column name or index; empty: the last column
  std::string csv_delimiter = ",";
  std::string csv_header = "auto";  // yes, no, auto
  std::string task = "classification";
  double test_fraction = 0;           // held out as the test set; 0: 0.2 of a CSV, 0.1 of a text
  int64_t seq_len = 0;                // text: characters per window; 0: not given (kDefaultSeqLen)
  std::string tokens = "codepoints";  // text: codepoints (UTF-8) or bytes
  int64_t window = 0;                 // CSV time series: past rows per sample; 0: not a series
  int64_t horizon = 1;                // CSV time series: future values of the target per sample
  uint64_t seed = 1;
};

inline constexpr int64_t kDefaultSeqLen = 64;

struct TrainTestData {
  data::Dataset train;
  data::Dataset test;
  bool from_csv = false;
  std::optional<data::Vocabulary> vocabulary;  // a text corpus: the training part's characters
  int64_t test_unknown = 0;                    // text: test characters outside the vocabulary
  data::Dataset raw_test;            // a time series: the test samples before normalization
  std::optional<Forecast> forecast;  // a time series: its windows and target column
};

// True when options.source is read as a text corpus: a .txt file, or any file with --seq-len.
bool is_text_source(const DataOptions& options);

// A text corpus as windows of a text model's vocabulary and length (for eval), and how many of
// its characters the vocabulary lacks (they become the unknown token). Throws bp::Error.
struct TextWindows {
  data::Dataset windows;
  int64_t characters = 0;
  int64_t unknown = 0;
};
TextWindows load_text_eval(const std::string& path, const data::Vocabulary& vocabulary,
                           int64_t seq_len);

// The flag's spelling of a token kind, and back. Throws bp::Error on an unknown name.
data::TokenKind token_kind(const std::string& name);

// Loads the train and test sets named by options.source. Throws bp::Error with a clear message.
TrainTestData load_train_test(const DataOptions& options);

// A whole CSV time series (options.window > 0) as forecasting samples: the other columns and the
// target column (--csv-label, default the last) as inputs, the target's next values as targets.
// Throws bp::Error.
data::Dataset load_forecast(const DataOptions& options);

// `options` with a forecaster's own window, horizon and target column where the command line
// leaves them out (no --window; no --csv-label). Throws bp::Error when a given --window or
// --horizon differs from the model's.
DataOptions forecast_options(DataOptions options, const Forecast& forecast);

// The last options.window rows of a CSV time series as one sample (1, window, columns): what a
// forecaster predicts the next values from. Throws bp::Error when the series is shorter.
Tensor load_last_window(const DataOptions& options);

// Loads data to evaluate a model on: the test split of an IDX source, or a whole CSV file read with
// the model's label names. Throws bp::Error.
data::Dataset load_eval(const DataOptions& options, const std::vector<std::string>& label_names);

// Reads features to predict from: an IDX images file or a CSV file with `columns` numeric
// columns (plus a label column, ignored, when there is one more). Throws bp::Error.
Tensor load_features(const std::string& path, int64_t columns, const DataOptions& options);

}  // namespace bp::cli
