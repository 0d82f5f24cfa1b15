// `backprop generate`: continues a prompt with a text model, one character at a time.
#include <cstdio>
#include <memory>

#include "backprop/backprop.hpp"
#include "cli/commands.hpp"
#include "cli/flags.hpp"

namespace bp::cli {

namespace {

struct GenerateArgs {
  std::string model_file;
  std::string prompt;
  GenerateOptions options;
  bool greedy = false;
  int threads = 1;
};

int run_generate(GenerateArgs a) {
  set_num_threads(a.threads);
  const Model model = load_model(a.model_file);
  BP_CHECK(model.vocabulary.has_value(),
           "generate: {} is not a text model (train one on a text corpus: --data FILE.txt)",
           a.model_file);
  if (a.greedy) a.options.temperature = 0;
  const std::string text = generate_text(model, a.prompt, a.options);
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fputc('\n', stdout);
  return 0;
}

}  // namespace

Command add_generate_command(CLI::App& app) {
  auto a = std::make_shared<GenerateArgs>();
  CLI::App* cmd = app.add_subcommand(
      "generate", "continue a prompt with a text model (prints the generated characters)");
  cmd->add_option("--model-file", a->model_file, "a model trained on a text corpus")->required();
  cmd->add_option("--prompt", a->prompt,
                  "the text to continue (its characters must be in the "
                  "model's vocabulary)")
      ->required();
  cmd->add_option("--length", a->options.length, "characters to generate")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 24))
      ->capture_default_str();
  cmd->add_option("--temperature", a->options.temperature,
                  "divides the scores before sampling: lower is more conservative; 0 takes the "
                  "most likely character")
      ->check(in_range(0, 100))
      ->capture_default_str();
  cmd->add_option("--top-k", a->options.top_k,
                  "sample among the K most likely characters only (0: all)")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 24))
      ->capture_default_str();
  cmd->add_flag("--greedy", a->greedy, "always the most likely character (temperature 0)");
  cmd->add_option("--seed", a->options.seed, "the same seed gives the same text")
      ->capture_default_str();
  cmd->add_option("--threads", a->threads, "threads")->check(CLI::Range(0, 1024));
  return {cmd, [a] { return run_generate(*a); }};
}

}  // namespace bp::cli
