// Scores of a model: the loss of a batch, and the metrics of a whole dataset.
#include <optional>

#include "backprop/distributed.hpp"
#include "backprop/error.hpp"
#include "backprop/train.hpp"

namespace bp::train {

Tensor batch_loss(Loss loss, const Tensor& outputs, const data::Batch& batch) {
  if (loss == Loss::cross_entropy) {
    BP_CHECK(!batch.labels.empty() || batch.size() == 0,
             "loss: cross_entropy needs class labels; the data has regression targets (use mse)");
    const int64_t k = batch.labels_per_sample;
    if (k == 1) {
      BP_CHECK(outputs.dim() == 2,
               "loss: cross_entropy needs outputs of shape (batch, classes), got {}; "
               "end the model with a dense layer of one unit per class",
               to_string(outputs.shape()));
      return cross_entropy(outputs, batch.labels);
    }
    // A label per position: the mean over every position of every sample.
    BP_CHECK(outputs.dim() == 3 && outputs.size(1) == k,
             "loss: {} labels per sample need outputs of shape (batch, {}, classes), got {}; end "
             "the model with a recurrent layer with sequences=true (or attention) and a dense "
             "layer of one unit per class",
             k, k, to_string(outputs.shape()));
    return cross_entropy(outputs.reshape({outputs.size(0) * k, outputs.size(2)}), batch.labels);
  }
  BP_CHECK(batch.targets.defined(),
           "loss: regression losses need float targets; the data has class labels (use "
           "cross_entropy)");
  BP_CHECK(outputs.shape() == batch.targets.shape(),
           "loss: model outputs of shape {} do not match targets of shape {}",
           to_string(outputs.shape()), to_string(batch.targets.shape()));
  switch (loss) {
    case Loss::mse:
      return mse_loss(outputs, batch.targets);
    case Loss::l1:
      return l1_loss(outputs, batch.targets);
    case Loss::huber:
      return huber_loss(outputs, batch.targets);
    case Loss::cross_entropy:
      break;
  }
  fail("loss: unknown loss");
}

namespace {

// Per-class counts of an evaluation, linear in the classes: hits[c] (true and predicted c),
// actual[c] (true c), predicted[c] (predicted c), and the confusion matrix when it is small
// enough to keep. All counts live in one vector, so ranks add them up in one call.
class ClassCounts {
 public:
  explicit ClassCounts(int64_t classes)
      : classes_(static_cast<size_t>(classes)),
        keep_matrix_(classes <= kMaxConfusionClasses),
        counts_(2 + 3 * classes_ + (keep_matrix_ ? classes_ * classes_ : 0), 0) {}

  void add(int64_t truth, int64_t predicted) {
    const auto t = static_cast<size_t>(truth), p = static_cast<size_t>(predicted);
    counts_[1] += truth == predicted;
    counts_[2 + t] += truth == predicted;
    counts_[2 + classes_ + t]++;
    counts_[2 + 2 * classes_ + p]++;
    if (keep_matrix_) counts_[2 + 3 * classes_ + t * classes_ + p]++;
  }
  void add_samples(int64_t n) { counts_[0] += n; }
  // Every prediction counted, several per sample when samples have a label per position.
  int64_t predictions() const {
    int64_t total = 0;
    for (size_t c = 0; c < classes_; ++c) total += counts_[2 + classes_ + c];
    return total;
  }
  std::vector<int64_t>& all() { return counts_; }
  int64_t samples() const { return counts_[0]; }

  // Fills the classification fields of `m` (samples are set by the caller).
  void fill(Metrics& m) const {
    m.classification = true;
    m.accuracy = static_cast<double>(counts_[1]) / static_cast<double>(predictions());
    m.precision.assign(classes_, 0.0);
    m.recall.assign(classes_, 0.0);
    m.support.assign(classes_, 0);
    for (size_t c = 0; c < classes_; ++c) {
      const auto hit = static_cast<double>(counts_[2 + c]);
      const int64_t actual = counts_[2 + classes_ + c], predicted = counts_[2 + 2 * classes_ + c];
      m.support[c] = actual;
      if (predicted) m.precision[c] = hit / static_cast<double>(predicted);
      if (actual) m.recall[c] = hit / static_cast<double>(actual);
    }
    if (!keep_matrix_) return;
    const auto* cell = counts_.data() + 2 + 3 * classes_;
    m.confusion.assign(classes_, {});
    for (size_t t = 0; t < classes_; ++t)
      m.confusion[t].assign(cell + t * classes_, cell + (t + 1) * classes_);
  }

 private:
  size_t classes_;
  bool keep_matrix_;
  std::vector<int64_t> counts_;  // samples, correct, hits, actual, predicted[, matrix]
};

// This rank's contiguous share of `dataset` when there are several ranks.
data::Dataset rank_share(const data::Dataset& dataset, distributed::Communicator& communicator) {
  const int64_t n = dataset.size(), r = communicator.rank(), ranks = communicator.size();
  std::vector<int64_t> rows;
  for (int64_t i = r * n / ranks; i < (r + 1) * n / ranks; ++i) rows.push_back(i);
  return data::subset(dataset, rows);
}

// Puts a model in eval mode for a scope, and back in its mode after (an error included).
class EvalMode {
 public:
  explicit EvalMode(nn::Module& model) : model_(model), was_training_(model.is_training()) {
    model.eval();
  }
  ~EvalMode() { model_.train(was_training_); }
  EvalMode(const EvalMode&) = delete;
  EvalMode& operator=(const EvalMode&) = delete;

 private:
  nn::Module& model_;
  bool was_training_;
};

// Runs `model` over `part` of `dataset` in batches; returns the loss summed over its samples, and
// counts them in `counts` (with their classes, when the task is classification).
double score(nn::Module& model, const data::Dataset& dataset, const data::Dataset& part, Loss loss,
             int64_t batch_size, ClassCounts& counts) {
  const bool classify = dataset.task == data::Task::classification;
  EvalMode eval(model);
  NoGradGuard no_grad;
  double loss_sum = 0;
  if (part.size() == 0) return loss_sum;
  data::DataLoader loader(part, data::LoaderOptions{.batch_size = batch_size});
  loader.start_epoch(0);
  data::Batch batch;
  while (loader.next(batch)) {
    Tensor out = model.forward(batch.features);
    loss_sum += static_cast<double>(batch_loss(loss, out, batch).item()) *
                static_cast<double>(batch.size());
    if (classify) {
      std::vector<int64_t> predicted = argmax(out, -1);
      for (size_t i = 0; i < predicted.size(); ++i) {
        BP_CHECK(predicted[i] < dataset.num_classes,
                 "evaluate: the model has more outputs ({}) than the data has classes ({})",
                 out.size(-1), dataset.num_classes);
        counts.add(batch.labels[i], predicted[i]);
      }
    }
    counts.add_samples(batch.size());
  }
  return loss_sum;
}

}  // namespace

Metrics evaluate(nn::Module& model, const data::Dataset& dataset, Loss loss, int64_t batch_size,
                 distributed::Communicator* communicator) {
  Metrics m;
  if (dataset.size() == 0) return m;
  const int64_t ranks = communicator ? communicator->size() : 1;
  data::Dataset shard;
  if (ranks > 1) shard = rank_share(dataset, *communicator);
  const bool classify = dataset.task == data::Task::classification;
  ClassCounts counts(classify ? dataset.num_classes : 0);
  double loss_sum = score(model, dataset, ranks > 1 ? shard : dataset, loss, batch_size, counts);
  if (ranks > 1) {
    communicator->sum(std::span<double>(&loss_sum, 1));
    communicator->sum(counts.all());
  }
  m.samples = counts.samples();
  m.loss = loss_sum / static_cast<double>(m.samples);
  if (classify) counts.fill(m);
  return m;
}

const Metrics* EpochStats::eval(const std::string& name) const {
  for (const auto& [n, m] : evals)
    if (n == name) return &m;
  return nullptr;
}

}  // namespace bp::train
