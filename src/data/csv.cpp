// CSV reader: numeric features plus one label column, with RFC-4180 quoting.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <map>
#include <unordered_map>

#include "backprop/data.hpp"
#include "backprop/error.hpp"
#include "data/file_util.hpp"

namespace bp::data {

namespace {

constexpr uint64_t kMaxCsvBytes = uint64_t{1} << 32;

struct Field {
  std::string text;
  int64_t line = 0;  // where the field starts (a quoted field may span lines)
  bool quoted = false;
};

// Splits text into records of fields. Quoted fields may contain the delimiter, "" (one quote)
// and line breaks; blank lines between records are skipped.
class Tokenizer {
 public:
  Tokenizer(std::string_view text, char delimiter, const std::string& name)
      : text_(text), delim_(delimiter), name_(name) {
    if (text_.starts_with("\xEF\xBB\xBF")) pos_ = 3;  // UTF-8 byte order mark
  }

  // Fills `fields` with the next record; false at the end of the text.
  bool next(std::vector<Field>& fields) {
    fields.clear();
    skip_blank_lines();
    if (pos_ >= text_.size()) return false;
    while (true) {
      Field f;
      f.line = line_;
      const int64_t column = static_cast<int64_t>(fields.size()) + 1;
      size_t start = pos_;
      while (start < text_.size() && (text_[start] == ' ' || text_[start] == '\t') &&
             text_[start] != delim_)
        ++start;
      if (start < text_.size() && text_[start] == '"') {
        pos_ = start + 1;
        read_quoted(f, column);
      } else {
        read_plain(f, column);
      }
      fields.push_back(std::move(f));
      if (pos_ >= text_.size()) return true;
      const char c = text_[pos_];
      if (c == delim_) {
        ++pos_;
        continue;
      }
      // read_* stop only at the delimiter, a line end or the end of the text.
      pos_ += c == '\r' ? 2 : 1;
      ++line_;
      return true;
    }
  }

  int64_t line() const { return line_; }

 private:
  bool at_line_end(size_t p) const {
    return p >= text_.size() || text_[p] == '\n' ||
           (text_[p] == '\r' && p + 1 < text_.size() && text_[p + 1] == '\n');
  }

  void skip_blank_lines() {
    while (pos_ < text_.size()) {
      size_t p = pos_;
      while (p < text_.size() && text_[p] == ' ' && text_[p] != delim_) ++p;
      if (p >= text_.size()) {
        pos_ = p;
        return;
      }
      if (!at_line_end(p)) return;
      pos_ = p + (text_[p] == '\r' ? 2 : 1);
      ++line_;
    }
  }

  void read_plain(Field& f, int64_t column) {
    const size_t start = pos_;
    while (pos_ < text_.size() && text_[pos_] != delim_ && !at_line_end(pos_)) {
      if (text_[pos_] == '"')
        fail_as<FormatError>(
            "read_csv: {}: line {}, column {}: a quote inside an unquoted field (quote the "
            "whole field and double the inner quotes)",
            name_, line_, column);
      ++pos_;
    }
    f.text.assign(text_.substr(start, pos_ - start));
  }

  void read_quoted(Field& f, int64_t column) {
    f.quoted = true;
    const int64_t open_line = line_;
    while (true) {
      if (pos_ >= text_.size())
        fail_as<FormatError>("read_csv: {}: line {}, column {}: the quoted field never closes",
                             name_, open_line, column);
      const char c = text_[pos_];
      if (c == '"') {
        if (pos_ + 1 < text_.size() && text_[pos_ + 1] == '"') {
          f.text.push_back('"');
          pos_ += 2;
          continue;
        }
        ++pos_;
        break;
      }
      if (c == '\n') ++line_;
      f.text.push_back(c);
      ++pos_;
    }
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t') &&
           text_[pos_] != delim_)
      ++pos_;
    if (pos_ < text_.size() && text_[pos_] != delim_ && !at_line_end(pos_))
      fail_as<FormatError>(
          "read_csv: {}: line {}, column {}: unexpected character after the closing quote", name_,
          line_, column);
  }

  std::string_view text_;
  char delim_;
  const std::string& name_;
  size_t pos_ = 0;
  int64_t line_ = 1;
};

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

enum class NumberStatus { ok, empty, not_a_number, not_finite, out_of_range };

NumberStatus parse_number(std::string_view text, float& value) {
  std::string_view s = trim(text);
  if (s.empty()) return NumberStatus::empty;
  if (s.front() == '+') s.remove_prefix(1);
  if (s.empty() || s.front() == '+' || s.front() == ' ') return NumberStatus::not_a_number;
  const char* first = s.data();
  const char* last = s.data() + s.size();
  auto [ptr, ec] = std::from_chars(first, last, value);
  if (ec == std::errc::result_out_of_range) {
    // Tiny values underflow to a subnormal or zero rather than failing.
    double d = 0.0;
    auto [ptr2, ec2] = std::from_chars(first, last, d);
    if (ec2 == std::errc{} && ptr2 == last && std::fabs(d) < std::numeric_limits<float>::min()) {
      value = static_cast<float>(d);
      return NumberStatus::ok;
    }
    return NumberStatus::out_of_range;
  }
  if (ec != std::errc{} || ptr != last) return NumberStatus::not_a_number;
  return std::isfinite(value) ? NumberStatus::ok : NumberStatus::not_finite;
}

std::string quote_for_message(std::string_view s) {
  std::string out = "'";
  for (char c : s.substr(0, 40)) {
    if (c == '\n')
      out += "\\n";
    else if (c == '\r')
      out += "\\r";
    else
      out += c;
  }
  if (s.size() > 40) out += "...";
  return out + "'";
}

float number_or_fail(const Field& f, int64_t column, const std::string& name, const char* what) {
  float v = 0.0f;
  switch (parse_number(f.text, v)) {
    case NumberStatus::ok:
      return v;
    case NumberStatus::empty:
      fail_as<FormatError>("read_csv: {}: line {}, column {}: empty {}", name, f.line, column,
                           what);
    case NumberStatus::not_a_number:
      fail_as<FormatError>("read_csv: {}: line {}, column {}: {} {} is not a number", name, f.line,
                           column, what, quote_for_message(f.text));
    case NumberStatus::not_finite:
      fail_as<FormatError>(
          "read_csv: {}: line {}, column {}: {} {} is not finite (NaN and inf are rejected)", name,
          f.line, column, what, quote_for_message(f.text));
    case NumberStatus::out_of_range:
      fail_as<FormatError>("read_csv: {}: line {}, column {}: {} {} is out of the float range",
                           name, f.line, column, what, quote_for_message(f.text));
  }
  fail_as<FormatError>("read_csv: unreachable");
}

// Offset of the first byte of `s` that does not belong to a well-formed UTF-8 sequence, or npos.
size_t invalid_utf8_at(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    const unsigned c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    // The sequence length and the range of the second byte (which excludes overlong forms,
    // surrogates and code points past U+10FFFF).
    size_t length = 0;
    unsigned low = 0x80, high = 0xBF;
    if (c >= 0xC2 && c <= 0xDF)
      length = 2;
    else if (c == 0xE0)
      length = 3, low = 0xA0;
    else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF)
      length = 3;
    else if (c == 0xED)
      length = 3, high = 0x9F;
    else if (c == 0xF0)
      length = 4, low = 0x90;
    else if (c >= 0xF1 && c <= 0xF3)
      length = 4;
    else if (c == 0xF4)
      length = 4, high = 0x8F;
    else
      return i;
    if (i + length > n || p[i + 1] < low || p[i + 1] > high) return i;
    for (size_t k = 2; k < length; ++k)
      if (p[i + k] < 0x80 || p[i + k] > 0xBF) return i;
    i += length;
  }
  return std::string_view::npos;
}

// Labels and column names become JSON strings in model files and reports: they must be text.
void check_utf8(const Field& f, std::string_view text, int64_t column, const std::string& name,
                const char* what) {
  const size_t at = invalid_utf8_at(text);
  if (at == std::string_view::npos) return;
  fail_as<FormatError>(
      "read_csv: {}: line {}, column {}: the {} is not valid UTF-8 (byte 0x{:02x} at offset {} "
      "of the field)",
      name, f.line, column, what, static_cast<unsigned char>(text[at]), at);
}

std::string label_text(const Field& f) {
  return f.quoted ? f.text : std::string(trim(f.text));
}

// Where the label and the features are, from the first record and the options.
struct Layout {
  int64_t columns = 0;
  int64_t label = -1;  // the label's column; -1: every column is a feature
  int64_t features = 0;
  bool header = false;  // the first record names the columns
};

void check_options(const CsvOptions& options, const std::string& name) {
  const char delim = options.delimiter;
  BP_CHECK_AS(ValueError, delim != '"' && delim != '\n' && delim != '\r' && delim != '\0',
              "read_csv: {}: the delimiter cannot be a quote, a line break or NUL", name);
  BP_CHECK_AS(ValueError, options.header != CsvHeader::no || options.label_column.empty(),
              "read_csv: {}: label_column '{}' needs a header row, but header is 'no'", name,
              options.label_column);
}

// The column named options.label_column in the header `first`.
int64_t label_column_named(const std::vector<Field>& first, const CsvOptions& options,
                           const std::string& name) {
  const auto ncols = static_cast<int64_t>(first.size());
  int64_t label = -1;
  for (int64_t c = 0; c < ncols; ++c)
    if (label_text(first[static_cast<size_t>(c)]) == options.label_column) label = c;
  if (label >= 0) return label;
  std::string columns;
  for (int64_t c = 0; c < ncols && c < 20; ++c)
    columns += (c ? ", " : "") + quote_for_message(label_text(first[static_cast<size_t>(c)]));
  fail_as<FormatError>("read_csv: {}: label column '{}' not found in the header (columns: {})",
                       name, options.label_column, columns);
}

// A header is detected when a column holds something other than a number, except a class label
// (a string label does not make a header).
bool looks_like_header(const std::vector<Field>& first, int64_t label, bool regression) {
  float v = 0.0f;
  bool header = false;
  for (size_t c = 0; c < first.size(); ++c) {
    if (static_cast<int64_t>(c) == label && !regression) continue;
    if (parse_number(first[c].text, v) != NumberStatus::ok) header = true;
  }
  return header;
}

// Resolves the label column, by name (which needs the header) or by index, and the header.
Layout read_layout(const std::vector<Field>& first, const CsvOptions& options,
                   const std::string& name) {
  Layout layout{.columns = static_cast<int64_t>(first.size()),
                .header = options.header == CsvHeader::yes};
  const int64_t ncols = layout.columns;
  if (options.has_label && !options.label_column.empty()) {
    layout.header = true;
    layout.label = label_column_named(first, options, name);
  } else if (options.has_label) {
    layout.label = options.label_index < 0 ? ncols + options.label_index : options.label_index;
    BP_CHECK_AS(FormatError, layout.label >= 0 && layout.label < ncols,
                "read_csv: {}: label column index {} is out of range for {} columns", name,
                options.label_index, ncols);
  }
  layout.features = options.has_label ? ncols - 1 : ncols;
  BP_CHECK_AS(FormatError, layout.features >= 1,
              "read_csv: {}: line {}: need a label column and at least one feature "
              "column, found {} column(s)",
              name, first[0].line, ncols);
  if (options.header == CsvHeader::autodetect && !layout.header)
    layout.header = looks_like_header(first, layout.label, options.task == Task::regression);
  if (layout.header)
    for (size_t c = 0; c < first.size(); ++c)
      check_utf8(first[c], first[c].text, static_cast<int64_t>(c) + 1, name, "column name");
  return layout;
}

// The values of the data rows, as the layout places them.
struct Columns {
  std::vector<float> features;
  std::vector<float> targets;           // regression
  std::vector<std::string> raw_labels;  // classification: the label texts
  std::vector<int64_t> label_lines;     // and where each was

  void take_row(const std::vector<Field>& row, const Layout& layout, bool regression,
                const std::string& name) {
    BP_CHECK_AS(FormatError, static_cast<int64_t>(row.size()) == layout.columns,
                "read_csv: {}: line {}: ragged row: expected {} fields, found {}", name,
                row[0].line, layout.columns, row.size());
    for (int64_t c = 0; c < layout.columns; ++c) {
      const Field& f = row[static_cast<size_t>(c)];
      if (c != layout.label) {
        features.push_back(number_or_fail(f, c + 1, name, "value"));
      } else if (regression) {
        targets.push_back(number_or_fail(f, c + 1, name, "target"));
      } else {
        std::string l = label_text(f);
        BP_CHECK_AS(FormatError, !l.empty(), "read_csv: {}: line {}, column {}: empty label", name,
                    f.line, c + 1);
        check_utf8(f, l, c + 1, name, "label");
        raw_labels.push_back(std::move(l));
        label_lines.push_back(f.line);
      }
    }
  }
};

// The distinct labels, sorted so that the mapping does not depend on row order: numerically when
// every label is a number (so 2 < 10), otherwise bytewise.
std::vector<std::string> sorted_label_names(const std::vector<std::string>& raw_labels) {
  std::vector<std::string> distinct = raw_labels;
  std::sort(distinct.begin(), distinct.end());
  distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
  std::vector<std::pair<float, std::string>> numeric;
  for (const std::string& s : distinct) {
    float v = 0.0f;
    if (parse_number(s, v) != NumberStatus::ok) return distinct;
    numeric.emplace_back(v, s);
  }
  std::sort(numeric.begin(), numeric.end());
  for (size_t i = 0; i < numeric.size(); ++i) distinct[i] = numeric[i].second;
  return distinct;
}

// Class indices of the labels: into options.label_names when given, else into the sorted
// distinct labels.
void set_labels(Dataset& ds, const Columns& columns, int64_t label, const CsvOptions& options,
                const std::string& name) {
  ds.label_names =
      options.label_names.empty() ? sorted_label_names(columns.raw_labels) : options.label_names;
  std::unordered_map<std::string, int64_t> index;
  for (size_t i = 0; i < ds.label_names.size(); ++i)
    index.emplace(ds.label_names[i], static_cast<int64_t>(i));
  ds.num_classes = static_cast<int64_t>(ds.label_names.size());
  ds.labels.resize(columns.raw_labels.size());
  for (size_t i = 0; i < columns.raw_labels.size(); ++i) {
    auto it = index.find(columns.raw_labels[i]);
    BP_CHECK_AS(FormatError, it != index.end(),
                "read_csv: {}: line {}, column {}: label {} is not one of the {} given label names",
                name, columns.label_lines[i], label + 1, quote_for_message(columns.raw_labels[i]),
                options.label_names.size());
    ds.labels[i] = it->second;
  }
}

}  // namespace

Dataset read_csv_string(std::string_view text, const CsvOptions& options, const std::string& name) {
  check_options(options, name);
  const bool regression = options.task == Task::regression;
  Tokenizer tok(text, options.delimiter, name);
  std::vector<Field> fields;
  BP_CHECK_AS(FormatError, tok.next(fields), "read_csv: {}: the file is empty", name);
  const Layout layout = read_layout(fields, options, name);
  Columns columns;
  if (!layout.header) columns.take_row(fields, layout, regression, name);
  while (tok.next(fields)) columns.take_row(fields, layout, regression, name);

  const auto n = !options.has_label
                     ? static_cast<int64_t>(columns.features.size()) / layout.features
                 : regression ? static_cast<int64_t>(columns.targets.size())
                              : static_cast<int64_t>(columns.raw_labels.size());
  BP_CHECK_AS(FormatError, n > 0, "read_csv: {}: no data rows{}", name,
              layout.header ? " after the header" : "");
  Dataset ds;
  ds.task = options.task;
  ds.feature_shape = {layout.features};
  ds.features = Tensor::from_data(columns.features, {n, layout.features});
  if (!options.has_label) return ds;
  if (regression)
    ds.targets = Tensor::from_data(columns.targets, {n, 1});
  else
    set_labels(ds, columns, layout.label, options, name);
  return ds;
}

Dataset read_csv(const std::string& path, const CsvOptions& options) {
  std::vector<uint8_t> bytes = detail::read_file_bytes(path, "read_csv", kMaxCsvBytes);
  std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  return read_csv_string(text, options, path);
}

}  // namespace bp::data
