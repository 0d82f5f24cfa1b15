// CSV reader: headers, delimiters, labels, regression, quoting and every error message.
#include "data_test_util.hpp"
#include "test_util.hpp"

namespace bp::testing {
namespace {

using data::CsvHeader;
using data::CsvOptions;
using data::read_csv;
using data::read_csv_string;

TEST(CsvTest, ReadsHeaderAndIntegerLabelsFromFile) {
  TempDir dir;
  write_text(dir.file("d.csv"), "x,y,label\n1,2,0\n3.5,-4e1,2\n5,6,1\n");
  data::Dataset ds = read_csv(dir.file("d.csv"));
  EXPECT_EQ(ds.task, data::Task::classification);
  EXPECT_EQ(ds.features.shape(), (Shape{3, 2}));
  EXPECT_EQ(ds.features.to_vector(), (std::vector<float>{1, 2, 3.5f, -40, 5, 6}));
  EXPECT_EQ(ds.labels, (std::vector<int64_t>{0, 2, 1}));
  EXPECT_EQ(ds.num_classes, 3);
  EXPECT_EQ(ds.label_names, (std::vector<std::string>{"0", "1", "2"}));
  ds.validate();
}

TEST(CsvTest, HeaderOptionsAndAutodetect) {
  const std::string text = "1,2,0\n3,4,1\n";
  CsvOptions opt;
  EXPECT_EQ(read_csv_string(text, opt).size(), 2);  // autodetect: numbers, so no header
  opt.header = CsvHeader::yes;
  EXPECT_EQ(read_csv_string(text, opt).size(), 1);
  opt.header = CsvHeader::no;
  expect_error([&] { read_csv_string("a,b,c\n1,2,0\n", opt, "h.csv"); },
               "h.csv: line 1, column 1: value 'a' is not a number");
  opt.label_column = "c";
  expect_error([&] { read_csv_string("a,b,c\n1,2,0\n", opt); }, "needs a header row");
}

TEST(CsvTest, DelimiterAndLabelColumnByIndexAndName) {
  const std::string text = "cls;f1;f2\ncat;1;2\ndog;3;4\ncat;5;6\n";
  CsvOptions opt;
  opt.delimiter = ';';
  opt.label_index = 0;
  data::Dataset ds = read_csv_string(text, opt);
  EXPECT_EQ(ds.features.to_vector(), (std::vector<float>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(ds.labels, (std::vector<int64_t>{0, 1, 0}));
  EXPECT_EQ(ds.label_names, (std::vector<std::string>{"cat", "dog"}));

  opt.label_index = -3;  // from the end: also column 0
  EXPECT_EQ(read_csv_string(text, opt).labels, ds.labels);
  opt.label_column = "cls";
  EXPECT_EQ(read_csv_string(text, opt).labels, ds.labels);

  opt.label_column = "kind";
  expect_error([&] { read_csv_string(text, opt, "s.csv"); },
               "s.csv: label column 'kind' not found in the header (columns: 'cls', 'f1', 'f2')");
  opt.label_column.clear();
  opt.label_index = 3;
  expect_error([&] { read_csv_string(text, opt); }, "label column index 3 is out of range for 3");
  opt.label_index = -4;
  expect_error([&] { read_csv_string(text, opt); }, "label column index -4 is out of range");
}

TEST(CsvTest, StringLabelsAreSortedAndNumbersNumerically) {
  data::Dataset ds = read_csv_string("1,zebra\n2,ant\n3,moth\n4,ant\n");
  EXPECT_EQ(ds.label_names, (std::vector<std::string>{"ant", "moth", "zebra"}));
  EXPECT_EQ(ds.labels, (std::vector<int64_t>{2, 0, 1, 0}));
  ds = read_csv_string("1,10\n2,2\n3,-1\n");
  EXPECT_EQ(ds.label_names, (std::vector<std::string>{"-1", "2", "10"}));
  EXPECT_EQ(ds.labels, (std::vector<int64_t>{2, 1, 0}));
}

TEST(CsvTest, FixedLabelVocabulary) {
  CsvOptions opt;
  opt.label_names = {"low", "mid", "high"};
  data::Dataset ds = read_csv_string("1,high\n2,low\n", opt);
  EXPECT_EQ(ds.labels, (std::vector<int64_t>{2, 0}));
  EXPECT_EQ(ds.num_classes, 3);
  expect_error([&] { read_csv_string("1,high\n2,huge\n", opt, "v.csv"); },
               "v.csv: line 2, column 2: label 'huge' is not one of the 3 given label names");
}

TEST(CsvTest, Regression) {
  CsvOptions opt;
  opt.task = data::Task::regression;
  opt.label_column = "price";
  data::Dataset ds = read_csv_string("price,a,b\n1.5,1,2\n-2,3,4\n", opt);
  EXPECT_EQ(ds.task, data::Task::regression);
  EXPECT_EQ(ds.targets.shape(), (Shape{2, 1}));
  EXPECT_EQ(ds.targets.to_vector(), (std::vector<float>{1.5f, -2.0f}));
  EXPECT_EQ(ds.features.to_vector(), (std::vector<float>{1, 2, 3, 4}));
  EXPECT_TRUE(ds.labels.empty());
  ds.validate();
  expect_error([&] { read_csv_string("price,a\n1,2\nx,3\n", opt, "r.csv"); },
               "r.csv: line 3, column 1: target 'x' is not a number");
}

TEST(CsvTest, RaggedRowNamesTheLine) {
  expect_error([] { read_csv_string("a,b,c\n1,2,0\n\n3,4\n", {}, "rag.csv"); },
               "rag.csv: line 4: ragged row: expected 3 fields, found 2");
  expect_error([] { read_csv_string("1,2,0\n3,4,5,6\n"); }, "line 2: ragged row");
}

TEST(CsvTest, NonNumericNamesLineAndColumn) {
  expect_error([] { read_csv_string("a,b,c\n1,2,0\n3,x4,1\n", {}, "n.csv"); },
               "n.csv: line 3, column 2: value 'x4' is not a number");
  expect_error([] { read_csv_string("1,2,0\n1,,0\n"); }, "line 2, column 2: empty value");
  expect_error([] { read_csv_string("1,2,0\n1,2.5.1,0\n"); }, "'2.5.1' is not a number");
  expect_error([] { read_csv_string("1,2,0\n1,1e99,0\n"); }, "'1e99' is out of the float range");
}

TEST(CsvTest, LabelsAndColumnNamesMustBeUtf8) {
  // UTF-8 in any script is fine, in labels and column names.
  data::Dataset ds = read_csv_string("x,y,\xc3\xa9tiquette\n1,2,caf\xc3\xa9\n3,4,\xe6\x9d\xb1\n");
  EXPECT_EQ(ds.label_names, (std::vector<std::string>{"caf\xc3\xa9", "\xe6\x9d\xb1"}));
  expect_error([] { read_csv_string("x,y,label\n1,2,ok\n3,4,ab\xff\n", {}, "u.csv"); },
               "u.csv: line 3, column 3: the label is not valid UTF-8 (byte 0xff at offset 2 "
               "of the field)");
  expect_error(
      [] { read_csv_string("x,\xc3(,label\n1,2,a\n", {}, "h.csv"); },
      "h.csv: line 1, column 2: the column name is not valid UTF-8 (byte 0xc3 at offset 0");
  // Overlong forms, surrogates, code points past U+10FFFF and cut sequences are refused.
  for (const char* bad :
       {"\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe6\x9d"})
    expect_error([&] { read_csv_string(std::string("1,2,a\n3,4,") + bad + "\n"); },
                 "the label is not valid UTF-8");
}

TEST(CsvTest, RejectsNaNAndInf) {
  expect_error([] { read_csv_string("1,2,0\nnan,2,0\n", {}, "nan.csv"); },
               "nan.csv: line 2, column 1: value 'nan' is not finite");
  expect_error([] { read_csv_string("1,2,0\n1,-inf,0\n"); }, "line 2, column 2: value '-inf'");
  expect_error([] { read_csv_string("1,2,0\n1,Infinity,0\n"); }, "not finite");
  CsvOptions opt;
  opt.task = data::Task::regression;
  expect_error([&] { read_csv_string("1,2,0\n1,2,NaN\n", opt); },
               "line 2, column 3: target 'NaN' is not finite");
}

TEST(CsvTest, QuotedFields) {
  const std::string text =
      "\"name, with comma\",\"b\"\"q\",label\n"
      "\"1\", 2 ,\"a \"\"big\"\", one\"\n"
      "3,\"4\",\"multi\nline\"\n"
      "5,6,plain\n";
  data::Dataset ds = read_csv_string(text);
  EXPECT_EQ(ds.features.to_vector(), (std::vector<float>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(ds.label_names, (std::vector<std::string>{"a \"big\", one", "multi\nline", "plain"}));
  EXPECT_EQ(ds.labels, (std::vector<int64_t>{0, 1, 2}));
  // Line numbers keep counting through a multi-line field.
  expect_error([] { read_csv_string("1,\"a\nb\",0\n1,x,0\n"); }, "line 3, column 2");
  expect_error([] { read_csv_string("1,2,0\n1,\"2,0\n"); },
               "line 2, column 2: the quoted field never closes");
  expect_error([] { read_csv_string("1,2,0\n1,\"2\"x,0\n"); },
               "line 2, column 2: unexpected character after the closing quote");
  expect_error([] { read_csv_string("1,2,0\n1,2\"3,0\n"); },
               "line 2, column 2: a quote inside an unquoted field");
}

TEST(CsvTest, CrlfLineEndingsAndBlankLines) {
  data::Dataset ds = read_csv_string("a,b,y\r\n1,2,x\r\n\r\n3,4,z\r\n");
  EXPECT_EQ(ds.features.to_vector(), (std::vector<float>{1, 2, 3, 4}));
  EXPECT_EQ(ds.label_names, (std::vector<std::string>{"x", "z"}));
  expect_error([] { read_csv_string("a,b,y\r\n1,2,x\r\n3,q,z\r\n"); },
               "line 3, column 2: value 'q' is not a number");
  // No final line break, and a UTF-8 byte order mark.
  EXPECT_EQ(read_csv_string("\xEF\xBB\xBF"
                            "a,b\n1,0\n2,1")
                .size(),
            2);
}

TEST(CsvTest, EmptyAndDegenerateFiles) {
  TempDir dir;
  write_text(dir.file("empty.csv"), "");
  expect_error([&] { read_csv(dir.file("empty.csv")); },
               dir.file("empty.csv") + ": the file is empty");
  expect_error([] { read_csv_string("\n\n  \n"); }, "the file is empty");
  expect_error([] { read_csv_string("a,b,c\n", {}, "h.csv"); },
               "h.csv: no data rows after the header");
  expect_error([] { read_csv_string("1\n2\n"); }, "at least one feature column");
  CsvOptions no_header;
  no_header.header = CsvHeader::no;
  expect_error([&] { read_csv_string("1,2,\n", no_header); }, "line 1, column 3: empty label");
  expect_error([&] { read_csv(dir.file("missing.csv")); }, "cannot open");
  CsvOptions opt;
  opt.delimiter = '"';
  expect_error([&] { read_csv_string("1,2\n", opt); }, "delimiter");
}

}  // namespace
}  // namespace bp::testing

namespace bp::testing {
namespace {

TEST(CsvTest, FeaturesOnlyWithoutALabelColumn) {
  CsvOptions opt;
  opt.has_label = false;
  data::Dataset ds = read_csv_string("a,b,c\n1,2,3\n4,5,6\n", opt);
  EXPECT_EQ(ds.features.shape(), (Shape{2, 3}));
  EXPECT_EQ(ds.features.to_vector(), (std::vector<float>{1, 2, 3, 4, 5, 6}));
  EXPECT_TRUE(ds.labels.empty());
  EXPECT_FALSE(ds.targets.defined());
  // A single column is enough when there is no label.
  EXPECT_EQ(read_csv_string("7\n8\n", opt).features.shape(), (Shape{2, 1}));
  expect_error([&] { read_csv_string("1,2\n3,x\n", opt); }, "line 2, column 2");
}

}  // namespace
}  // namespace bp::testing
