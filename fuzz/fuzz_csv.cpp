// libFuzzer target: read_csv_string on arbitrary text must either give a valid Dataset or throw
// bp::Error. The first input byte picks the options (header mode, delimiter, task, label column).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "backprop/data.hpp"
#include "backprop/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t selector = data[0];
  bp::data::CsvOptions options;
  options.header = static_cast<bp::data::CsvHeader>(selector % 3);
  constexpr char kDelimiters[] = {',', ';', '\t', ' '};
  options.delimiter = kDelimiters[(selector >> 2) % 4];
  options.task = (selector & 0x10) ? bp::data::Task::regression : bp::data::Task::classification;
  options.label_index = (selector & 0x20) ? 0 : -1;
  if (selector & 0x40) options.label_names = {"0", "1", "a"};
  if (selector & 0x80) options.label_column = "y";
  std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  try {
    bp::data::Dataset ds = bp::data::read_csv_string(text, options);
    ds.validate();
  } catch (const bp::Error&) {
  }
  return 0;
}
