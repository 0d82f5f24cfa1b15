// Pictures of a training run: curves per epoch, confusion matrices, and the HTML report.
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>

#include <unistd.h>

#include "backprop/error.hpp"
#include "backprop/io.hpp"
#include "backprop/plot.hpp"

namespace bp::plot {

namespace {

// One series per source: "train", then each evaluation set in order of first appearance.
std::vector<Series> series_of(const std::vector<train::EpochStats>& history, bool accuracy) {
  std::vector<Series> out(1);
  out[0].name = "train";
  std::map<std::string, size_t> index;
  for (const auto& e : history) {
    out[0].x.push_back(static_cast<double>(e.epoch));
    out[0].y.push_back(accuracy ? e.train_accuracy : e.train_loss);
    for (const auto& [name, m] : e.evals) {
      auto [it, added] = index.emplace(name, out.size());
      if (added) out.push_back(Series{.name = name});
      Series& s = out[it->second];
      s.x.push_back(static_cast<double>(e.epoch));
      s.y.push_back(accuracy ? m.accuracy : m.loss);
    }
  }
  return out;
}

Svg loss_chart(const std::vector<train::EpochStats>& history, double width) {
  return line_chart(loss_series(history),
                    {.title = "Loss per epoch", .y_label = "loss", .width = width});
}

Svg accuracy_chart(const std::vector<train::EpochStats>& history, double width) {
  std::vector<Series> s = accuracy_series(history);
  for (auto& series : s)
    for (double& y : series.y) y *= 100;
  return line_chart(
      s, {.title = "Accuracy per epoch", .y_label = "accuracy (%)", .width = width, .y_max = 100});
}

std::string file_safe(const std::string& name) {
  std::string out;
  for (char c : name)
    out += std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' ? c : '_';
  return out.empty() ? "_" : out;
}

std::string percent(double v) {
  return fmt::format("{:.2f}%", 100 * v);
}

std::string number(double v) {
  if (!std::isfinite(v)) return fmt::format("{}", v);
  return fmt::format("{:.4g}", v);
}

constexpr const char* kStyle = R"(<style>
body { font-family: Helvetica, Arial, sans-serif; margin: 24px auto; max-width: 1100px; color: #222; }
h1 { font-size: 24px; } h2 { font-size: 19px; margin-top: 32px; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 13px; margin: 8px 0; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
th { background: #f2f2f2; } td.key, th.key { text-align: left; font-family: monospace; }
th.key { white-space: nowrap; } td.key { overflow-wrap: anywhere; }
.figures { display: flex; flex-wrap: wrap; gap: 16px; align-items: flex-start; }
.scroll { max-height: 420px; overflow-y: auto; display: inline-block; }
</style>
)";

}  // namespace

std::vector<Series> loss_series(const std::vector<train::EpochStats>& history) {
  return series_of(history, false);
}

std::vector<Series> accuracy_series(const std::vector<train::EpochStats>& history) {
  return series_of(history, true);
}

void check_plot_dir(const std::string& dir) {
  namespace fs = std::filesystem;
  BP_CHECK(!dir.empty(), "cannot write plots: the directory name is empty");
  std::error_code ec;
  if (fs::exists(dir, ec)) {
    BP_CHECK(fs::is_directory(dir, ec), "cannot write plots to '{}': not a directory", dir);
    io::check_writable((fs::path(dir) / "loss.svg").string());
    return;
  }
  // To be created: the nearest ancestor that exists must be a directory we can write in.
  fs::path ancestor = fs::path(dir).parent_path();
  while (!ancestor.empty() && !fs::exists(ancestor, ec)) ancestor = ancestor.parent_path();
  if (ancestor.empty()) ancestor = ".";
  BP_CHECK(fs::is_directory(ancestor, ec), "cannot write plots to '{}': '{}' is not a directory",
           dir, ancestor.string());
  BP_CHECK(::access(ancestor.c_str(), W_OK) == 0,
           "cannot write plots to '{}': cannot create it in '{}' ({})", dir, ancestor.string(),
           std::strerror(errno));
}

void make_plot_dir(const std::string& dir) {
  BP_CHECK(!dir.empty(), "cannot write plots: the directory name is empty");
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  std::error_code status;
  BP_CHECK(std::filesystem::is_directory(dir, status),
           "cannot write plots to '{}': not a directory{}", dir,
           ec ? " (" + ec.message() + ")" : "");
  check_plot_dir(dir);
}

std::vector<std::string> write_training_plots(const std::string& dir,
                                              const std::vector<train::EpochStats>& history,
                                              bool classification,
                                              const std::vector<std::string>& class_names) {
  make_plot_dir(dir);
  std::vector<std::string> written;
  auto save = [&](const Svg& svg, const std::string& name) {
    const std::string path = (std::filesystem::path(dir) / name).string();
    svg.save(path);
    written.push_back(path);
  };
  save(loss_chart(history, 640), "loss.svg");
  if (!classification) return written;
  save(accuracy_chart(history, 640), "accuracy.svg");
  if (!history.empty())
    for (const auto& [name, m] : history.back().evals)
      if (!m.confusion.empty())
        save(confusion_matrix(
                 m.confusion, class_names,
                 fmt::format("Confusion matrix: {} (epoch {})", name, history.back().epoch)),
             "confusion_" + file_safe(name) + ".svg");
  return written;
}

std::string html_report(const Report& report) {
  const auto& h = report.history;
  std::string html = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n";
  html += "<title>" + xml_escape(report.title) + "</title>\n" + kStyle + "</head>\n<body>\n";
  html += "<h1>" + xml_escape(report.title) + "</h1>\n";

  html += "<h2>Settings</h2>\n<table>\n";
  for (const auto& [key, value] : report.settings)
    html += "<tr><th class=\"key\">" + xml_escape(key) + "</th><td class=\"key\">" +
            xml_escape(value) + "</td></tr>\n";
  html += "</table>\n";

  // Two charts side by side in the page's width.
  html += "<h2>Curves</h2>\n<div class=\"figures\">\n" + loss_chart(h, 540).str();
  if (report.classification) html += accuracy_chart(h, 540).str();
  html += "</div>\n";

  // The evaluation sets, in order of first appearance.
  std::vector<std::string> sets;
  for (const auto& e : h)
    for (const auto& [name, m] : e.evals)
      if (std::find(sets.begin(), sets.end(), name) == sets.end()) sets.push_back(name);
  html += "<h2>Epochs</h2>\n<div class=\"scroll\"><table>\n<tr><th>epoch</th><th>train loss</th>";
  if (report.classification) html += "<th>train accuracy</th>";
  for (const auto& s : sets) {
    html += "<th>" + xml_escape(s) + " loss</th>";
    if (report.classification) html += "<th>" + xml_escape(s) + " accuracy</th>";
  }
  html += "<th>learning rate</th><th>seconds</th><th>samples/s</th></tr>\n";
  for (const auto& e : h) {
    html += fmt::format("<tr><td>{}</td><td>{}</td>", e.epoch, number(e.train_loss));
    if (report.classification) html += "<td>" + percent(e.train_accuracy) + "</td>";
    for (const auto& s : sets) {
      const train::Metrics* m = e.eval(s);
      html += "<td>" + (m ? number(m->loss) : std::string()) + "</td>";
      if (report.classification)
        html += "<td>" + (m ? percent(m->accuracy) : std::string()) + "</td>";
    }
    html += fmt::format("<td>{}</td><td>{:.2f}</td><td>{:.0f}</td></tr>\n", number(e.lr), e.seconds,
                        e.samples_per_sec);
  }
  html += "</table></div>\n";

  if (report.classification && !h.empty()) {
    for (const auto& [name, m] : h.back().evals) {
      if (!m.classification) continue;
      const size_t k = m.precision.size();
      html +=
          fmt::format("<h2>{}: epoch {}, accuracy {}, loss {}, {} samples</h2>\n", xml_escape(name),
                      h.back().epoch, percent(m.accuracy), number(m.loss), m.samples);
      html += "<div class=\"figures\">\n";
      if (!m.confusion.empty())
        html +=
            confusion_matrix(m.confusion, report.class_names, "Confusion matrix: " + name).str();
      html +=
          "<table>\n<tr><th class=\"key\">class</th><th>precision</th><th>recall</th>"
          "<th>samples</th></tr>\n";
      for (size_t c = 0; c < k; ++c) {
        const int64_t total = c < m.support.size() ? m.support[c] : 0;
        const std::string label =
            c < report.class_names.size() ? report.class_names[c] : std::to_string(c);
        html += "<tr><td class=\"key\">" + xml_escape(label) + "</td><td>" +
                (c < m.precision.size() ? percent(m.precision[c]) : "") + "</td><td>" +
                (c < m.recall.size() ? percent(m.recall[c]) : "") + "</td><td>" +
                std::to_string(total) + "</td></tr>\n";
      }
      html += "</table>\n</div>\n";
    }
  }
  html += "</body>\n</html>\n";
  return html;
}

}  // namespace bp::plot
