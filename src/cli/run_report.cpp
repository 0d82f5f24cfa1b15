#include "cli/run_report.hpp"

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <nlohmann/json.hpp>

#include "backprop/error.hpp"
#include "io/json.hpp"

namespace bp::cli {

namespace {

// `arg` as a shell would need it to be typed.
std::string shell_word(const std::string& arg) {
  if (!arg.empty() && arg.find_first_of(" \t\n'\"\\$`*?;&|<>()[]{}!#~") == std::string::npos)
    return arg;
  std::string q = "'";
  for (char c : arg) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

}  // namespace

std::vector<std::pair<std::string, std::string>> option_settings(const CLI::App& cmd, int argc,
                                                                 const char* const* argv) {
  std::string command = "backprop";
  for (int i = 1; i < argc; ++i) command += " " + shell_word(argv[i]);
  std::vector<std::pair<std::string, std::string>> rows = {{"command", command}};
  for (const CLI::Option* opt : cmd.get_options()) {
    const std::string name = opt->get_name();
    if (name == "--help") continue;
    if (opt->count() > 0) {
      std::string value;
      for (const std::string& r : opt->results()) value += (value.empty() ? "" : " ") + r;
      rows.emplace_back(name, value.empty() ? "on" : value);
    } else if (!opt->get_default_str().empty()) {
      rows.emplace_back(name, opt->get_default_str() + " (default)");
    }
  }
  return rows;
}

nlohmann::json history_to_json(const std::vector<train::EpochStats>& history) {
  nlohmann::json out = nlohmann::json::array();
  for (const train::EpochStats& s : history) {
    nlohmann::json evals = nlohmann::json::array();
    for (const auto& [name, m] : s.evals)
      evals.push_back(
          {{"name", name}, {"loss", m.loss}, {"accuracy", m.accuracy}, {"samples", m.samples}});
    out.push_back({{"epoch", s.epoch},
                   {"train_loss", s.train_loss},
                   {"train_accuracy", s.train_accuracy},
                   {"seconds", s.seconds},
                   {"samples_per_sec", s.samples_per_sec},
                   {"lr", s.lr},
                   {"evals", evals}});
  }
  return out;
}

std::vector<train::EpochStats> history_from_json(const nlohmann::json& history) {
  const std::string what = "--resume: the checkpoint's training history is malformed";
  BP_CHECK(history.is_array(), "{}: expected an array, got {}", what, history.type_name());
  std::vector<train::EpochStats> out;
  for (const auto& e : history) {
    train::EpochStats s;
    s.epoch = io::json_field<int64_t>(e, "epoch", what);
    s.train_loss = io::json_field<double>(e, "train_loss", what);
    s.train_accuracy = io::json_field<double>(e, "train_accuracy", what);
    s.seconds = io::json_field<double>(e, "seconds", what);
    s.samples_per_sec = io::json_field<double>(e, "samples_per_sec", what);
    s.lr = io::json_field<double>(e, "lr", what);
    BP_CHECK(e.contains("evals") && e["evals"].is_array(), "{}: field 'evals' must be an array",
             what);
    for (const auto& v : e["evals"]) {
      train::Metrics m;
      m.loss = io::json_field<double>(v, "loss", what);
      m.accuracy = io::json_field<double>(v, "accuracy", what);
      m.samples = io::json_field<int64_t>(v, "samples", what);
      s.evals.emplace_back(io::json_field<std::string>(v, "name", what), std::move(m));
    }
    out.push_back(std::move(s));
  }
  return out;
}

std::string settings_text(const nlohmann::json& settings) {
  std::string out;
  for (const auto& [key, value] : settings.items()) {
    if (!out.empty()) out += ", ";
    out += key;
    out += ' ';
    if (value.is_number_float())
      out += fmt::format("{:.7g}", value.get<double>());
    else if (value.is_string())
      out += value.get<std::string>();
    else
      out += io::dump_json(value);
  }
  return out;
}

}  // namespace bp::cli
