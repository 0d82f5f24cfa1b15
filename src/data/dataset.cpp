// Dataset consistency, subsets, seeded splits and feature normalisation.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "backprop/data.hpp"
#include "backprop/error.hpp"

namespace bp::data {

int64_t Dataset::size() const {
  if (bytes) {
    const int64_t row = sample_numel();
    return row > 0 ? static_cast<int64_t>(bytes->size()) / row : 0;
  }
  return features.defined() ? features.size(0) : 0;
}

int64_t Dataset::sample_numel() const {
  return bp::numel(feature_shape);
}

namespace {

// Decodes `rows` samples of `row` bytes each: out[i] = src[i] * scale[j] + offset[j].
void decode_bytes(const uint8_t* src, int64_t rows, int64_t row, const std::vector<float>& scale,
                  const std::vector<float>& offset, float* out) {
  if (scale.size() == 1) {
    const float s = scale[0], o = offset[0];
    const int64_t total = rows * row;
    for (int64_t i = 0; i < total; ++i) out[i] = static_cast<float>(src[i]) * s + o;
    return;
  }
  for (int64_t r = 0; r < rows; ++r, src += row, out += row)
    for (int64_t j = 0; j < row; ++j)
      out[j] = static_cast<float>(src[j]) * scale[static_cast<size_t>(j)] +
               offset[static_cast<size_t>(j)];
}

// Calls fn(x, first, count) for consecutive blocks of samples, x holding `count` decoded samples
// from sample `first` on: the float features directly, bytes through a bounded buffer.
template <class Fn>
void for_each_block(const Dataset& ds, Fn fn) {
  const int64_t n = ds.size(), row = ds.sample_numel();
  if (!ds.bytes) {
    if (n > 0) fn(ds.features.data(), int64_t{0}, n);
    return;
  }
  const int64_t block = std::max<int64_t>(1, (int64_t{1} << 16) / std::max<int64_t>(row, 1));
  std::vector<float> buffer(static_cast<size_t>(std::min(block, n) * row));
  for (int64_t first = 0; first < n; first += block) {
    const int64_t count = std::min(block, n - first);
    decode_bytes(ds.bytes->data() + first * row, count, row, ds.byte_scale, ds.byte_offset,
                 buffer.data());
    fn(static_cast<const float*>(buffer.data()), first, count);
  }
}

}  // namespace

void Dataset::validate() const {
  int64_t n = 0;
  if (bytes) {
    BP_CHECK(!features.defined(), "Dataset: features are given both as floats and as bytes");
    const int64_t row = sample_numel();
    BP_CHECK(row > 0, "Dataset: byte features need samples of at least one value, got shape {}",
             bp::to_string(feature_shape));
    BP_CHECK(static_cast<int64_t>(bytes->size()) % row == 0,
             "Dataset: {} feature bytes are not a whole number of samples of {} values",
             bytes->size(), row);
    BP_CHECK(byte_scale.size() == byte_offset.size() &&
                 (byte_scale.size() == 1 || static_cast<int64_t>(byte_scale.size()) == row),
             "Dataset: byte decoding needs 1 or {} scales and as many offsets, got {} and {}", row,
             byte_scale.size(), byte_offset.size());
    for (size_t j = 0; j < byte_scale.size(); ++j)
      BP_CHECK(std::isfinite(byte_scale[j]) && std::isfinite(byte_offset[j]),
               "Dataset: byte decoding {} is not finite (scale {}, offset {})", j, byte_scale[j],
               byte_offset[j]);
    n = size();
  } else {
    BP_CHECK(features.defined(), "Dataset: features are undefined");
    BP_CHECK(features.dim() >= 1, "Dataset: features must have a sample axis, got shape {}",
             bp::to_string(features.shape()));
    const Shape& fs = features.shape();
    Shape per_sample(fs.begin() + 1, fs.end());
    BP_CHECK(per_sample == feature_shape,
             "Dataset: feature_shape {} does not match features of shape {}",
             bp::to_string(feature_shape), bp::to_string(fs));
    n = fs[0];
  }
  if (task == Task::classification) {
    BP_CHECK(labels_per_sample >= 1, "Dataset: labels_per_sample must be positive, got {}",
             labels_per_sample);
    BP_CHECK(static_cast<int64_t>(labels.size()) == n * labels_per_sample,
             "Dataset: {} labels for {} samples of {} label(s) each", labels.size(), n,
             labels_per_sample);
    BP_CHECK(num_classes > 0 || n == 0, "Dataset: num_classes must be positive, got {}",
             num_classes);
    BP_CHECK(label_names.empty() || static_cast<int64_t>(label_names.size()) == num_classes,
             "Dataset: {} label names for {} classes", label_names.size(), num_classes);
    for (size_t i = 0; i < labels.size(); ++i)
      BP_CHECK(labels[i] >= 0 && labels[i] < num_classes,
               "Dataset: label {} of sample {} is outside [0, {})", labels[i], i, num_classes);
  } else {
    BP_CHECK(targets.defined() && targets.dim() == 2 && targets.size(0) == n,
             "Dataset: regression targets must have shape ({}, k), got {}", n,
             targets.defined() ? bp::to_string(targets.shape()) : std::string("undefined"));
  }
}

Tensor Dataset::float_features() const {
  if (!bytes) return features;
  Shape shape = feature_shape;
  shape.insert(shape.begin(), size());
  Tensor out = Tensor::empty(shape);
  const int64_t row = sample_numel();
  for_each_block(*this, [&](const float* x, int64_t first, int64_t count) {
    std::memcpy(out.data() + first * row, x, static_cast<size_t>(count * row) * sizeof(float));
  });
  return out;
}

void Dataset::copy_rows(std::span<const int64_t> rows, float* out) const {
  const int64_t n = size(), row = sample_numel();
  if (row == 0) return;
  for (size_t i = 0; i < rows.size(); ++i, out += row) {
    BP_CHECK(rows[i] >= 0 && rows[i] < n, "Dataset: sample {} is outside [0, {})", rows[i], n);
    if (bytes)
      decode_bytes(bytes->data() + rows[i] * row, 1, row, byte_scale, byte_offset, out);
    else
      std::memcpy(out, features.data() + rows[i] * row, static_cast<size_t>(row) * sizeof(float));
  }
}

namespace {

// Copies rows `indices` of n rows of `row` elements each from src to dst, one after another.
template <class T>
void copy_indexed_rows(const T* src, int64_t n, int64_t row, std::span<const int64_t> indices,
                       T* dst) {
  for (size_t i = 0; i < indices.size(); ++i) {
    BP_CHECK(indices[i] >= 0 && indices[i] < n, "data::subset: index {} is outside [0, {})",
             indices[i], n);
    if (row > 0)
      std::memcpy(dst + static_cast<int64_t>(i) * row, src + indices[i] * row,
                  static_cast<size_t>(row) * sizeof(T));
  }
}

// Copies rows `indices` of a (N, ...) tensor into a new (indices.size(), ...) tensor.
Tensor gather_rows(const Tensor& src, std::span<const int64_t> indices) {
  Shape shape = src.shape();
  const int64_t n = shape[0];
  const int64_t row = n > 0 ? src.numel() / n : bp::numel(Shape(shape.begin() + 1, shape.end()));
  shape[0] = static_cast<int64_t>(indices.size());
  Tensor out = Tensor::empty(shape);
  copy_indexed_rows(src.data(), n, row, indices, out.data());
  return out;
}

}  // namespace

Dataset subset(const Dataset& dataset, std::span<const int64_t> indices) {
  dataset.validate();
  Dataset out;
  out.task = dataset.task;
  out.feature_shape = dataset.feature_shape;
  out.num_classes = dataset.num_classes;
  out.label_names = dataset.label_names;
  if (dataset.bytes) {
    const int64_t row = dataset.sample_numel();
    auto bytes = std::make_shared<std::vector<uint8_t>>(indices.size() * static_cast<size_t>(row));
    copy_indexed_rows(dataset.bytes->data(), dataset.size(), row, indices, bytes->data());
    out.bytes = std::move(bytes);
    out.byte_scale = dataset.byte_scale;
    out.byte_offset = dataset.byte_offset;
  } else {
    out.features = gather_rows(dataset.features, indices);
  }
  if (dataset.task == Task::classification) {
    const int64_t k = dataset.labels_per_sample;
    out.labels_per_sample = k;
    out.labels.reserve(indices.size() * static_cast<size_t>(k));
    for (int64_t i : indices)
      out.labels.insert(out.labels.end(), dataset.labels.begin() + i * k,
                        dataset.labels.begin() + (i + 1) * k);
  } else {
    out.targets = gather_rows(dataset.targets, indices);
  }
  return out;
}

std::vector<Dataset> split(const Dataset& dataset, std::span<const double> fractions,
                           uint64_t seed) {
  BP_CHECK(!fractions.empty() && fractions.size() <= 16,
           "data::split: expected 1 to 16 fractions, got {}", fractions.size());
  double total = 0.0;
  for (double f : fractions) {
    BP_CHECK(std::isfinite(f) && f >= 0.0 && f <= 1.0,
             "data::split: each fraction must be in [0, 1], got {}", f);
    total += f;
  }
  BP_CHECK(std::fabs(total - 1.0) <= 1e-6, "data::split: fractions must sum to 1, got {}", total);
  dataset.validate();

  const int64_t n = dataset.size();
  std::vector<int64_t> order(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) order[static_cast<size_t>(i)] = i;
  Generator gen(seed);
  for (int64_t i = n - 1; i > 0; --i) {
    auto j = static_cast<int64_t>(gen.below(static_cast<uint64_t>(i + 1)));
    std::swap(order[static_cast<size_t>(i)], order[static_cast<size_t>(j)]);
  }

  std::vector<Dataset> parts;
  double cumulative = 0.0;
  int64_t begin = 0;
  for (size_t p = 0; p < fractions.size(); ++p) {
    cumulative += fractions[p];
    int64_t end =
        p + 1 == fractions.size()
            ? n
            : std::clamp<int64_t>(std::llround(cumulative * static_cast<double>(n)), begin, n);
    parts.push_back(subset(
        dataset, std::span<const int64_t>(order.data() + begin, static_cast<size_t>(end - begin))));
    begin = end;
  }
  return parts;
}

// ---- Normalizer ----

namespace {

// Throws naming the first feature of `train` that is not finite.
void check_finite_features(const Dataset& train) {
  const int64_t row = train.sample_numel();
  for_each_block(train, [&](const float* x, int64_t first, int64_t count) {
    for (int64_t i = 0; i < count * row; ++i)
      BP_CHECK(std::isfinite(x[i]), "Normalizer::fit: feature {} of sample {} is not finite ({})",
               i % row, first + i / row, x[i]);
  });
}

// A normalizer's statistics before they become floats: each feature's (or, not per feature, all
// features') offset and spread.
struct Stats {
  std::vector<double> offset, spread;
};

// Which statistic the i-th value of a block of samples of `row` features counts towards.
struct StatIndex {
  int64_t row;
  bool per_feature;
  size_t operator()(int64_t i) const { return static_cast<size_t>(per_feature ? i % row : 0); }
};

// Offset: the minimum; spread: the range.
Stats min_and_range(const Dataset& train, StatIndex stat, size_t count_stats) {
  Stats s{std::vector<double>(count_stats, std::numeric_limits<double>::infinity()),
          std::vector<double>(count_stats, -std::numeric_limits<double>::infinity())};
  for_each_block(train, [&](const float* x, int64_t, int64_t count) {
    for (int64_t i = 0; i < count * stat.row; ++i) {
      s.offset[stat(i)] = std::min(s.offset[stat(i)], static_cast<double>(x[i]));
      s.spread[stat(i)] = std::max(s.spread[stat(i)], static_cast<double>(x[i]));
    }
  });
  for (size_t j = 0; j < count_stats; ++j) s.spread[j] -= s.offset[j];
  return s;
}

// Offset: the mean; spread: the population standard deviation. Two passes (mean, then squared
// deviations) keep the variance accurate.
Stats mean_and_std(const Dataset& train, StatIndex stat, size_t count_stats) {
  Stats s{std::vector<double>(count_stats), std::vector<double>(count_stats)};
  const double count_per_stat =
      static_cast<double>(train.size() * stat.row / static_cast<int64_t>(count_stats));
  for_each_block(train, [&](const float* x, int64_t, int64_t count) {
    for (int64_t i = 0; i < count * stat.row; ++i) s.offset[stat(i)] += x[i];
  });
  for (double& m : s.offset) m /= count_per_stat;
  for_each_block(train, [&](const float* x, int64_t, int64_t count) {
    for (int64_t i = 0; i < count * stat.row; ++i) {
      const double d = x[i] - s.offset[stat(i)];
      s.spread[stat(i)] += d * d;
    }
  });
  for (double& v : s.spread) v = std::sqrt(v / count_per_stat);
  return s;
}

}  // namespace

Normalizer Normalizer::fit(const Dataset& train, NormKind kind, bool per_feature, float min_scale) {
  BP_CHECK(std::isfinite(min_scale) && min_scale >= 0.0f,
           "Normalizer::fit: min_scale must be finite and >= 0, got {}", min_scale);
  Normalizer norm;
  norm.kind_ = kind;
  if (kind == NormKind::none) return norm;
  train.validate();
  const int64_t n = train.size();
  const int64_t row = train.sample_numel();
  BP_CHECK(n > 0 && row > 0, "Normalizer::fit: the training set is empty");
  check_finite_features(train);
  const StatIndex stat{row, per_feature};
  const auto count_stats = static_cast<size_t>(per_feature ? row : 1);
  const Stats s = kind == NormKind::min_max ? min_and_range(train, stat, count_stats)
                                            : mean_and_std(train, stat, count_stats);
  norm.offset_.resize(count_stats);
  norm.scale_.resize(count_stats);
  for (size_t j = 0; j < count_stats; ++j) {
    norm.offset_[j] = static_cast<float>(s.offset[j]);
    auto spread = static_cast<float>(s.spread[j]);
    norm.scale_[j] = spread >= min_scale && spread > 0.0f && std::isfinite(spread) ? spread : 1.0f;
  }
  return norm;
}

Normalizer Normalizer::from_stats(NormKind kind, std::vector<float> offset,
                                  std::vector<float> scale) {
  BP_CHECK(offset.size() == scale.size(), "Normalizer::from_stats: {} offsets but {} scales",
           offset.size(), scale.size());
  if (kind == NormKind::none)
    BP_CHECK(offset.empty(), "Normalizer::from_stats: kind none takes no statistics, got {}",
             offset.size());
  else
    BP_CHECK(!offset.empty(), "Normalizer::from_stats: no statistics given");
  for (size_t j = 0; j < scale.size(); ++j) {
    BP_CHECK(std::isfinite(offset[j]), "Normalizer::from_stats: offset {} is not finite ({})", j,
             offset[j]);
    BP_CHECK(std::isfinite(scale[j]) && scale[j] > 0.0f,
             "Normalizer::from_stats: scale {} must be finite and > 0, got {}", j, scale[j]);
  }
  Normalizer norm;
  norm.kind_ = kind;
  norm.offset_ = std::move(offset);
  norm.scale_ = std::move(scale);
  return norm;
}

Tensor Normalizer::transform(const Tensor& features) const {
  BP_CHECK(features.defined() && features.dim() >= 1,
           "Normalizer::transform: expected features of shape (N, ...)");
  Tensor out = features.detach().clone();
  if (kind_ == NormKind::none) return out;
  const int64_t n = features.size(0);
  const int64_t total = out.numel();
  const int64_t row =
      n > 0 ? total / n : bp::numel(Shape(features.shape().begin() + 1, features.shape().end()));
  const auto stats = static_cast<int64_t>(offset_.size());
  BP_CHECK(stats == 1 || stats == row,
           "Normalizer::transform: fitted on {} values per sample, features {} have {}", stats,
           bp::to_string(features.shape()), row);
  float* y = out.data();
  for (int64_t i = 0; i < total; ++i) {
    auto j = static_cast<size_t>(stats == 1 ? 0 : i % row);
    y[i] = (y[i] - offset_[j]) / scale_[j];
  }
  return out;
}

void Normalizer::apply(Dataset& dataset) const {
  if (!dataset.bytes) {
    dataset.features = transform(dataset.features);
    return;
  }
  if (kind_ == NormKind::none) return;
  dataset.validate();
  const int64_t row = dataset.sample_numel();
  const auto stats = static_cast<int64_t>(offset_.size());
  BP_CHECK(stats == 1 || stats == row,
           "Normalizer::apply: fitted on {} values per sample, the dataset has {}", stats, row);
  // ((byte * s + o) - offset) / scale = byte * (s / scale) + (o - offset) / scale.
  const size_t out = std::max(offset_.size(), dataset.byte_scale.size());
  std::vector<float> scale(out), offset(out);
  for (size_t j = 0; j < out; ++j) {
    const size_t b = dataset.byte_scale.size() == 1 ? 0 : j, k = offset_.size() == 1 ? 0 : j;
    scale[j] = dataset.byte_scale[b] / scale_[k];
    offset[j] = (dataset.byte_offset[b] - offset_[k]) / scale_[k];
  }
  dataset.byte_scale = std::move(scale);
  dataset.byte_offset = std::move(offset);
}

}  // namespace bp::data
