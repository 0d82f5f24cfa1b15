// The JSON logger: one line per epoch, written and checked at the end of the epoch.
#include <nlohmann/json.hpp>

#include "backprop/error.hpp"
#include "backprop/io.hpp"
#include "backprop/train.hpp"
#include "io/json.hpp"

namespace bp::train {

JsonLogger::JsonLogger(const std::string& path, bool append) : path_(path) {
  try {
    if (append)
      io::check_appendable(path);
    else
      io::append_to_file(path, "", /*truncate=*/true);
  } catch (const Error& e) {
    fail("JSON log: {}", e.what());
  }
}

void JsonLogger::on_epoch_end(Trainer&, const EpochStats& s) {
  nlohmann::json j;
  j["epoch"] = s.epoch;
  j["train_loss"] = s.train_loss;
  j["train_accuracy"] = s.train_accuracy;
  for (const auto& [name, m] : s.evals) {
    j[name + "_loss"] = m.loss;
    if (m.classification) j[name + "_accuracy"] = m.accuracy;
  }
  j["seconds"] = s.seconds;
  j["samples_per_sec"] = s.samples_per_sec;
  j["lr"] = std::stod(fmt::format("{}", static_cast<float>(s.lr)));  // shortest float form
  // Each line is written and checked at once: a full disk stops the run with an error.
  try {
    io::append_to_file(path_, io::dump_json(j) + "\n");
  } catch (const Error& e) {
    fail("JSON log: {}", e.what());
  }
}

}  // namespace bp::train
