// libFuzzer target: arbitrary bytes as a text corpus must either give characters whose vocabulary,
// windows and round trip through symbols_text are consistent, or throw bp::Error. The first input
// byte picks code points or bytes and the window length.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "backprop/data.hpp"
#include "backprop/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const auto kind = (data[0] & 1) ? bp::data::TokenKind::bytes : bp::data::TokenKind::code_points;
  const int64_t seq_len = 1 + (data[0] >> 1) % 16;
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  try {
    const std::vector<uint32_t> symbols = bp::data::text_symbols(text, kind, "fuzz");
    if (bp::data::symbols_text(symbols, kind) != text) std::abort();
    const auto vocabulary = bp::data::Vocabulary::of(symbols, kind);
    const std::vector<int64_t> ids = vocabulary.ids(symbols);
    for (size_t i = 0; i < ids.size(); ++i)
      if (ids[i] == 0 || vocabulary.symbol(ids[i]) != symbols[i]) std::abort();
    if (static_cast<int64_t>(ids.size()) > seq_len)
      bp::data::text_windows(ids, seq_len, vocabulary.size()).validate();
  } catch (const bp::Error&) {
  }
  return 0;
}
