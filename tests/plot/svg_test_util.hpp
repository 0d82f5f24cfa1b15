// Reading back the SVG the plot functions write, for tests.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <string>
#include <vector>

namespace bp::testing {

// Every element named `tag` in `xml`, as attribute name → value (values as written, escaped).
inline std::vector<std::map<std::string, std::string>> elements(const std::string& xml,
                                                                const std::string& tag) {
  std::vector<std::map<std::string, std::string>> out;
  const std::regex element("<" + tag + R"(\b([^>]*)>)");
  const std::regex attribute(R"re(([a-zA-Z_:-]+)="([^"]*)")re");
  for (auto it = std::sregex_iterator(xml.begin(), xml.end(), element); it != std::sregex_iterator();
       ++it) {
    std::map<std::string, std::string> attrs;
    const std::string inside = (*it)[1];
    for (auto a = std::sregex_iterator(inside.begin(), inside.end(), attribute);
         a != std::sregex_iterator(); ++a)
      attrs[(*a)[1]] = (*a)[2];
    out.push_back(std::move(attrs));
  }
  return out;
}

// The text content of every <text> element, unescaped by the XML parser's rules for &lt; etc.
inline std::vector<std::string> texts(const std::string& xml) {
  std::vector<std::string> out;
  const std::regex text(R"(<text\b[^>]*>([^<]*)</text>)");
  for (auto it = std::sregex_iterator(xml.begin(), xml.end(), text); it != std::sregex_iterator();
       ++it)
    out.push_back((*it)[1]);
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
