// Reading and writing JSON that comes from files or users: nesting bounded before the parser
// runs, and every failure a bp::Error in our words, naming what was read and which field. The JSON
// library's own exception text never reaches a user. Internal; header-only, so that the
// command-line program shares it without new library symbols.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "backprop/error.hpp"

namespace bp::io {

// Deepest nesting of arrays and objects accepted; the documents we read need 3 or 4 levels.
inline constexpr size_t kMaxJsonNesting = 64;

// Line and column (1-based) of byte `offset` of `text`, for messages.
inline std::string json_position(std::string_view text, size_t offset) {
  offset = std::min(offset, text.size());
  size_t line = 1, column = 1;
  for (size_t i = 0; i < offset; ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  return fmt::format("line {}, column {}", line, column);
}

// Throws unless every bracket outside strings nests at most kMaxJsonNesting deep. One linear pass:
// it runs before the parser, whose recursion (and that of dump and the destructor) would
// otherwise follow a hostile file's depth.
inline void check_json_nesting(std::string_view text, const std::string& what) {
  size_t depth = 0;
  bool in_string = false, escaped = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonNesting)
        fail_as<FormatError>("{}: JSON nested deeper than the limit of {} levels at {}", what,
                             kMaxJsonNesting, json_position(text, i));
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
}

// Parses untrusted JSON. Throws bp::Error "<what>: invalid JSON ..." naming the line and column
// of a syntax error, or the nesting limit.
inline nlohmann::json parse_json(std::string_view text, const std::string& what) {
  check_json_nesting(text, what);
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    const size_t at = e.byte > 0 ? e.byte - 1 : 0;
    fail_as<FormatError>("{}: invalid JSON: syntax error at {} (byte {} of {})", what,
                         json_position(text, at), at, text.size());
  } catch (const nlohmann::json::exception&) {
    fail_as<FormatError>("{}: invalid JSON", what);
  }
}

// The JSON text of `value`. Strings that are not valid UTF-8 (a path, say) have their bad bytes
// replaced by U+FFFD instead of making the dump throw.
inline std::string dump_json(const nlohmann::json& value, int indent = -1) {
  return value.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

// What a field of type T must be, for messages.
template <class T>
const char* json_type_description() {
  if constexpr (std::is_same_v<T, std::string>)
    return "a string";
  else if constexpr (std::is_same_v<T, bool>)
    return "true or false";
  else if constexpr (std::is_integral_v<T>)
    return "an integer";
  else if constexpr (std::is_floating_point_v<T>)
    return "a number";
  else if constexpr (std::is_same_v<T, std::vector<std::string>>)
    return "an array of strings";
  else if constexpr (std::is_same_v<T, std::vector<double>>)
    return "an array of numbers";
  else
    return "an array of integers";
}

// True when `value` holds a T (integers for an integral T, any number for a floating one).
template <class T>
bool json_holds(const nlohmann::json& value) {
  if constexpr (std::is_same_v<T, std::string>)
    return value.is_string();
  else if constexpr (std::is_same_v<T, bool>)
    return value.is_boolean();
  else if constexpr (std::is_integral_v<T>)
    return value.is_number_integer();
  else if constexpr (std::is_floating_point_v<T>)
    return value.is_number();
  else {
    if (!value.is_array()) return false;
    for (const auto& item : value)
      if (!json_holds<typename T::value_type>(item)) return false;
    return true;
  }
}

// object[key] as a T. Throws bp::Error "<what>: field '<key>' is missing" or "... must be <type>,
// got <type>" when the object lacks the field or it holds something else.
template <class T>
T json_field(const nlohmann::json& object, const char* key, const std::string& what) {
  BP_CHECK_AS(FormatError, object.is_object(), "{}: expected a JSON object, got {}", what,
              object.type_name());
  const auto it = object.find(key);
  BP_CHECK_AS(FormatError, it != object.end(), "{}: field '{}' is missing", what, key);
  BP_CHECK_AS(FormatError, json_holds<T>(*it), "{}: field '{}' must be {}, got {}", what, key,
              json_type_description<T>(), it->type_name());
  return it->template get<T>();
}

}  // namespace bp::io
