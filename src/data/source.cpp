// SampleSource: samples read one by one (the defaults), and DatasetSource, a Dataset in memory
// read through that interface.
#include <algorithm>
#include <cstring>

#include "backprop/data.hpp"
#include "backprop/error.hpp"

namespace bp::data {

int64_t SampleSource::label(int64_t) const {
  fail("SampleSource: a classification source must define label()");
}

void SampleSource::target(int64_t, float*) const {
  fail("SampleSource: a regression source must define target()");
}

void SampleSource::batch_features(std::span<const int64_t> indices, float* out) const {
  const int64_t row = numel(feature_shape());
  for (size_t i = 0; i < indices.size(); ++i)
    features(indices[i], out + static_cast<int64_t>(i) * row);
}

DatasetSource::DatasetSource(Dataset dataset) : dataset_(std::move(dataset)) {
  dataset_.validate();
}

int64_t DatasetSource::target_size() const {
  return dataset_.targets.defined() ? dataset_.targets.size(1) : 0;
}

void DatasetSource::features(int64_t index, float* out) const {
  dataset_.copy_rows(std::span<const int64_t>(&index, 1), out);
}

int64_t DatasetSource::label(int64_t index) const {
  BP_CHECK(dataset_.labels_per_sample == 1,
           "DatasetSource: samples have {} labels each (one per position), not one",
           dataset_.labels_per_sample);
  BP_CHECK(index >= 0 && index < static_cast<int64_t>(dataset_.labels.size()),
           "DatasetSource: no label for sample {} of {}", index, dataset_.labels.size());
  return dataset_.labels[static_cast<size_t>(index)];
}

void DatasetSource::labels(int64_t index, int64_t* out) const {
  const int64_t k = dataset_.labels_per_sample;
  BP_CHECK(index >= 0 && (index + 1) * k <= static_cast<int64_t>(dataset_.labels.size()),
           "DatasetSource: no labels for sample {} of {}", index, dataset_.size());
  std::copy_n(dataset_.labels.begin() + index * k, k, out);
}

void DatasetSource::target(int64_t index, float* out) const {
  BP_CHECK(dataset_.targets.defined() && index >= 0 && index < dataset_.targets.size(0),
           "DatasetSource: no target for sample {}", index);
  const int64_t k = target_size();
  std::memcpy(out, dataset_.targets.data() + index * k, static_cast<size_t>(k) * sizeof(float));
}

void DatasetSource::batch_features(std::span<const int64_t> indices, float* out) const {
  dataset_.copy_rows(indices, out);
}

}  // namespace bp::data
