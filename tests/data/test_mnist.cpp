// MNIST-style folders: the file layout, the missing-file message and the real Fashion-MNIST.
#include <filesystem>

#include "data_test_util.hpp"
#include "test_util.hpp"

namespace bp::testing {
namespace {

// Writes a t10k split of `n` 28x28 images (pixel = i) and labels i % 10 to `dir`.
void write_mnist_test_split(const TempDir& dir, uint32_t n, bool gz) {
  Bytes pixels(static_cast<size_t>(n) * 28 * 28);
  for (uint32_t i = 0; i < n; ++i)
    std::fill(pixels.begin() + i * 784, pixels.begin() + (i + 1) * 784, static_cast<uint8_t>(i));
  Bytes labels;
  for (uint32_t i = 0; i < n; ++i) labels.push_back(static_cast<uint8_t>(i % 10));
  Bytes img = idx_bytes(0x08, {n, 28, 28}, pixels);
  Bytes lab = idx_bytes(0x08, {n}, labels);
  const std::string suffix = gz ? ".gz" : "";
  write_file(dir.file("t10k-images-idx3-ubyte" + suffix), gz ? gzip(img) : img);
  write_file(dir.file("t10k-labels-idx1-ubyte" + suffix), gz ? gzip(lab) : lab);
}

TEST(DataMnistTest, LoadsFolderWithOrWithoutGzip) {
  for (bool gz : {false, true}) {
    TempDir dir;
    write_mnist_test_split(dir, 12, gz);
    data::Dataset ds = data::load_mnist_dir(dir.path(), data::Split::test);
    EXPECT_EQ(ds.float_features().shape(), (Shape{12, 1, 28, 28}));
    EXPECT_EQ(ds.num_classes, 10);
    EXPECT_EQ(ds.label_names[3], "3");
    EXPECT_EQ(ds.labels[11], 1);
    EXPECT_FLOAT_EQ(ds.float_features().at({5, 0, 27, 27}), 5.0f / 255.0f);
    ds.validate();
  }
}

TEST(DataMnistTest, MissingFileNamesItAndTheInstallCommand) {
  TempDir dir;
  write_mnist_test_split(dir, 2, true);
  expect_error([&] { data::load_mnist_dir(dir.path(), data::Split::train); },
               "missing train-images-idx3-ubyte(.gz) in " + dir.path());
  expect_error([&] { data::load_mnist_dir(dir.path(), data::Split::train); },
               "apt-get install dataset-fashion-mnist");
  std::filesystem::remove(dir.file("t10k-labels-idx1-ubyte.gz"));
  expect_error([&] { data::load_mnist_dir(dir.path(), data::Split::test); },
               "missing t10k-labels-idx1-ubyte(.gz)");
}

TEST(DataMnistTest, RejectsWrongImageSize) {
  TempDir dir;
  write_file(dir.file("t10k-images-idx3-ubyte"), idx_bytes(0x08, {1, 2, 2}, {0, 0, 0, 0}));
  write_file(dir.file("t10k-labels-idx1-ubyte"), idx_bytes(0x08, {1}, {0}));
  expect_error([&] { data::load_mnist_dir(dir.path(), data::Split::test); },
               "expected 28x28 images, got samples of shape [1, 2, 2]");
}

TEST(DataMnistTest, RealFashionMnistTestSplit) {
  const std::string dir = data::kFashionMnistDir;
  if (!std::filesystem::exists(dir + "/t10k-images-idx3-ubyte.gz") &&
      !std::filesystem::exists(dir + "/t10k-images-idx3-ubyte"))
    GTEST_SKIP() << "Fashion-MNIST is not installed in " << dir;
  data::Dataset ds = data::load_fashion_mnist(data::Split::test);
  EXPECT_TRUE(ds.bytes != nullptr);  // kept compact: one byte per pixel
  const Tensor x = ds.float_features();
  EXPECT_EQ(x.shape(), (Shape{10000, 1, 28, 28}));
  EXPECT_EQ(ds.label_names, data::fashion_mnist_label_names());
  EXPECT_EQ(ds.label_names[9], "Ankle boot");
  const std::vector<float> v = x.to_vector();
  const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
  EXPECT_EQ(*lo, 0.0f);
  EXPECT_EQ(*hi, 1.0f);
  std::vector<int64_t> counts(10, 0);
  for (int64_t l : ds.labels) counts[static_cast<size_t>(l)]++;
  EXPECT_EQ(counts, std::vector<int64_t>(10, 1000));
  ds.validate();
}

}  // namespace
}  // namespace bp::testing
