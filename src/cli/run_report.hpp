// The settings of a command-line run, as rows for plot::Report.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "backprop/train.hpp"

namespace CLI {
class App;
}

namespace bp::cli {

// The command line (first row, "command"), then every option of `cmd` with the value given, or
// its default followed by " (default)"; options with neither are left out.
std::vector<std::pair<std::string, std::string>> option_settings(const CLI::App& cmd, int argc,
                                                                 const char* const* argv);

// Epoch statistics as JSON (without confusion matrices, precision and recall: only the last
// epoch's are drawn, and the last epoch is always the current run's), so that a checkpoint can
// carry the history of the epochs before it into the pictures of a resumed run; and back.
// history_from_json throws bp::Error on a malformed history.
nlohmann::json history_to_json(const std::vector<train::EpochStats>& history);
std::vector<train::EpochStats> history_from_json(const nlohmann::json& history);

// A flat JSON object as "key value, key value, ...", floats to float precision (0.1, not
// 0.10000000149011612): the settings a run resolved, for the report.
std::string settings_text(const nlohmann::json& settings);

}  // namespace bp::cli
