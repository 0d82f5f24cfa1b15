// The settings of a command-line run, as rows for plot::Report.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace CLI {
class App;
}

namespace bp::cli {

// The command line (first row, "command"), then every option of `cmd` with the value given, or
// its default followed by " (default)"; options with neither are left out.
std::vector<std::pair<std::string, std::string>> option_settings(const CLI::App& cmd, int argc,
                                                                 const char* const* argv);

// A flat JSON object as "key value, key value, ...", floats to float precision (0.1, not
// 0.10000000149011612): the settings a run resolved, for the report.
std::string settings_text(const nlohmann::json& settings);

}  // namespace bp::cli
