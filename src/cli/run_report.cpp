#include "cli/run_report.hpp"

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <nlohmann/json.hpp>

#include "backprop/error.hpp"

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
  std::vector<train::EpochStats> out;
  try {
    for (const auto& e : history) {
      train::EpochStats s;
      s.epoch = e.at("epoch").get<int64_t>();
      s.train_loss = e.at("train_loss").get<double>();
      s.train_accuracy = e.at("train_accuracy").get<double>();
      s.seconds = e.at("seconds").get<double>();
      s.samples_per_sec = e.at("samples_per_sec").get<double>();
      s.lr = e.at("lr").get<double>();
      for (const auto& v : e.at("evals")) {
        train::Metrics m;
        m.loss = v.at("loss").get<double>();
        m.accuracy = v.at("accuracy").get<double>();
        m.samples = v.at("samples").get<int64_t>();
        s.evals.emplace_back(v.at("name").get<std::string>(), std::move(m));
      }
      out.push_back(std::move(s));
    }
  } catch (const nlohmann::json::exception& e) {
    fail("--resume: the checkpoint's training history is malformed ({})", e.what());
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
      out += value.dump();
  }
  return out;
}

}  // namespace bp::cli
