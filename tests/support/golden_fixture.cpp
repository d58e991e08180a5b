#include "support/golden_fixture.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "support/test_data.h"

namespace autoglm::test {

GoldenFixture load_golden(const std::string& name) {
  GoldenFixture f;
  f.name = name;
  f.dir = fixture_dir(name);
  std::ifstream in(f.dir + "/golden.json");
  if (!in) throw std::runtime_error("missing " + f.dir + "/golden.json");
  const nlohmann::json j = nlohmann::json::parse(in);
  f.architecture = j.at("arch").get<std::string>();
  for (const auto& p : j.at("prompts")) {
    GoldenPrompt g;
    g.ids = p.at("ids").get<std::vector<int32_t>>();
    g.logits = p.at("logits").get<std::vector<float>>();
    g.logits_f64 = p.at("logits_f64").get<std::vector<float>>();
    g.greedy = p.at("greedy").get<std::vector<int32_t>>();
    f.prompts.push_back(std::move(g));
  }
  return f;
}

}  // namespace autoglm::test
