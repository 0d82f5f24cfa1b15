// Data layer: reading IDX (MNIST-style) and CSV files into a Dataset, splitting it, normalising
// its features and serving it in batches.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "backprop/export.hpp"
#include "backprop/shape.hpp"
#include "backprop/tensor.hpp"

namespace bp::data {

// ---------------------------------------------------------------------------------------------
// Dataset
// ---------------------------------------------------------------------------------------------

enum class Task { classification, regression };

// N samples: features of shape (N, feature_shape...) and, depending on the task, N class indices
// (classification) or a (N, k) tensor of float targets (regression). Plain data; copies share the
// feature, byte and target storage (Tensor is a handle) and copy the label vectors.
//
// The features are held in one of two forms: `features`, float32; or `bytes`, one byte per value
// (IDX ubyte images: a quarter of the memory), decoded wherever they are used — by batches,
// subsets, normalisation — as  value j of a sample = byte * byte_scale[j] + byte_offset[j]  (one
// entry in byte_scale/byte_offset applies to every j). float_features() and copy_rows() read either
// form.
struct BP_API Dataset {
  Task task = Task::classification;
  Tensor features;      // (N, feature_shape...), float32; undefined with bytes
  Shape feature_shape;  // the shape of one sample
  std::shared_ptr<const std::vector<uint8_t>> bytes;       // N * sample_numel() codes, or null
  std::vector<float> byte_scale{1.0f}, byte_offset{0.0f};  // decoding of bytes: 1 or sample_numel()
  std::vector<int64_t> labels;           // classification: N * labels_per_sample indices
  int64_t labels_per_sample = 1;         // >1: one label per position of a sequence (sample i's at
                                         // [i * k, (i + 1) * k)), e.g. a next-token target per step
  Tensor targets;                        // regression: (N, k); undefined for classification
  int64_t num_classes = 0;               // classification only
  std::vector<std::string> label_names;  // empty, or one name per class

  // Number of samples (0 for a default-constructed Dataset).
  int64_t size() const;
  // Values per sample (the product of feature_shape).
  int64_t sample_numel() const;
  // Guarantees: returns when every field is consistent with the others (one feature form, shapes,
  // label range, name count). Throws: bp::Error naming the first inconsistency.
  void validate() const;
  // The features as a float32 (N, feature_shape...) tensor: `features` itself, or the bytes
  // decoded into a new tensor.
  Tensor float_features() const;
  // Requires: every row in [0, size()). Guarantees: writes the (decoded) values of samples
  // rows[0], rows[1], ... one after another to out (rows.size() * sample_numel() floats).
  // Throws: bp::Error on a bad row.
  void copy_rows(std::span<const int64_t> rows, float* out) const;
};

// Requires: every index in [0, dataset.size()). Guarantees: a new Dataset with those samples in
// that order (features copied), sharing the label names. Throws: bp::Error on a bad index.
BP_API Dataset subset(const Dataset& dataset, std::span<const int64_t> indices);

// Requires: 1..16 fractions, each in [0, 1], summing to 1 (within 1e-6).
// Guarantees: one Dataset per fraction, disjoint, together covering every sample once; part i
// has round(cumulative_i * N) - round(cumulative_{i-1} * N) samples, drawn by a shuffle that
// depends only on `seed` (e.g. {0.8, 0.1, 0.1} -> train, validation, test). Throws: bp::Error.
BP_API std::vector<Dataset> split(const Dataset& dataset, std::span<const double> fractions,
                                  uint64_t seed);

// ---------------------------------------------------------------------------------------------
// Normalisation
// ---------------------------------------------------------------------------------------------

enum class NormKind {
  none,         // y = x
  min_max,      // y = (x - min) / (max - min): the training set lands in [0, 1]
  standardize,  // y = (x - mean) / std: the training set gets mean 0 and std 1
};

// Feature normalisation fitted on a training set and applied unchanged to the others, so no
// statistic ever leaks from validation or test data. y = (x - offset[j]) / scale[j], where j runs
// over the values of one sample (per_feature) or is always 0 (one statistic for all values).
class BP_API Normalizer {
 public:
  Normalizer() = default;

  // Requires: a non-empty dataset with finite features; min_scale >= 0.
  // Guarantees: offsets/scales from `train` (min/range or mean/population std, accumulated in
  // double); a spread below min_scale gets scale 1, so constant features are only shifted and
  // never divided by ~0. Throws: bp::Error on an empty dataset or a bad min_scale.
  static Normalizer fit(const Dataset& train, NormKind kind, bool per_feature = true,
                        float min_scale = 1e-6f);
  // Rebuilds a normaliser from saved statistics. Requires: offset and scale of equal length, every
  // scale finite and > 0 (both empty for NormKind::none). Throws: bp::Error otherwise.
  static Normalizer from_stats(NormKind kind, std::vector<float> offset, std::vector<float> scale);

  NormKind kind() const { return kind_; }
  // The statistics as plain vectors (for saving into a model file); both empty for none.
  const std::vector<float>& offset() const { return offset_; }
  const std::vector<float>& scale() const { return scale_; }

  // Requires: features of shape (N, ...) whose per-sample size matches the fitted statistics.
  // Guarantees: a new tensor of the same shape; the input is untouched. Throws: bp::Error.
  Tensor transform(const Tensor& features) const;
  // Normalises the dataset's features: float features are replaced by transform(features); byte
  // features stay bytes, with the normalisation folded into their decoding (same values up to
  // float rounding). Throws: as transform.
  void apply(Dataset& dataset) const;

 private:
  NormKind kind_ = NormKind::none;
  std::vector<float> offset_;
  std::vector<float> scale_;
};

// ---------------------------------------------------------------------------------------------
// IDX files (the MNIST format)
// ---------------------------------------------------------------------------------------------

// IDX element type codes (the third magic byte).
enum class IdxType : uint8_t {
  u8 = 0x08,
  i8 = 0x09,
  i16 = 0x0B,
  i32 = 0x0C,
  f32 = 0x0D,
  f64 = 0x0E,
};

// Upper bound on the decompressed size of one IDX file (2 GiB); larger inputs are rejected.
inline constexpr uint64_t kMaxIdxBytes = uint64_t{1} << 31;

// The contents of an IDX file, converted to float (doubles are rounded; values beyond the float
// range become +-inf) — or, for a ubyte file read with IdxValues::bytes_if_u8, kept as bytes.
struct BP_API IdxArray {
  IdxType type = IdxType::u8;
  Shape shape;                 // one extent per dimension, in file order
  std::vector<float> values;   // numel(shape) values, row-major (empty when `bytes` holds them)
  std::vector<uint8_t> bytes;  // ubyte payload read with IdxValues::bytes_if_u8, else empty
};

enum class IdxValues { floats, bytes_if_u8 };

// Reads an IDX file, raw or gzip-compressed (detected by the 1f 8b magic).
// Requires: magic 00 00 <type> <rank> with a known type, big-endian u32 extents, and a payload of
// exactly numel * element size bytes. Throws: bp::Error naming the path, the problem and the byte
// offset (truncation, trailing bytes, size mismatch, corrupt gzip, over kMaxIdxBytes, I/O error).
BP_API IdxArray read_idx(const std::string& path, IdxValues values = IdxValues::floats);
// The same on bytes already in memory; `name` stands for the path in error messages.
BP_API IdxArray read_idx_bytes(std::span<const uint8_t> bytes, const std::string& name = "<memory>",
                               IdxValues values = IdxValues::floats);

// Loads an image file and a label file as a classification Dataset.
// Requires: images of rank >= 1 and labels of rank 1 with the same first extent, labels of an
// integer type and >= 0, images finite. Guarantees: u8 images stay bytes in the Dataset, decoded
// as byte / 255 (to [0, 1]); other types are kept as float32; rank-3 images (N, H, W) become (N, 1,
// H, W); num_classes = max label + 1 (or label_names.size(), which must then exceed every label).
// Throws: bp::Error naming the file.
BP_API Dataset load_idx_pair(const std::string& images_path, const std::string& labels_path,
                             std::vector<std::string> label_names = {});

// ---------------------------------------------------------------------------------------------
// MNIST / Fashion-MNIST folders
// ---------------------------------------------------------------------------------------------

enum class Split { train, test };

// Where Debian's dataset-fashion-mnist package puts the files.
inline constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

// "T-shirt/top", "Trouser", ..., "Ankle boot" (class index order).
BP_API const std::vector<std::string>& fashion_mnist_label_names();

// Loads {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz] from `dir` (the .gz file is preferred
// when both exist). Guarantees: images (N, 1, 28, 28) in [0, 1], labels in [0, 10), names "0".."9"
// unless `label_names` is given (10 names). Throws: bp::Error naming a missing file (and how to
// install the dataset) or any IDX error, or when the images are not 28x28 or the labels not < 10.
BP_API Dataset load_mnist_dir(const std::string& dir, Split split,
                              std::vector<std::string> label_names = {});
// load_mnist_dir with the Fashion-MNIST class names. Throws: as load_mnist_dir.
BP_API Dataset load_fashion_mnist(Split split, const std::string& dir = kFashionMnistDir);

// ---------------------------------------------------------------------------------------------
// CSV files
// ---------------------------------------------------------------------------------------------

enum class CsvHeader {
  no,
  yes,
  // The first row is a header when any of its fields, other than a string label, is not a number
  // (or when label_column names a column).
  autodetect,
};

struct BP_API CsvOptions {
  CsvHeader header = CsvHeader::autodetect;
  char delimiter = ',';
  // The label column by header name; when empty, label_index is used instead.
  std::string label_column;
  // The label column by 0-based index; negative counts from the end (-1 = last column).
  int64_t label_index = -1;
  Task task = Task::classification;
  // false: every column is a feature and the Dataset holds features only (no labels or targets),
  // as for data to predict from.
  bool has_label = true;
  // Classification with a fixed vocabulary: each label must be one of these and gets its position
  // as class index (use this to give a train and a test file the same mapping). When empty, the
  // distinct labels are sorted (numerically if all are numbers, else by bytes) and numbered
  // 0, 1, ... in that order; label_names keeps the labels as written.
  std::vector<std::string> label_names;
};

// Reads a CSV file: one sample per row, the label column as the target and every other column a
// numeric feature (features shape (N, columns - 1); regression targets (N, 1)).
// Supports RFC-4180 quotes (a quoted field may hold the delimiter, "" and line breaks), LF or
// CRLF line endings, surrounding blanks around numbers, and blank lines (skipped).
// Throws: bp::Error naming the path, line and column (1-based) for a non-numeric or non-finite
// (NaN/inf) value, a ragged row, a bad quote; and for an empty file, no data rows, no feature
// column, an unknown label column or label.
BP_API Dataset read_csv(const std::string& path, const CsvOptions& options = {});
// The same on text in memory; `name` stands for the path in error messages.
BP_API Dataset read_csv_string(std::string_view text, const CsvOptions& options = {},
                               const std::string& name = "<string>");

// ---------------------------------------------------------------------------------------------
// Text corpora
// ---------------------------------------------------------------------------------------------

// What a character is: a Unicode code point of UTF-8 text, or a byte of any file.
enum class TokenKind { code_points, bytes };

// Upper bound on the size of a text corpus (256 MiB): each character becomes 12 bytes of samples.
inline constexpr uint64_t kMaxTextBytes = uint64_t{1} << 28;

// The characters of a text as numbers. Code points: the text must be valid UTF-8 (no overlong
// forms, surrogates or values above U+10FFFF) without NUL bytes, which mark a binary file; bytes:
// any content. Throws: bp::Error naming `name`, the problem and its byte offset.
BP_API std::vector<uint32_t> text_symbols(std::string_view text, TokenKind kind,
                                          const std::string& name = "<string>");
// text_symbols of a whole file. Throws: bp::Error naming the path for a missing or unreadable
// file, one over kMaxTextBytes, an empty one, or as text_symbols.
BP_API std::vector<uint32_t> read_text(const std::string& path, TokenKind kind);
// The inverse of text_symbols: code points as UTF-8, or bytes as they are. Throws: bp::Error on a
// value that is not a code point (or, for bytes, above 255).
BP_API std::string symbols_text(std::span<const uint32_t> symbols, TokenKind kind);

// A character vocabulary: id 0 is the unknown token (a character the training text did not hold),
// ids 1, 2, ... the distinct symbols in increasing order.
struct BP_API Vocabulary {
  TokenKind kind = TokenKind::code_points;
  std::vector<uint32_t> symbols;  // strictly increasing

  // The vocabulary of `symbols` (those of a training text).
  static Vocabulary of(std::span<const uint32_t> symbols, TokenKind kind);
  // Ids including the unknown token: symbols.size() + 1.
  int64_t size() const { return static_cast<int64_t>(symbols.size()) + 1; }
  // The id of `symbol`, or 0 when it is not in the vocabulary.
  int64_t id(uint32_t symbol) const;
  // The ids of `symbols` (0 for each unknown one).
  std::vector<int64_t> ids(std::span<const uint32_t> symbols) const;
  // Requires: 1 <= id < size(). Throws: bp::Error otherwise (the unknown token has no symbol).
  uint32_t symbol(int64_t id) const;
  // Guarantees: returns when the symbols are strictly increasing and valid for the kind.
  // Throws: bp::Error naming the first bad symbol.
  void validate() const;
};

// The next-token samples of a tokenized text: sample i is the window ids[i*L, i*L + L) (as float
// ids, feature shape (L)) with labels ids[i*L + 1, i*L + L + 1), the next token at every position
// (labels_per_sample = L). Windows do not overlap; floor((n - 1) / L) of them, the tokens after
// the last whole window unused. Requires: seq_len > 0, every id in [0, vocab_size), and at least
// seq_len + 1 ids. Throws: bp::Error otherwise.
BP_API Dataset text_windows(std::span<const int64_t> ids, int64_t seq_len, int64_t vocab_size);

// ---------------------------------------------------------------------------------------------
// Time series
// ---------------------------------------------------------------------------------------------

// Forecasting samples of a series of T rows of C values (rows [first, T) of `series`, (T, C)):
// sample i's features are rows first+i .. first+i+window-1 (shape (window, C)), its regression
// targets the next `horizon` values of column `target` (rows first+i+window .. +horizon-1).
// T - first - window - horizon + 1 samples. Requires: window, horizon > 0, 0 <= target < C,
// 0 <= first, and at least window + horizon rows from `first` on. Throws: bp::Error otherwise.
BP_API Dataset forecast_windows(const Tensor& series, int64_t target, int64_t window,
                                int64_t horizon, int64_t first = 0);

// ---------------------------------------------------------------------------------------------
// Batches
// ---------------------------------------------------------------------------------------------

struct BP_API Batch {
  Tensor features;                // (B, feature_shape...)
  std::vector<int64_t> labels;    // classification: B * labels_per_sample class indices
  int64_t labels_per_sample = 1;  // as the dataset's
  Tensor targets;                 // regression: (B, k)
  std::vector<int64_t> indices;   // which samples of the dataset, in batch order
  int64_t size() const { return static_cast<int64_t>(indices.size()); }
};

struct BP_API LoaderOptions {
  int64_t batch_size = 32;
  bool shuffle = false;
  uint64_t seed = 0;
  bool drop_last = false;  // false: the last, smaller batch is kept
  // Image augmentation, for samples of shape (C, H, W) only, drawn per sample from
  // (seed, epoch, batch number) so that a resumed run sees the same images:
  // random_crop_padding > 0 pads each side with that many zeros and crops a random H×W window;
  // random_flip mirrors each image left-right with probability 1/2.
  int64_t random_crop_padding = 0;
  bool random_flip = false;
  // Data parallelism: each batch of batch_size samples (of m, for the last one) is cut into
  // shard_count contiguous parts, part i holding positions [⌊i·m/shard_count⌋,
  // ⌊(i+1)·m/shard_count⌋), and next() returns part shard_index only (empty when m < shard_count).
  // Every shard sees the same batches, augmented as they would be whole.
  int64_t shard_count = 1;
  int64_t shard_index = 0;
};

// A dataset that a DataLoader reads sample by sample: data generated on the fly, or read from files
// as the batches need them, instead of held in one tensor. A Dataset is one (DatasetSource). The
// loader may call the const functions from several threads at once (the Trainer fills the rows of
// a batch on several threads), so they must be safe to call concurrently; each must return the
// same values every time it is asked about the same index (a resumed run relies on it).
class BP_API SampleSource {
 public:
  virtual ~SampleSource() = default;
  // Number of samples.
  virtual int64_t size() const = 0;
  // The shape of one sample's features.
  virtual Shape feature_shape() const = 0;
  virtual Task task() const { return Task::classification; }
  // Classification: the number of classes; every label lies in [0, num_classes()).
  virtual int64_t num_classes() const { return 0; }
  // Regression: the number of values in one target.
  virtual int64_t target_size() const { return 0; }
  // Requires 0 <= index < size(). Writes sample `index`'s numel(feature_shape()) values to `out`.
  virtual void features(int64_t index, float* out) const = 0;
  // Classification: the class of sample `index`. The default throws bp::Error.
  virtual int64_t label(int64_t index) const;
  // Classification: labels per sample, more than 1 for one label per position of a sequence.
  virtual int64_t labels_per_sample() const { return 1; }
  // Writes sample `index`'s labels_per_sample() classes to `out`; the default writes label(index).
  virtual void labels(int64_t index, int64_t* out) const { *out = label(index); }
  // Regression: writes the target_size() values of sample `index`'s target to `out`. The default
  // throws bp::Error.
  virtual void target(int64_t index, float* out) const;
  // Writes the features of samples indices[0], indices[1], ... one after another to `out`. The
  // default calls features() once per index; override it where a batch is cheaper read at once.
  virtual void batch_features(std::span<const int64_t> indices, float* out) const;
};

// A Dataset in memory as a SampleSource: what a DataLoader made from a Dataset reads.
class BP_API DatasetSource : public SampleSource {
 public:
  // Throws bp::Error when the dataset is not valid (Dataset::validate).
  explicit DatasetSource(Dataset dataset);
  const Dataset& dataset() const { return dataset_; }

  int64_t size() const override { return dataset_.size(); }
  Shape feature_shape() const override { return dataset_.feature_shape; }
  Task task() const override { return dataset_.task; }
  int64_t num_classes() const override { return dataset_.num_classes; }
  int64_t target_size() const override;
  void features(int64_t index, float* out) const override;
  int64_t label(int64_t index) const override;
  int64_t labels_per_sample() const override { return dataset_.labels_per_sample; }
  void labels(int64_t index, int64_t* out) const override;
  void target(int64_t index, float* out) const override;
  void batch_features(std::span<const int64_t> indices, float* out) const override;

 private:
  Dataset dataset_;
};

// Serves a Dataset or any SampleSource in batches, epoch by epoch. With shuffle, epoch e's order
// depends only on (seed, e), so a run resumed at epoch e sees the same batches as one that never
// stopped.
//
//   DataLoader loader(train, {.batch_size = 64, .shuffle = true, .seed = 1});
//   Batch batch;
//   for (int64_t epoch = 0; epoch < epochs; ++epoch)
//     for (loader.start_epoch(epoch); loader.next(batch);) { ... }
class BP_API DataLoader {
 public:
  // Requires: a non-empty, valid dataset and batch_size > 0; augmentation only with (C, H, W)
  // samples, random_crop_padding >= 0 and 0 <= shard_index < shard_count. The loader keeps its
  // own handle on the features (shared, never modified: augmentation works on the batch) and a
  // copy of the labels.
  // Throws: bp::Error otherwise.
  DataLoader(Dataset dataset, LoaderOptions options);
  // The same for samples read from `source` (shared, not copied). Requires besides a non-null
  // source with size() > 0, num_classes() > 0 for classification and target_size() > 0 for
  // regression. A label outside [0, num_classes()) makes next() throw bp::Error naming the sample.
  DataLoader(std::shared_ptr<const SampleSource> source, LoaderOptions options);

  const SampleSource& source() const { return *source_; }
  // Samples per epoch (source().size()).
  int64_t size() const { return size_; }
  const LoaderOptions& options() const { return options_; }
  // Batches per epoch: ceil(N / B), or floor(N / B) with drop_last.
  int64_t num_batches() const;

  // Requires: epoch >= 0. Guarantees: the next call to next() returns the epoch's first batch;
  // the order is the identity without shuffle. Throws: bp::Error on a negative epoch.
  void start_epoch(int64_t epoch);
  // Guarantees: fills `batch` with the next batch of the current epoch and returns true, or
  // returns false at the end of the epoch. Buffers in `batch` are reused when nothing else holds
  // them, so keep a batch's tensors only by cloning them (or by holding a handle, which disables
  // the reuse). Throws: bp::Error on a label out of range, and whatever the source throws.
  bool next(Batch& batch);
  // The same batch without its features: batch.features gets its shape, and fill_features() then
  // writes them, in one call or in several over disjoint row ranges (from several threads at
  // once, e.g. each thread the rows it trains on). next(batch) is next_without_features(batch)
  // followed by fill_features(batch, 0, batch.size()).
  bool next_without_features(Batch& batch);
  // Requires: `batch` came from this loader's last next_without_features() and
  // 0 <= begin <= end <= batch.size(). Guarantees: rows [begin, end) of batch.features hold their
  // samples, decoded and augmented exactly as next() would. Throws: bp::Error on a bad range.
  void fill_features(Batch& batch, int64_t begin, int64_t end) const;
  // The sample order of the current epoch.
  const std::vector<int64_t>& order() const { return order_; }

 private:
  std::shared_ptr<const SampleSource> source_;
  // What the loader asks the source once: its size, one sample's shape and numel, its task.
  int64_t size_ = 0;
  Shape feature_shape_;
  int64_t sample_numel_ = 0;
  Task task_ = Task::classification;
  int64_t num_classes_ = 0, target_size_ = 0;
  LoaderOptions options_;
  std::vector<int64_t> order_;
  int64_t cursor_ = 0;
  int64_t epoch_ = 0;
  int64_t batch_number_ = 0;  // within the epoch, for the augmentation seed
  // Of the last batch: its augmentation seed and its first sample's position in the whole batch
  // (the shards before this rank's).
  uint64_t augment_seed_ = 0;
  int64_t shard_first_ = 0;
};

}  // namespace bp::data
