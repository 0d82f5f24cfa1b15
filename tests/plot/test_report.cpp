#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "backprop/io.hpp"
#include "backprop/plot.hpp"
#include "plot/svg_test_util.hpp"
#include "test_util.hpp"

namespace bp::plot {
namespace {

namespace fs = std::filesystem;
using bp::testing::elements;
using bp::testing::expect_error;
using bp::testing::expect_well_formed;

train::Metrics metrics(double loss, double accuracy, std::vector<std::vector<int64_t>> confusion) {
  train::Metrics m;
  m.loss = loss;
  m.accuracy = accuracy;
  m.confusion = std::move(confusion);
  m.classification = !m.confusion.empty();
  for (size_t c = 0; c < m.confusion.size(); ++c) {
    int64_t row = 0, col = 0;
    for (size_t k = 0; k < m.confusion.size(); ++k) {
      row += m.confusion[c][k];
      col += m.confusion[k][c];
      m.samples += m.confusion[c][k];
    }
    m.support.push_back(row);
    m.recall.push_back(row ? static_cast<double>(m.confusion[c][c]) / static_cast<double>(row) : 0);
    m.precision.push_back(col ? static_cast<double>(m.confusion[c][c]) / static_cast<double>(col)
                              : 0);
  }
  return m;
}

std::vector<train::EpochStats> history() {
  std::vector<train::EpochStats> h;
  for (int64_t e = 1; e <= 3; ++e) {
    train::EpochStats s;
    s.epoch = e;
    s.train_loss = 1.0 / static_cast<double>(e);
    s.train_accuracy = 0.5 + 0.1 * static_cast<double>(e);
    s.lr = 0.1;
    s.evals.emplace_back("val", metrics(1.2 / static_cast<double>(e), 0.6, {{3, 1}, {1, 5}}));
    s.evals.emplace_back("test set", metrics(1.3 / static_cast<double>(e), 0.7, {{4, 0}, {2, 4}}));
    h.push_back(s);
  }
  return h;
}

std::string read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class Plots : public ::testing::Test {
 protected:
  std::string path(const std::string& name) const { return tmp_.file(name); }
  testing::TempDir tmp_;
  fs::path dir_ = tmp_.path();
};

TEST_F(Plots, SeriesFollowTheHistory) {
  auto loss = loss_series(history());
  ASSERT_EQ(loss.size(), 3u);
  EXPECT_EQ(loss[0].name, "train");
  EXPECT_EQ(loss[1].name, "val");
  EXPECT_EQ(loss[2].name, "test set");
  EXPECT_EQ(loss[2].x, (std::vector<double>{1, 2, 3}));
  EXPECT_DOUBLE_EQ(loss[1].y[1], 0.6);
  auto acc = accuracy_series(history());
  EXPECT_DOUBLE_EQ(acc[0].y[2], 0.8);
  EXPECT_DOUBLE_EQ(acc[2].y[0], 0.7);
}

TEST_F(Plots, TrainingPlotsOfAClassifierAndOfARegression) {
  const std::string out = path("a/b");  // created with its parents
  auto files = write_training_plots(out, history(), true, {"no", "yes"});
  ASSERT_EQ(files.size(), 4u);
  for (const char* name :
       {"loss.svg", "accuracy.svg", "confusion_val.svg", "confusion_test_set.svg"}) {
    const std::string svg = read(out + "/" + name);
    ASSERT_FALSE(svg.empty()) << name;
    EXPECT_EQ(svg.rfind("<?xml", 0), 0u) << name;
    expect_well_formed(svg);
  }
  EXPECT_EQ(elements(read(out + "/loss.svg"), "polyline").size(), 3u);
  EXPECT_NE(read(out + "/confusion_test_set.svg").find(">yes</text>"), std::string::npos);
  EXPECT_EQ(std::distance(fs::directory_iterator(out), fs::directory_iterator()), 4);

  auto regression = write_training_plots(path("r"), history(), false);
  ASSERT_EQ(regression.size(), 1u);
  EXPECT_EQ(regression[0], path("r") + "/loss.svg");
}

TEST_F(Plots, PlotDirectoryIsCheckedFirst) {
  check_plot_dir(path("new/dir"));  // creatable, and not created by the check
  EXPECT_FALSE(fs::exists(path("new")));
  make_plot_dir(path("new/dir"));
  EXPECT_TRUE(fs::is_directory(path("new/dir")));
  EXPECT_TRUE(fs::is_empty(path("new/dir")));
  check_plot_dir(path("new/dir"));
  io::write_file_atomic(path("file"), std::string_view("x"));
  expect_error([&] { check_plot_dir(path("file")); }, "not a directory");
  expect_error([&] { check_plot_dir(path("file/sub")); }, "not a directory");
  expect_error([&] { check_plot_dir(path("file/sub/deeper")); }, "not a directory");
  expect_error([&] { make_plot_dir(path("file/sub")); }, "not a directory");
  expect_error([&] { write_training_plots(path("file"), history(), true); }, "not a directory");
  expect_error([] { check_plot_dir(""); }, "cannot write plots: the directory name is empty");
  expect_error([] { make_plot_dir(""); }, "cannot write plots: the directory name is empty");
  if (::geteuid() != 0) {  // root may write anywhere
    fs::create_directory(path("locked"));
    fs::permissions(path("locked"), fs::perms::owner_read | fs::perms::owner_exec);
    expect_error([&] { check_plot_dir(path("locked/plots")); }, "cannot create it in");
    fs::permissions(path("locked"), fs::perms::owner_all);
  }
}

TEST_F(Plots, HtmlReportIsOneSelfContainedPage) {
  Report r;
  r.title = "run <1>";
  r.settings = {{"--model", "dense(4),relu,dense(2)"}, {"--data", "a&b.csv"}};
  r.history = history();
  r.class_names = {"no", "yes"};
  const std::string html = html_report(r);
  expect_well_formed(html, ".html");  // XHTML-clean, so any parser reads it
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_NE(html.find("<title>run &lt;1&gt;</title>"), std::string::npos);
  EXPECT_NE(html.find("a&amp;b.csv"), std::string::npos);
  EXPECT_NE(html.find("dense(4),relu,dense(2)"), std::string::npos);
  // Curves (loss, accuracy) and one confusion matrix per evaluation set, inline.
  EXPECT_EQ(elements(html, "svg").size(), 4u);
  // Nothing fetched from elsewhere.
  EXPECT_EQ(html.find("src="), std::string::npos);
  EXPECT_EQ(html.find("href="), std::string::npos);
  EXPECT_EQ(html.find("<link"), std::string::npos);
  // The per-epoch table and per-class precision/recall: test set's class "yes": 4 of 4 predicted
  // "yes" are right (precision 100%), 4 of 6 "yes" found (recall 66.67%).
  EXPECT_NE(html.find("<td class=\"key\">yes</td><td>100.00%</td><td>66.67%</td><td>6</td>"),
            std::string::npos);
  EXPECT_NE(html.find("<th>test set accuracy</th>"), std::string::npos);
  EXPECT_NE(html.find("<tr><td>3</td><td>0.3333</td><td>80.00%</td>"), std::string::npos);

  Report regression{.settings = {}, .history = r.history, .classification = false};
  const std::string plain = html_report(regression);
  expect_well_formed(plain, ".html");
  EXPECT_EQ(elements(plain, "svg").size(), 1u);
  EXPECT_EQ(plain.find("accuracy"), std::string::npos);
  // An empty history still makes a valid page.
  expect_well_formed(html_report(Report{}), ".html");
}

}  // namespace
}  // namespace bp::plot
