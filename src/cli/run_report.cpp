#include "cli/run_report.hpp"

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <nlohmann/json.hpp>

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
