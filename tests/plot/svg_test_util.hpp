// Reading back the SVG the plot functions write, for tests.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

namespace bp::testing {

// Every element named `tag` in `xml`, as attribute name → value (values as written, escaped).
inline std::vector<std::map<std::string, std::string>> elements(const std::string& xml,
                                                                const std::string& tag) {
  std::vector<std::map<std::string, std::string>> out;
  const std::string open = "<" + tag;
  for (size_t at = xml.find(open); at != std::string::npos; at = xml.find(open, at + 1)) {
    const size_t after = at + open.size();
    if (after >= xml.size() || (xml[after] != ' ' && xml[after] != '>' && xml[after] != '/'))
      continue;  // a longer name, such as <svgx
    const size_t end = xml.find('>', after);
    if (end == std::string::npos) break;
    std::map<std::string, std::string> attrs;
    // name="value" pairs; values never hold '"' (it is escaped as &quot;).
    for (size_t i = after; i < end;) {
      const size_t eq = xml.find("=\"", i);
      if (eq == std::string::npos || eq >= end) break;
      size_t name_start = xml.rfind(' ', eq);
      const std::string name = xml.substr(name_start + 1, eq - name_start - 1);
      const size_t close = xml.find('"', eq + 2);
      attrs[name] = xml.substr(eq + 2, close - eq - 2);
      i = close + 1;
    }
    out.push_back(std::move(attrs));
  }
  return out;
}

// The content of every <text> element, as written (escaped).
inline std::vector<std::string> texts(const std::string& xml) {
  std::vector<std::string> out;
  for (size_t at = xml.find("<text "); at != std::string::npos; at = xml.find("<text ", at + 1)) {
    const size_t start = xml.find('>', at) + 1;
    out.push_back(xml.substr(start, xml.find("</text>", start) - start));
  }
  return out;
}

// Expects `document` to parse as XML with Python's parser (the one outside this code base at hand
// on every test machine); `suffix` picks the file name's ending (".svg", ".html").
inline void expect_well_formed(const std::string& document, const std::string& suffix = ".svg") {
  namespace fs = std::filesystem;
  std::string tmpl = (fs::temp_directory_path() / "bp_xml_XXXXXX").string();
  int fd = ::mkstemp(tmpl.data());
  ASSERT_GE(fd, 0);
  ::close(fd);
  const std::string path = tmpl + suffix;
  fs::rename(tmpl, path);
  {
    std::ofstream out(path, std::ios::binary);
    out << document;
  }
  const std::string cmd =
      "/usr/bin/python3 -c 'import sys, xml.etree.ElementTree as E; E.parse(sys.argv[1])' '" +
      path + "' 2>&1";
  const int status = std::system(cmd.c_str());
  EXPECT_EQ(status, 0) << "not well-formed XML:\n" << document.substr(0, 2000);
  fs::remove(path);
}

}  // namespace bp::testing
