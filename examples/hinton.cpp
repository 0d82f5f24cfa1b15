// Hinton diagrams of a saved model's weights, as in Rumelhart, Hinton & Williams (1986): one SVG
// (and a PNG of its squares) per dense or convolution layer, a panel per unit (its incoming
// weights, its bias apart), white squares for positive weights, black for negative, area
// proportional to |w|. A first dense layer on images, and every convolution filter, is drawn as an
// image.
//
//   hinton MODEL.bp OUT_DIR [MAX_UNITS=36]
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "backprop/backprop.hpp"

int main(int argc, char** argv) {
  using namespace bp;
  if (argc < 3 || argc > 4) {
    std::fprintf(stderr, "usage: %s MODEL.bp OUT_DIR [MAX_UNITS=36]\n", argv[0]);
    return 2;
  }
  try {
    NoGradGuard no_grad;
    const Model model = load_model(argv[1]);
    const std::string dir = argv[2];
    const long max_units = argc == 4 ? std::strtol(argv[3], nullptr, 10) : 36;
    BP_CHECK(max_units > 0, "MAX_UNITS must be a positive number, got '{}'", argv[3]);
    plot::make_plot_dir(dir);
    Shape shape = model.input_shape;
    for (size_t i = 0; i < model.network->size(); ++i) {
      nn::Module& layer = (*model.network)[i];
      const Shape in = shape;
      shape = layer.output_shape(shape);
      Tensor weight, bias;
      for (const auto& [name, t] : layer.named_parameters()) {
        if (name == "weight") weight = t;
        if (name == "bias") bias = t;
      }
      if (!weight.defined() || (weight.dim() != 2 && weight.dim() != 4)) continue;
      const int64_t units = weight.size(0);
      const int64_t inputs = weight.numel() / units;
      std::pair<int64_t, int64_t> grid{1, inputs};
      if (weight.dim() == 4)  // a filter: its input channels stacked, each kh × kw
        grid = {weight.size(1) * weight.size(2), weight.size(3)};
      else if (in.size() >= 2 && numel(in) == inputs)  // a dense layer on images
        grid = {inputs / in.back(), in.back()};
      const int64_t shown = std::min<int64_t>(units, max_units);
      Tensor w = slice(weight.reshape({units, inputs}), 0, 0, shown);
      Tensor b = bias.defined() ? slice(bias, 0, 0, shown) : Tensor();
      const double cell =
          std::clamp(240.0 / static_cast<double>(std::max(grid.first, grid.second)), 4.0, 24.0);
      const std::string title = fmt::format("layer {}: {} ({} of {} units)", i + 1,
                                            nn::to_string({model.spec[i]}), shown, units);
      const std::string path =
          (std::filesystem::path(dir) / fmt::format("layer{}", i + 1)).string();
      const plot::Svg svg = plot::hinton(plot::unit_panels(w, b.defined() ? &b : nullptr, grid),
                                         {.title = title, .cell = cell});
      svg.save(path + ".svg");
      svg.save_png(path + ".png", 2);  // the squares only: PNG has no text
      std::printf("%s.svg %s.png\n", path.c_str(), path.c_str());
    }
  } catch (const Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
