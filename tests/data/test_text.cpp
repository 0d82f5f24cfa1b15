// Text corpora: characters from UTF-8 or bytes, the vocabulary, next-character windows, batches
// with a label per position, the loss over every position, and the vocabulary in a model file.
#include <cmath>

#include "backprop/model.hpp"
#include "backprop/train.hpp"
#include "data_test_util.hpp"
#include "test_util.hpp"

namespace bp::testing {
namespace {

std::vector<uint32_t> code_points(std::string_view text) {
  return data::text_symbols(text, data::TokenKind::code_points);
}

TEST(Text, Utf8DecodesToCodePointsAndBack) {
  const std::string text = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\n";  // a é € 😀 newline
  const std::vector<uint32_t> expected{0x61, 0xE9, 0x20AC, 0x1F600, 0x0A};
  EXPECT_EQ(code_points(text), expected);
  EXPECT_EQ(data::symbols_text(expected, data::TokenKind::code_points), text);
  const auto bytes = data::text_symbols(text, data::TokenKind::bytes);
  ASSERT_EQ(bytes.size(), text.size());
  EXPECT_EQ(bytes[1], 0xC3u);
  EXPECT_EQ(data::symbols_text(bytes, data::TokenKind::bytes), text);
}

TEST(Text, InvalidUtf8AndNulBytesAreRefusedWithTheirOffset) {
  const std::vector<std::pair<std::string, std::string>> bad{
      {std::string("ab\0c", 4), "a NUL byte at byte 2"},
      {"ab\xff", "invalid UTF-8 at byte 2"},
      {"a\xc3", "invalid UTF-8 at byte 1"},              // truncated
      {"a\xc0\x80", "invalid UTF-8 at byte 1"},          // overlong NUL
      {"a\xed\xa0\x80", "invalid UTF-8 at byte 1"},      // surrogate
      {"a\xf4\x90\x80\x80", "invalid UTF-8 at byte 1"},  // above U+10FFFF
      {"a\xe2\x28\xa1", "invalid UTF-8 at byte 1"},      // bad continuation
  };
  for (const auto& item : bad) {
    const std::string& text = item.first;
    expect_error([&] { data::text_symbols(text, data::TokenKind::code_points, "f.txt"); },
                 "f.txt: " + item.second);
    EXPECT_EQ(data::text_symbols(text, data::TokenKind::bytes).size(), text.size());
  }
}

TEST(Text, VocabularyIsSortedWithTheUnknownTokenFirst) {
  const auto v = data::Vocabulary::of(code_points("banana"), data::TokenKind::code_points);
  EXPECT_EQ(v.symbols, (std::vector<uint32_t>{'a', 'b', 'n'}));
  EXPECT_EQ(v.size(), 4);
  EXPECT_EQ(v.id('a'), 1);
  EXPECT_EQ(v.id('n'), 3);
  EXPECT_EQ(v.id('z'), 0);
  EXPECT_EQ(v.ids(code_points("baz")), (std::vector<int64_t>{2, 1, 0}));
  EXPECT_EQ(v.symbol(2), uint32_t{'b'});
  expect_error([&] { (void)v.symbol(0); }, "unknown token");
}

TEST(Text, WindowsHoldTheNextCharacterAtEveryPosition) {
  // a..g as ids 1..7; windows of 3: [1 2 3] -> [2 3 4], [4 5 6] -> [5 6 7].
  const std::vector<int64_t> ids{1, 2, 3, 4, 5, 6, 7};
  const data::Dataset d = data::text_windows(ids, 3, 8);
  d.validate();
  ASSERT_EQ(d.size(), 2);
  EXPECT_EQ(d.feature_shape, Shape({3}));
  EXPECT_EQ(d.labels_per_sample, 3);
  EXPECT_EQ(d.num_classes, 8);
  const std::vector<float> x(d.features.data(), d.features.data() + 6);
  EXPECT_EQ(x, (std::vector<float>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(d.labels, (std::vector<int64_t>{2, 3, 4, 5, 6, 7}));
  // One token short of a second window: the remainder is unused.
  EXPECT_EQ(data::text_windows(std::span(ids).first(6), 3, 8).size(), 1);
  expect_error([&] { data::text_windows(std::span(ids).first(3), 3, 8); }, "need at least 4");
  expect_error([&] { data::text_windows(ids, 3, 7); }, "outside [0, 7)");
}

TEST(Text, BatchesAndSubsetsCarryEveryLabelOfTheirSamples) {
  std::vector<int64_t> ids(13);
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int64_t>(i % 5);
  const data::Dataset d = data::text_windows(ids, 4, 5);  // 3 windows
  const std::vector<int64_t> pick{2, 0};
  const data::Dataset s = data::subset(d, pick);
  s.validate();
  EXPECT_EQ(s.labels_per_sample, 4);
  EXPECT_EQ(s.labels, (std::vector<int64_t>{4, 0, 1, 2, 1, 2, 3, 4}));
  data::DataLoader loader(d, {.batch_size = 2, .shuffle = true, .seed = 3});
  data::Batch batch;
  loader.start_epoch(0);
  ASSERT_TRUE(loader.next(batch));
  EXPECT_EQ(batch.labels_per_sample, 4);
  ASSERT_EQ(batch.labels.size(), 8u);
  for (int64_t i = 0; i < batch.size(); ++i)
    for (int64_t t = 0; t < 4; ++t)
      EXPECT_EQ(batch.labels[static_cast<size_t>(i * 4 + t)],
                ids[static_cast<size_t>(batch.indices[static_cast<size_t>(i)] * 4 + t + 1)]);
}

TEST(Text, LossIsTheMeanCrossEntropyOverEveryPosition) {
  data::Batch batch;
  batch.indices = {0, 1};
  batch.labels = {0, 2, 1, 1, 2, 0};
  batch.labels_per_sample = 3;
  Generator gen(5);
  Tensor out = random({2, 3, 4}, gen);
  const float loss = train::batch_loss(train::Loss::cross_entropy, out, batch).item();
  double expected = 0;
  for (int64_t r = 0; r < 6; ++r) {
    const float* z = out.data() + r * 4;
    double sum = 0;
    for (int64_t c = 0; c < 4; ++c) sum += std::exp(static_cast<double>(z[c]));
    expected += std::log(sum) - z[batch.labels[static_cast<size_t>(r)]];
  }
  EXPECT_NEAR(loss, expected / 6, 1e-5);
  expect_error(
      [&] {
        train::batch_loss(train::Loss::cross_entropy, out.reshape({2, 12}), batch);
      },
      "3 labels per sample need outputs of shape (batch, 3, classes)");
}

TEST(Text, TheVocabularyIsSavedWithTheModel) {
  TempDir dir;
  Generator gen(1);
  Model m = Model::create(nn::parse_model_spec("embedding(4,4),gru(6,sequences=true),dense(4)"),
                          {3}, gen);
  m.vocabulary = data::Vocabulary::of(data::text_symbols("\xc3\xa9t\xc3\xa9!", {}), {});
  save_model(dir.file("m.bp"), m);
  const Model back = load_model(dir.file("m.bp"));
  ASSERT_TRUE(back.vocabulary.has_value());
  EXPECT_EQ(back.vocabulary->kind, data::TokenKind::code_points);
  EXPECT_EQ(back.vocabulary->symbols, (std::vector<uint32_t>{'!', 't', 0xE9}));
  m.vocabulary->kind = data::TokenKind::bytes;
  m.vocabulary->symbols = {1, 2, 255, 3};
  expect_error([&] { m.vocabulary->validate(); }, "strictly increasing");
  m.vocabulary->symbols = {1, 2, 200};
  save_model(dir.file("b.bp"), m);
  EXPECT_EQ(load_model(dir.file("b.bp")).vocabulary->kind, data::TokenKind::bytes);
  EXPECT_EQ(load_model(dir.file("b.bp")).vocabulary->symbols, m.vocabulary->symbols);
  // A vocabulary that does not match the outputs is refused before anything is written.
  m.vocabulary->symbols = {1, 2, 3, 200};
  expect_error([&] { save_model(dir.file("c.bp"), m); }, "a vocabulary of 5 tokens");
}

TEST(Text, GenerateNeedsATextModelAndAPromptOfItsCharacters) {
  Generator gen(1);
  Model m = Model::create(nn::parse_model_spec("embedding(4,4),lstm(8,sequences=true),dense(4)"),
                          {5}, gen);
  expect_error([&] { generate_text(m, "ab", {}); }, "not a text model");
  m.vocabulary = data::Vocabulary::of(data::text_symbols("abc", {}), {});
  expect_error([&] { generate_text(m, "abd", {}); },
               "'d' (U+0064) at position 2 of the prompt is not in the model's vocabulary");
  expect_error([&] { generate_text(m, "", {}); }, "the prompt is empty");
  // Longer than the context: only the last 5 characters are read. Never the unknown token.
  const std::string text = generate_text(m, "abcabcabc", {.length = 40, .temperature = 5});
  ASSERT_EQ(text.size(), 40u);
  EXPECT_EQ(text.find_first_not_of("abc"), std::string::npos) << text;
  EXPECT_EQ(generate_text(m, "ab", {.length = 30, .seed = 7}),
            generate_text(m, "ab", {.length = 30, .seed = 7}));
}

}  // namespace
}  // namespace bp::testing
