#include "cli/data_source.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>

#include "backprop/error.hpp"

namespace bp::cli {

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Without an error code, is_directory throws the library's own text for a name that is too long,
// say; any such failure just means "not a folder we can use".
bool is_folder(const std::string& path) {
  std::error_code ec;
  return std::filesystem::is_directory(path, ec);
}

bool is_csv(const std::string& source) {
  return ends_with(source, ".csv") || ends_with(source, ".tsv");
}

data::CsvOptions csv_options(const DataOptions& o) {
  data::CsvOptions c;
  BP_CHECK(o.csv_delimiter.size() == 1 || o.csv_delimiter == "\\t" || o.csv_delimiter == "tab",
           "--csv-delimiter must be one character (or 'tab'), got '{}'", o.csv_delimiter);
  c.delimiter = o.csv_delimiter.size() == 1 ? o.csv_delimiter[0] : '\t';
  if (ends_with(o.source, ".tsv") && o.csv_delimiter == ",") c.delimiter = '\t';
  if (o.csv_header == "yes")
    c.header = data::CsvHeader::yes;
  else if (o.csv_header == "no")
    c.header = data::CsvHeader::no;
  else if (o.csv_header == "auto")
    c.header = data::CsvHeader::autodetect;
  else
    fail("--csv-header must be yes, no or auto, got '{}'", o.csv_header);
  if (!o.csv_label.empty()) {
    bool numeric = o.csv_label.find_first_not_of("-0123456789") == std::string::npos;
    if (numeric) {
      const char* end = o.csv_label.data() + o.csv_label.size();
      const auto [ptr, ec] = std::from_chars(o.csv_label.data(), end, c.label_index);
      BP_CHECK(ec == std::errc() && ptr == end,
               "--csv-label: '{}' is neither a column index nor a column name", o.csv_label);
    } else {
      c.label_column = o.csv_label;
    }
  }
  if (o.task == "classification")
    c.task = data::Task::classification;
  else if (o.task == "regression")
    c.task = data::Task::regression;
  else
    fail("--task must be classification or regression, got '{}'", o.task);
  return c;
}

// The corpus cut into a training part (the first 1 - f) and a test part (the last f), each as
// windows of seq_len characters; the vocabulary is the training part's.
TrainTestData load_text(const DataOptions& o) {
  const double f = o.test_fraction > 0 ? o.test_fraction : 0.1;
  const int64_t len = o.seq_len > 0 ? o.seq_len : kDefaultSeqLen;
  const std::vector<uint32_t> text = data::read_text(o.source, token_kind(o.tokens));
  const auto n = static_cast<int64_t>(text.size());
  const auto n_test = static_cast<int64_t>(std::llround(f * static_cast<double>(n)));
  const std::span<const uint32_t> train(text.data(), static_cast<size_t>(n - n_test));
  const std::span<const uint32_t> test = std::span<const uint32_t>(text).subspan(train.size());
  BP_CHECK(len < static_cast<int64_t>(train.size()),
           "--seq-len {}: the training part of {} (the first {:g}% of its {} characters) is too "
           "short for one window and its targets; lower --seq-len",
           len, o.source, 100 * (1 - f), n);
  BP_CHECK(len < static_cast<int64_t>(test.size()),
           "--seq-len {}: the test part of {} (the last {:g}%, {} characters) is too short for one "
           "window and its targets; lower --seq-len or raise --test-fraction",
           len, o.source, 100 * f, test.size());
  TrainTestData d;
  d.vocabulary = data::Vocabulary::of(train, token_kind(o.tokens));
  const int64_t v = d.vocabulary->size();
  d.train = data::text_windows(d.vocabulary->ids(train), len, v);
  const std::vector<int64_t> test_ids = d.vocabulary->ids(test);
  d.test = data::text_windows(test_ids, len, v);
  d.test_unknown = std::count(test_ids.begin(), test_ids.end(), int64_t{0});
  return d;
}

// The CSV's columns as one (rows, columns) series, the target column last; a file of one column
// is the target alone.
Tensor read_series(const DataOptions& o) {
  data::CsvOptions c = csv_options(o);
  c.task = data::Task::regression;
  data::CsvOptions every_column = c;
  every_column.has_label = false;
  const data::Dataset columns = data::read_csv(o.source, every_column);
  if (columns.sample_numel() == 1) return columns.float_features().reshape({columns.size(), 1});
  const data::Dataset all = data::read_csv(o.source, c);
  const int64_t rows = all.size(), inputs = all.sample_numel();
  Tensor series = Tensor::empty({rows, inputs + 1});
  const Tensor x = all.float_features();
  for (int64_t r = 0; r < rows; ++r) {
    std::copy_n(x.data() + r * inputs, inputs, series.data() + r * (inputs + 1));
    series.data()[r * (inputs + 1) + inputs] = all.targets.data()[r];
  }
  return series;
}

// A time series cut into a training part (the first rows) and a test part (the last fraction of
// the rows), whose samples may look back into the training rows but whose targets lie in the test
// rows only.
TrainTestData load_series(const DataOptions& o) {
  const double f = o.test_fraction > 0 ? o.test_fraction : 0.2;
  const Tensor series = read_series(o);
  const int64_t rows = series.size(0), columns = series.size(1);
  const int64_t cut = rows - static_cast<int64_t>(std::llround(f * static_cast<double>(rows)));
  BP_CHECK(cut >= o.window + o.horizon && rows - cut >= o.horizon,
           "--window {} --horizon {}: {} has {} rows, {} for training and {} for testing; training "
           "needs at least {} and testing {}",
           o.window, o.horizon, o.source, rows, cut, rows - cut, o.window + o.horizon, o.horizon);
  TrainTestData d;
  const Tensor train_rows = Tensor::from_data(
      std::span<const float>(series.data(), static_cast<size_t>(cut * columns)), {cut, columns});
  d.train = data::forecast_windows(train_rows, columns - 1, o.window, o.horizon);
  d.test = data::forecast_windows(series, columns - 1, o.window, o.horizon, cut - o.window);
  d.raw_test = d.test;
  d.from_csv = true;
  d.forecast = Forecast{.window = o.window, .horizon = o.horizon, .target = o.csv_label};
  return d;
}

}  // namespace

data::Dataset load_forecast(const DataOptions& o) {
  const Tensor series = read_series(o);
  return data::forecast_windows(series, series.size(1) - 1, o.window, o.horizon);
}

DataOptions forecast_options(DataOptions o, const Forecast& f) {
  BP_CHECK(o.window == 0 || (o.window == f.window && o.horizon == f.horizon),
           "--window {} --horizon {}: the model forecasts {} values from windows of {} rows (leave "
           "both out to use them)",
           o.window, o.horizon, f.horizon, f.window);
  o.window = f.window;
  o.horizon = f.horizon;
  if (o.csv_label.empty()) o.csv_label = f.target;
  return o;
}

Tensor load_last_window(const DataOptions& o) {
  const Tensor series = read_series(o);
  const int64_t rows = series.size(0), columns = series.size(1);
  BP_CHECK(rows >= o.window, "--input: {} has {} rows, fewer than the model's window of {}",
           o.source, rows, o.window);
  const float* last = series.data() + (rows - o.window) * columns;
  return Tensor::from_data(std::span<const float>(last, static_cast<size_t>(o.window * columns)),
                           {1, o.window, columns});
}

data::TokenKind token_kind(const std::string& name) {
  if (name == "codepoints") return data::TokenKind::code_points;
  if (name == "bytes") return data::TokenKind::bytes;
  fail("--tokens must be codepoints or bytes, got '{}'", name);
}

bool is_text_source(const DataOptions& o) {
  return ends_with(o.source, ".txt") || (o.seq_len > 0 && o.source != "fashion-mnist" &&
                                         !is_csv(o.source) && !is_folder(o.source));
}

TextWindows load_text_eval(const std::string& path, const data::Vocabulary& vocabulary,
                           int64_t seq_len) {
  const std::vector<uint32_t> text = data::read_text(path, vocabulary.kind);
  BP_CHECK(seq_len < static_cast<int64_t>(text.size()),
           "--data: {} has {} characters, too few for one window of the model's {} and its "
           "targets",
           path, text.size(), seq_len);
  const std::vector<int64_t> ids = vocabulary.ids(text);
  return {.windows = data::text_windows(ids, seq_len, vocabulary.size()),
          .characters = static_cast<int64_t>(ids.size()),
          .unknown = std::count(ids.begin(), ids.end(), int64_t{0})};
}

TrainTestData load_train_test(const DataOptions& o) {
  TrainTestData d;
  BP_CHECK(o.seq_len == 0 || is_text_source(o),
           "--seq-len: '{}' is not a text corpus (the flag applies to a text file)", o.source);
  BP_CHECK(o.window == 0 || is_csv(o.source),
           "--window: '{}' is not a CSV file (a time series is one row per time step)", o.source);
  if (is_text_source(o)) {
    d = load_text(o);
  } else if (o.source == "fashion-mnist") {
    d.train = data::load_fashion_mnist(data::Split::train);
    d.test = data::load_fashion_mnist(data::Split::test);
  } else if (is_csv(o.source) && o.window > 0) {
    d = load_series(o);
  } else if (is_csv(o.source)) {
    const double f = o.test_fraction > 0 ? o.test_fraction : 0.2;
    BP_CHECK(f < 1, "--test-fraction must be between 0 and 1 (exclusive), got {}", f);
    data::Dataset all = data::read_csv(o.source, csv_options(o));
    std::vector<double> fractions{1 - f, f};
    auto parts = data::split(all, fractions, o.seed);
    d.train = std::move(parts[0]);
    d.test = std::move(parts[1]);
    d.from_csv = true;
  } else {
    BP_CHECK(is_folder(o.source),
             "--data: '{}' is neither 'fashion-mnist', a folder of IDX files nor a .csv file",
             o.source);
    d.train = data::load_mnist_dir(o.source, data::Split::train);
    d.test = data::load_mnist_dir(o.source, data::Split::test);
  }
  BP_CHECK(d.train.size() > 0, "--data: the training set is empty");
  return d;
}

data::Dataset load_eval(const DataOptions& o, const std::vector<std::string>& label_names) {
  if (o.source == "fashion-mnist") return data::load_fashion_mnist(data::Split::test);
  if (is_csv(o.source)) {
    data::CsvOptions c = csv_options(o);
    c.label_names = label_names;
    return data::read_csv(o.source, c);
  }
  BP_CHECK(is_folder(o.source),
           "--data: '{}' is neither 'fashion-mnist', a folder of IDX files nor a .csv file",
           o.source);
  // MNIST-style folders have 10 classes; other label names are a mismatch the caller reports.
  return data::load_mnist_dir(o.source, data::Split::test,
                              label_names.size() == 10 ? label_names : std::vector<std::string>{});
}

Tensor load_features(const std::string& path, int64_t columns, const DataOptions& o) {
  if (is_csv(path)) {
    // Every column a feature; with exactly one column too many, the label column is dropped.
    DataOptions copy = o;
    copy.source = path;
    copy.task = "regression";
    data::CsvOptions c = csv_options(copy);
    c.has_label = false;
    // A label column may hold names, not numbers: read it as a classification label to drop it.
    auto with_label = [&] {
      data::CsvOptions l = c;
      l.has_label = true;
      l.task = data::Task::classification;
      return data::read_csv(path, l);
    };
    data::Dataset d;
    try {
      d = data::read_csv(path, c);
    } catch (const Error& all_numeric) {
      // Not all columns are numbers: fine if the extra one is the label column. Otherwise the
      // first error stands (or the second, when it is about a feature column).
      d = with_label();
      if (d.sample_numel() != columns) throw all_numeric;
    }
    if (d.sample_numel() == columns + 1) d = with_label();
    BP_CHECK(d.sample_numel() == columns,
             "{}: rows have {} feature columns, the model needs {} (plus at most one label column)",
             path, d.sample_numel(), columns);
    return d.float_features();
  }
  data::IdxArray idx = data::read_idx(path);
  BP_CHECK(!idx.shape.empty() && idx.shape[0] > 0, "{}: no samples", path);
  const int64_t n = idx.shape[0];
  BP_CHECK(numel(idx.shape) / n == columns,
           "{}: samples of shape {} have {} values, the model needs {}", path,
           to_string(Shape(idx.shape.begin() + 1, idx.shape.end())), numel(idx.shape) / n, columns);
  Tensor t = Tensor::from_data(idx.values, {n, columns});
  // Byte images are stored 0..255; the models see them scaled to [0, 1], as in training.
  if (idx.type == data::IdxType::u8)
    for (float& v : t.values()) v /= 255.0f;
  return t;
}

}  // namespace bp::cli
