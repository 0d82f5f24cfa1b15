// IDX image/label pairs and the MNIST / Fashion-MNIST folder layout.
#include <sys/stat.h>

#include <cmath>

#include "backprop/data.hpp"
#include "backprop/error.hpp"

namespace bp::data {

namespace {

bool is_integer_type(IdxType t) {
  return t == IdxType::u8 || t == IdxType::i8 || t == IdxType::i16 || t == IdxType::i32;
}

bool is_file(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

}  // namespace

Dataset load_idx_pair(const std::string& images_path, const std::string& labels_path,
                      std::vector<std::string> label_names) {
  IdxArray images = read_idx(images_path, IdxValues::bytes_if_u8);
  IdxArray labels = read_idx(labels_path);
  BP_CHECK_AS(FormatError, !images.shape.empty(),
              "load_idx_pair: {}: images need a sample axis, got rank 0", images_path);
  BP_CHECK_AS(FormatError, labels.shape.size() == 1,
              "load_idx_pair: {}: labels must have rank 1, got shape {}", labels_path,
              bp::to_string(labels.shape));
  BP_CHECK_AS(FormatError, is_integer_type(labels.type),
              "load_idx_pair: {}: labels must have an integer type (ubyte, sbyte, short, int)",
              labels_path);
  BP_CHECK_AS(FormatError, images.shape[0] == labels.shape[0],
              "load_idx_pair: {} holds {} images but {} holds {} labels", images_path,
              images.shape[0], labels_path, labels.shape[0]);

  Dataset ds;
  ds.task = Task::classification;
  ds.labels.resize(labels.values.size());
  int64_t max_label = -1;
  for (size_t i = 0; i < labels.values.size(); ++i) {
    const float v = labels.values[i];
    BP_CHECK_AS(FormatError, v >= 0.0f, "load_idx_pair: {}: label {} of sample {} is negative",
                labels_path, v, i);
    ds.labels[i] = static_cast<int64_t>(v);
    max_label = std::max(max_label, ds.labels[i]);
  }
  if (label_names.empty()) {
    ds.num_classes = max_label + 1;
  } else {
    ds.num_classes = static_cast<int64_t>(label_names.size());
    BP_CHECK_AS(FormatError, max_label < ds.num_classes,
                "load_idx_pair: {}: label {} but only {} label names were given", labels_path,
                max_label, ds.num_classes);
  }
  ds.label_names = std::move(label_names);

  Shape shape = images.shape;
  if (shape.size() == 3) shape.insert(shape.begin() + 1, 1);  // (N, H, W) -> (N, 1, H, W)
  ds.feature_shape.assign(shape.begin() + 1, shape.end());
  if (images.type == IdxType::u8 && ds.sample_numel() > 0) {
    // Kept as bytes, decoded to [0, 1] batch by batch.
    ds.bytes = std::make_shared<const std::vector<uint8_t>>(std::move(images.bytes));
    ds.byte_scale = {1.0f / 255.0f};
    ds.byte_offset = {0.0f};
    return ds;
  }
  for (size_t i = 0; i < images.values.size(); ++i)
    BP_CHECK_AS(FormatError, std::isfinite(images.values[i]),
                "load_idx_pair: {}: value {} (element {}) is not finite", images_path,
                images.values[i], i);
  ds.features = Tensor::from_data(images.values, shape);
  return ds;
}

const std::vector<std::string>& fashion_mnist_label_names() {
  static const std::vector<std::string> names = {"T-shirt/top", "Trouser",   "Pullover", "Dress",
                                                 "Coat",        "Sandal",    "Shirt",    "Sneaker",
                                                 "Bag",         "Ankle boot"};
  return names;
}

Dataset load_mnist_dir(const std::string& dir, Split split, std::vector<std::string> label_names) {
  BP_CHECK_AS(FormatError, label_names.empty() || label_names.size() == 10,
              "load_mnist_dir: expected 10 label names, got {}", label_names.size());
  const std::string prefix = split == Split::train ? "train" : "t10k";
  auto find = [&](const std::string& stem) {
    std::string base = dir;
    if (!base.empty() && base.back() != '/') base += '/';
    base += stem;
    if (is_file(base + ".gz")) return base + ".gz";
    if (is_file(base)) return base;
    fail_as<FormatError>(
        "load_mnist_dir: missing {}(.gz) in {} (for Fashion-MNIST: apt-get install "
        "dataset-fashion-mnist, which puts the files in {})",
        stem, dir, kFashionMnistDir);
  };
  const std::string images = find(prefix + "-images-idx3-ubyte");
  const std::string labels = find(prefix + "-labels-idx1-ubyte");
  if (label_names.empty())
    for (int c = 0; c < 10; ++c) label_names.push_back(std::to_string(c));
  Dataset ds = load_idx_pair(images, labels, std::move(label_names));
  BP_CHECK_AS(FormatError, ds.feature_shape == (Shape{1, 28, 28}),
              "load_mnist_dir: {}: expected 28x28 images, got samples of shape {}", images,
              bp::to_string(ds.feature_shape));
  return ds;
}

Dataset load_fashion_mnist(Split split, const std::string& dir) {
  return load_mnist_dir(dir, split, fashion_mnist_label_names());
}

}  // namespace bp::data
