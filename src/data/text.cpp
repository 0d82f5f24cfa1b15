// Text corpora: characters (UTF-8 code points or bytes), their vocabulary, and next-token windows.
#include <algorithm>

#include "backprop/data.hpp"
#include "backprop/error.hpp"
#include "data/file_util.hpp"

namespace bp::data {

namespace {

constexpr uint32_t kMaxCodePoint = 0x10FFFF;

bool is_surrogate(uint32_t c) {
  return c >= 0xD800 && c <= 0xDFFF;
}

// Decodes the code point that starts at text[at], advancing `at` past it. The lead byte gives the
// length; each continuation byte is 10xxxxxx; a value that fits a shorter form (overlong), a
// surrogate or one above U+10FFFF is invalid. Throws bp::Error naming the byte offset.
uint32_t next_code_point(std::string_view text, size_t& at, const std::string& name) {
  const auto lead = static_cast<unsigned char>(text[at]);
  BP_CHECK_AS(FormatError, lead != 0,
              "{}: a NUL byte at byte {}: this looks like a binary file, not UTF-8 text (read it "
              "as bytes instead)",
              name, at);
  if (lead < 0x80) return text[at++];
  int length = 0;
  uint32_t c = 0, min = 0;
  if ((lead & 0xE0) == 0xC0) {
    length = 2, c = lead & 0x1Fu, min = 0x80;
  } else if ((lead & 0xF0) == 0xE0) {
    length = 3, c = lead & 0x0Fu, min = 0x800;
  } else if ((lead & 0xF8) == 0xF0) {
    length = 4, c = lead & 0x07u, min = 0x10000;
  }
  const bool whole = length > 0 && at + static_cast<size_t>(length) <= text.size();
  for (int k = 1; whole && k < length; ++k) {
    const auto b = static_cast<unsigned char>(text[at + static_cast<size_t>(k)]);
    if ((b & 0xC0) != 0x80) {
      length = -1;
      break;
    }
    c = (c << 6) | (b & 0x3Fu);
  }
  BP_CHECK_AS(FormatError,
              whole && length > 0 && c >= min && c <= kMaxCodePoint && !is_surrogate(c),
              "{}: invalid UTF-8 at byte {} (byte 0x{:02x}): not a text file, or not UTF-8 (read "
              "it as bytes instead)",
              name, at, lead);
  at += static_cast<size_t>(length);
  return c;
}

void append_utf8(std::string& out, uint32_t c) {
  if (c < 0x80) {
    out += static_cast<char>(c);
  } else if (c < 0x800) {
    out += static_cast<char>(0xC0 | (c >> 6));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    out += static_cast<char>(0xE0 | (c >> 12));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (c >> 18));
    out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  }
}

bool valid_symbol(uint32_t s, TokenKind kind) {
  return kind == TokenKind::bytes ? s <= 0xFF : s <= kMaxCodePoint && !is_surrogate(s);
}

}  // namespace

std::vector<uint32_t> text_symbols(std::string_view text, TokenKind kind, const std::string& name) {
  std::vector<uint32_t> out;
  out.reserve(text.size());
  if (kind == TokenKind::bytes) {
    for (char c : text) out.push_back(static_cast<unsigned char>(c));
    return out;
  }
  for (size_t at = 0; at < text.size();) out.push_back(next_code_point(text, at, name));
  return out;
}

std::vector<uint32_t> read_text(const std::string& path, TokenKind kind) {
  const std::vector<uint8_t> bytes = detail::read_file_bytes(path, "text", kMaxTextBytes);
  BP_CHECK_AS(FormatError, !bytes.empty(), "text: {} is empty", path);
  return text_symbols(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()),
                      kind, path);
}

std::string symbols_text(std::span<const uint32_t> symbols, TokenKind kind) {
  std::string out;
  for (uint32_t s : symbols) {
    BP_CHECK_AS(ValueError, valid_symbol(s, kind), "symbols_text: {} is not a {}", s,
                kind == TokenKind::bytes ? "byte" : "Unicode code point");
    if (kind == TokenKind::bytes)
      out += static_cast<char>(s);
    else
      append_utf8(out, s);
  }
  return out;
}

Vocabulary Vocabulary::of(std::span<const uint32_t> symbols, TokenKind kind) {
  Vocabulary v;
  v.kind = kind;
  v.symbols.assign(symbols.begin(), symbols.end());
  std::sort(v.symbols.begin(), v.symbols.end());
  v.symbols.erase(std::unique(v.symbols.begin(), v.symbols.end()), v.symbols.end());
  v.validate();
  return v;
}

int64_t Vocabulary::id(uint32_t symbol) const {
  const auto it = std::lower_bound(symbols.begin(), symbols.end(), symbol);
  return it != symbols.end() && *it == symbol ? (it - symbols.begin()) + 1 : 0;
}

std::vector<int64_t> Vocabulary::ids(std::span<const uint32_t> text) const {
  std::vector<int64_t> out(text.size());
  std::transform(text.begin(), text.end(), out.begin(), [this](uint32_t s) { return id(s); });
  return out;
}

uint32_t Vocabulary::symbol(int64_t id) const {
  BP_CHECK_AS(ValueError, id >= 1 && id < size(),
              "Vocabulary: id {} is not a character (ids 1..{}; 0 is the unknown token)", id,
              size() - 1);
  return symbols[static_cast<size_t>(id - 1)];
}

void Vocabulary::validate() const {
  for (size_t i = 0; i < symbols.size(); ++i) {
    BP_CHECK_AS(FormatError, valid_symbol(symbols[i], kind), "Vocabulary: {} is not a {}",
                symbols[i], kind == TokenKind::bytes ? "byte" : "Unicode code point");
    BP_CHECK_AS(FormatError, i == 0 || symbols[i - 1] < symbols[i],
                "Vocabulary: symbols must be strictly increasing, got {} after {}", symbols[i],
                symbols[i - 1]);
  }
}

Dataset text_windows(std::span<const int64_t> ids, int64_t seq_len, int64_t vocab_size) {
  const auto n = static_cast<int64_t>(ids.size());
  BP_CHECK_AS(ValueError, seq_len > 0, "text_windows: the window length must be positive, got {}",
              seq_len);
  BP_CHECK_AS(ValueError, n > seq_len,
              "text_windows: windows of {} characters need at least {} (a target after each), "
              "the text has {}",
              seq_len, seq_len + 1, n);
  for (size_t i = 0; i < ids.size(); ++i)
    BP_CHECK_AS(ValueError, ids[i] >= 0 && ids[i] < vocab_size,
                "text_windows: token {} at position {} is outside [0, {})", ids[i], i, vocab_size);
  const int64_t windows = (n - 1) / seq_len;
  Dataset d;
  d.task = Task::classification;
  d.feature_shape = {seq_len};
  d.features = Tensor::empty({windows, seq_len});
  d.labels.resize(static_cast<size_t>(windows * seq_len));
  d.labels_per_sample = seq_len;
  d.num_classes = vocab_size;
  for (int64_t i = 0; i < windows * seq_len; ++i) {
    d.features.data()[i] = static_cast<float>(ids[static_cast<size_t>(i)]);
    d.labels[static_cast<size_t>(i)] = ids[static_cast<size_t>(i + 1)];
  }
  return d;
}

}  // namespace bp::data
