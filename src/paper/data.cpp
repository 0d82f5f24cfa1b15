// The papers' data sets: the two family trees and the T and C shapes.
#include <algorithm>

#include "backprop/paper.hpp"

namespace bp::paper {

namespace {

enum Sex { male, female };
struct Person {
  const char* name;
  Sex sex;
  int spouse;          // index within the tree, -1: none
  int father, mother;  // -1: not in the tree
};

// One tree of 12; the Italian tree has the same shape (person k of one is person k of the other).
// English: Christopher = Penelope, Andrew = Christine; their children Arthur (= Margaret) and
// Victoria, James and Jennifer (= Charles); Victoria = James, whose children are Colin and
// Charlotte.
constexpr int kTree = 12;
const Person kEnglish[kTree] = {
    {"Christopher", male, 1, -1, -1}, {"Penelope", female, 0, -1, -1},
    {"Andrew", male, 3, -1, -1},      {"Christine", female, 2, -1, -1},
    {"Margaret", female, 5, -1, -1},  {"Arthur", male, 4, 0, 1},
    {"Victoria", female, 7, 0, 1},    {"James", male, 6, 2, 3},
    {"Jennifer", female, 9, 2, 3},    {"Charles", male, 8, -1, -1},
    {"Colin", male, -1, 7, 6},        {"Charlotte", female, -1, 7, 6},
};
const char* const kItalian[kTree] = {"Roberto", "Maria",  "Pierro",  "Francesca",
                                     "Gina",    "Emilio", "Lucia",   "Marco",
                                     "Angela",  "Tomaso", "Alfonso", "Sophia"};

enum Relation {
  father,
  mother,
  husband,
  wife,
  son,
  daughter,
  uncle,
  aunt,
  brother,
  sister,
  nephew,
  niece,
  kRelations
};

bool is_child_of(int c, int p) {
  return kEnglish[c].father == p || kEnglish[c].mother == p;
}
bool siblings(int a, int b) {
  return a != b && kEnglish[a].father >= 0 && kEnglish[a].father == kEnglish[b].father &&
         kEnglish[a].mother == kEnglish[b].mother;
}
// b is a sibling of a, or the spouse of a sibling of a.
bool sibling_or_in_law(int a, int b) {
  if (siblings(a, b)) return true;
  int s = kEnglish[b].spouse;
  return s >= 0 && siblings(a, s);
}

// Whether b stands in relation r to a ("b is a's r"), within one tree.
bool relates(int a, Relation r, int b) {
  const Person& pb = kEnglish[b];
  switch (r) {
    case father:
      return kEnglish[a].father == b;
    case mother:
      return kEnglish[a].mother == b;
    case husband:
      return kEnglish[a].spouse == b && pb.sex == male;
    case wife:
      return kEnglish[a].spouse == b && pb.sex == female;
    case son:
      return is_child_of(b, a) && pb.sex == male;
    case daughter:
      return is_child_of(b, a) && pb.sex == female;
    case brother:
      return siblings(a, b) && pb.sex == male;
    case sister:
      return siblings(a, b) && pb.sex == female;
    case uncle:
    case aunt: {
      bool parent_side = false;
      for (int parent : {kEnglish[a].father, kEnglish[a].mother})
        if (parent >= 0 && sibling_or_in_law(parent, b)) parent_side = true;
      return parent_side && pb.sex == (r == uncle ? male : female);
    }
    case nephew:
    case niece:
      return relates(b, kEnglish[a].sex == male ? uncle : aunt, a) &&
             pb.sex == (r == nephew ? male : female);
    case kRelations:
      break;
  }
  return false;
}

}  // namespace

const std::vector<std::string>& family_people() {
  static const std::vector<std::string> people = [] {
    std::vector<std::string> out;
    for (const Person& p : kEnglish) out.emplace_back(p.name);
    for (const char* name : kItalian) out.emplace_back(name);
    return out;
  }();
  return people;
}

const std::vector<std::string>& family_relations() {
  static const std::vector<std::string> relations = {"father",  "mother",   "husband", "wife",
                                                     "son",     "daughter", "uncle",   "aunt",
                                                     "brother", "sister",   "nephew",  "niece"};
  return relations;
}

std::vector<FamilyFact> family_facts() {
  std::vector<FamilyFact> facts;
  for (int tree = 0; tree < 2; ++tree)
    for (int a = 0; a < kTree; ++a)
      for (int r = 0; r < kRelations; ++r) {
        FamilyFact fact{tree * kTree + a, r, {}};
        for (int b = 0; b < kTree; ++b)
          if (relates(a, static_cast<Relation>(r), b)) fact.answers.push_back(tree * kTree + b);
        if (!fact.answers.empty()) facts.push_back(std::move(fact));
      }
  return facts;
}

std::vector<std::vector<float>> tc_shapes() {
  // Five squares each: the T's bar across the top with its stem down the middle; the C's back
  // down the left with two arms to the right.
  const std::vector<float> t = {1, 1, 1, 0, 1, 0, 0, 1, 0};
  const std::vector<float> c = {1, 1, 0, 1, 0, 0, 1, 1, 0};
  auto rotate = [](const std::vector<float>& g) {  // a quarter turn clockwise
    std::vector<float> r(9);
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 3; ++j)
        r[static_cast<size_t>(j * 3 + (2 - i))] = g[static_cast<size_t>(i * 3 + j)];
    return r;
  };
  std::vector<std::vector<float>> shapes;
  for (const auto& base : {t, c}) {
    std::vector<float> g = base;
    for (int k = 0; k < 4; ++k) {
      shapes.push_back(g);
      g = rotate(g);
    }
  }
  return shapes;
}

}  // namespace bp::paper
