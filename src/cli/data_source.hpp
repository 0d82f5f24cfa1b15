// How the command line names data: "fashion-mnist", a folder of IDX files, or a CSV file.
#pragma once

#include <string>

#include "backprop/data.hpp"

namespace bp::cli {

struct DataOptions {
  std::string source = "fashion-mnist";
  std::string csv_label;  // column name or index; empty: the last column
  std::string csv_delimiter = ",";
  std::string csv_header = "auto";  // yes, no, auto
  std::string task = "classification";
  double test_fraction = 0.2;  // CSV only: held out as the test set
  uint64_t seed = 1;
};

struct TrainTestData {
  data::Dataset train;
  data::Dataset test;
  bool from_csv = false;
};

// Loads the train and test sets named by options.source. Throws bp::Error with a clear message.
TrainTestData load_train_test(const DataOptions& options);

// Loads data to evaluate a model on: the test split of an IDX source, or a whole CSV file read with
// the model's label names. Throws bp::Error.
data::Dataset load_eval(const DataOptions& options, const std::vector<std::string>& label_names);

// Reads features to predict from: an IDX images file or a CSV file with `columns` numeric
// columns (plus a label column, ignored, when there is one more). Throws bp::Error.
Tensor load_features(const std::string& path, int64_t columns, const DataOptions& options);

}  // namespace bp::cli
