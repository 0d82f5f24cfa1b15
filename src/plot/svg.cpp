// The SVG builder under every picture.
#include <algorithm>
#include <cmath>

#include "backprop/error.hpp"
#include "backprop/io.hpp"
#include "backprop/plot.hpp"
#include "plot/plot_internal.hpp"

namespace bp::plot {

std::string xml_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        // Control characters other than tab and newline are not allowed in XML 1.0.
        if (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n')
          out += ' ';
        else
          out += c;
    }
  }
  return out;
}

std::string num(double v) {
  if (!std::isfinite(v)) return "0";
  std::string s = fmt::format("{:.2f}", v);
  while (!s.empty() && s.back() == '0') s.pop_back();
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s == "-0" ? "0" : s;
}

namespace {

// #rgb or #rrggbb as bytes; false for anything else ("none", names).
bool parse_colour(std::string_view fill, unsigned char rgb[3]) {
  auto hex = [](char c) {
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
  };
  if (fill.empty() || fill[0] != '#' || (fill.size() != 4 && fill.size() != 7)) return false;
  const bool shrt = fill.size() == 4;
  for (int i = 0; i < 3; ++i) {
    const int hi = hex(fill[static_cast<size_t>(shrt ? 1 + i : 1 + 2 * i)]);
    const int lo = hex(fill[static_cast<size_t>(shrt ? 1 + i : 2 + 2 * i)]);
    if (hi < 0 || lo < 0) return false;
    rgb[i] = static_cast<unsigned char>(16 * hi + lo);
  }
  return true;
}

std::string class_attr(std::string_view cls) {
  return cls.empty() ? std::string() : fmt::format(" class=\"{}\"", xml_escape(cls));
}

}  // namespace

Svg::Svg(double width, double height) : width_(width), height_(height) {
  BP_CHECK(std::isfinite(width) && std::isfinite(height) && width > 0 && height > 0,
           "svg: size {}x{} is not positive", width, height);
}

void Svg::rect(double x, double y, double w, double h, std::string_view fill, std::string_view cls,
               std::string_view stroke, double stroke_width) {
  body_ += fmt::format("<rect{} x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\"",
                       class_attr(cls), num(x), num(y), num(w), num(h), xml_escape(fill));
  if (!stroke.empty())
    body_ +=
        fmt::format(" stroke=\"{}\" stroke-width=\"{}\"", xml_escape(stroke), num(stroke_width));
  body_ += "/>\n";
  unsigned char rgb[3];
  if (w > 0 && h > 0 && parse_colour(fill, rgb))
    boxes_.push_back({x, y, w, h, rgb[0], rgb[1], rgb[2]});
}

void Svg::line(double x1, double y1, double x2, double y2, std::string_view stroke,
               double stroke_width, std::string_view dash) {
  body_ +=
      fmt::format("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{}\" stroke-width=\"{}\"",
                  num(x1), num(y1), num(x2), num(y2), xml_escape(stroke), num(stroke_width));
  if (!dash.empty()) body_ += fmt::format(" stroke-dasharray=\"{}\"", xml_escape(dash));
  body_ += "/>\n";
}

void Svg::polyline(std::span<const std::pair<double, double>> points, std::string_view stroke,
                   double stroke_width, std::string_view cls) {
  std::string pts;
  for (const auto& [x, y] : points) {
    if (!pts.empty()) pts += ' ';
    pts += num(x);
    pts += ',';
    pts += num(y);
  }
  body_ += fmt::format(
      "<polyline{} points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"{}\" "
      "stroke-linejoin=\"round\"/>\n",
      class_attr(cls), pts, xml_escape(stroke), num(stroke_width));
}

void Svg::circle(double cx, double cy, double r, std::string_view fill, std::string_view cls) {
  body_ += fmt::format("<circle{} cx=\"{}\" cy=\"{}\" r=\"{}\" fill=\"{}\"/>\n", class_attr(cls),
                       num(cx), num(cy), num(r), xml_escape(fill));
}

void Svg::text(double x, double y, std::string_view text, const TextStyle& style) {
  body_ += fmt::format("<text x=\"{}\" y=\"{}\" font-size=\"{}\" fill=\"{}\"", num(x), num(y),
                       num(style.size), xml_escape(style.fill));
  if (style.anchor != "start")
    body_ += fmt::format(" text-anchor=\"{}\"", xml_escape(style.anchor));
  if (style.bold) body_ += " font-weight=\"bold\"";
  if (style.centered) body_ += " dominant-baseline=\"central\"";
  if (style.rotate != 0)
    body_ += fmt::format(" transform=\"rotate({} {} {})\"", num(style.rotate), num(x), num(y));
  body_ += '>';
  body_ += xml_escape(text);
  body_ += "</text>\n";
}

void Svg::place(const Svg& other, double x, double y) {
  body_ += fmt::format("<g transform=\"translate({} {})\">\n", num(x), num(y));
  body_ += other.body_;
  body_ += "</g>\n";
  for (Box b : other.boxes_) {
    b.x += x;
    b.y += y;
    boxes_.push_back(b);
  }
}

std::string Svg::str() const {
  return fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} "
      "{1}\" font-family=\"Helvetica, Arial, sans-serif\">\n{2}</svg>\n",
      num(width_), num(height_), body_);
}

std::vector<unsigned char> Svg::png(double scale) const {
  BP_CHECK(std::isfinite(scale) && scale > 0 && scale <= 16,
           "png: scale must be in (0, 16], got {}", scale);
  const auto w = static_cast<int64_t>(std::ceil(width_ * scale));
  const auto h = static_cast<int64_t>(std::ceil(height_ * scale));
  BP_CHECK(w * h <= (int64_t{1} << 26), "png: {}x{} pixels are too many", w, h);
  std::vector<float> image(static_cast<size_t>(w * h * 3), 255.0f);
  for (const Box& b : boxes_) {
    // Each pixel takes the colour in proportion to the share of it the rectangle covers.
    const double x0 = std::max(0.0, b.x * scale),
                 x1 = std::min(static_cast<double>(w), (b.x + b.w) * scale);
    const double y0 = std::max(0.0, b.y * scale),
                 y1 = std::min(static_cast<double>(h), (b.y + b.h) * scale);
    if (!(x1 > x0 && y1 > y0)) continue;
    const unsigned char colour[3] = {b.r, b.g, b.b};
    for (auto py = static_cast<int64_t>(y0); static_cast<double>(py) < y1; ++py) {
      const double cy =
          std::min(static_cast<double>(py + 1), y1) - std::max(static_cast<double>(py), y0);
      for (auto px = static_cast<int64_t>(x0); static_cast<double>(px) < x1; ++px) {
        const double cx =
            std::min(static_cast<double>(px + 1), x1) - std::max(static_cast<double>(px), x0);
        const auto a = static_cast<float>(cx * cy);
        float* p = &image[static_cast<size_t>((py * w + px) * 3)];
        for (int c = 0; c < 3; ++c) p[c] = p[c] * (1 - a) + static_cast<float>(colour[c]) * a;
      }
    }
  }
  std::vector<unsigned char> rgb(image.size());
  for (size_t i = 0; i < image.size(); ++i)
    rgb[i] = static_cast<unsigned char>(std::lround(std::clamp(image[i], 0.0f, 255.0f)));
  return encode_png(w, h, rgb);
}

void Svg::save_png(const std::string& path, double scale) const {
  io::write_file_atomic(path, png(scale));
}

void Svg::save(const std::string& path) const {
  io::write_file_atomic(path, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" + str());
}

}  // namespace bp::plot
