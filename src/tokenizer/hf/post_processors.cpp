#include "tokenizer/hf/post_processors.h"

#include <optional>

namespace autoglm::hf {
namespace {

constexpr int kMaxNesting = 32;

class TemplatePostProcessor final : public PostProcessor {
 public:
  TemplatePostProcessor(std::vector<int32_t> prefix, std::vector<int32_t> suffix)
      : prefix_(std::move(prefix)), suffix_(std::move(suffix)) {}
  void add_special_tokens(std::vector<int32_t>& ids) const override {
    ids.insert(ids.begin(), prefix_.begin(), prefix_.end());
    ids.insert(ids.end(), suffix_.begin(), suffix_.end());
  }
  std::vector<int32_t> prefix() const override { return prefix_; }

 private:
  std::vector<int32_t> prefix_;
  std::vector<int32_t> suffix_;
};

// A template with the sequence in the middle of other items, or several times: general form.
class GeneralTemplatePostProcessor final : public PostProcessor {
 public:
  // An item is a list of ids, or the sequence (nullopt).
  explicit GeneralTemplatePostProcessor(std::vector<std::optional<std::vector<int32_t>>> items)
      : items_(std::move(items)) {}
  void add_special_tokens(std::vector<int32_t>& ids) const override {
    std::vector<int32_t> out;
    out.reserve(ids.size() + 8);
    for (const auto& item : items_) {
      if (item) {
        out.insert(out.end(), item->begin(), item->end());
      } else {
        out.insert(out.end(), ids.begin(), ids.end());
      }
    }
    ids.swap(out);
  }
  std::vector<int32_t> prefix() const override {
    std::vector<int32_t> out;
    for (const auto& item : items_) {
      if (!item) break;
      out.insert(out.end(), item->begin(), item->end());
    }
    return out;
  }

 private:
  std::vector<std::optional<std::vector<int32_t>>> items_;
};

class SequencePostProcessor final : public PostProcessor {
 public:
  explicit SequencePostProcessor(std::vector<std::unique_ptr<PostProcessor>> steps)
      : steps_(std::move(steps)) {}
  void add_special_tokens(std::vector<int32_t>& ids) const override {
    for (const auto& step : steps_)
      step->add_special_tokens(ids);
  }
  std::vector<int32_t> prefix() const override {
    std::vector<int32_t> out;
    for (auto it = steps_.rbegin(); it != steps_.rend(); ++it) {
      auto p = (*it)->prefix();
      out.insert(out.begin(), p.begin(), p.end());
    }
    return out;
  }

 private:
  std::vector<std::unique_ptr<PostProcessor>> steps_;
};

// "cls": ["[CLS]", 101] -> 101
Expected<int32_t> token_pair_id(const JsonField& spec, const char* key) {
  AUTOGLM_ASSIGN_OR_RETURN(JsonField pair, spec.array_at(key));
  if (pair.size() != 2) return pair.error("expected [token, id]");
  AUTOGLM_ASSIGN_OR_RETURN(int64_t id, pair.element(1).as_int());
  if (id < 0 || id > INT32_MAX) return pair.error("id out of range");
  return static_cast<int32_t>(id);
}

Expected<std::unique_ptr<PostProcessor>> make_template_processing(const JsonField& spec) {
  AUTOGLM_ASSIGN_OR_RETURN(JsonField single, spec.array_at("single"));
  std::optional<JsonField> specials = spec.find("special_tokens");
  std::vector<std::optional<std::vector<int32_t>>> items;
  int sequences = 0;
  for (size_t i = 0; i < single.size(); ++i) {
    const JsonField item = single.element(i);
    if (!item.is_object()) return item.error("expected an object");
    if (auto seq = item.find("Sequence")) {
      AUTOGLM_ASSIGN_OR_RETURN(std::string which, seq->string_at("id"));
      if (which != "A") return seq->unsupported("a single-sequence template may only use sequence A");
      items.emplace_back(std::nullopt);
      ++sequences;
      continue;
    }
    auto tok = item.find("SpecialToken");
    if (!tok) return item.error("expected \"Sequence\" or \"SpecialToken\"");
    AUTOGLM_ASSIGN_OR_RETURN(std::string name, tok->string_at("id"));
    if (!specials || !specials->is_object())
      return tok->error("special token \"" + name + "\" is not defined");
    auto def = specials->find(name);
    if (!def) return tok->error("special token \"" + name + "\" is not defined in special_tokens");
    AUTOGLM_ASSIGN_OR_RETURN(JsonField ids_field, def->array_at("ids"));
    std::vector<int32_t> ids;
    for (size_t k = 0; k < ids_field.size(); ++k) {
      AUTOGLM_ASSIGN_OR_RETURN(int64_t id, ids_field.element(k).as_int());
      if (id < 0 || id > INT32_MAX) return ids_field.element(k).error("id out of range");
      ids.push_back(static_cast<int32_t>(id));
    }
    items.emplace_back(std::move(ids));
  }
  if (sequences == 1) {
    std::vector<int32_t> prefix;
    std::vector<int32_t> suffix;
    bool after = false;
    for (const auto& item : items) {
      if (!item) {
        after = true;
        continue;
      }
      auto& dst = after ? suffix : prefix;
      dst.insert(dst.end(), item->begin(), item->end());
    }
    return std::unique_ptr<PostProcessor>(new TemplatePostProcessor(std::move(prefix), std::move(suffix)));
  }
  return std::unique_ptr<PostProcessor>(new GeneralTemplatePostProcessor(std::move(items)));
}

}  // namespace

std::unique_ptr<PostProcessor> make_template(std::vector<int32_t> prefix, std::vector<int32_t> suffix) {
  return std::make_unique<TemplatePostProcessor>(std::move(prefix), std::move(suffix));
}

Expected<std::unique_ptr<PostProcessor>> make_post_processor(const JsonField& spec, int depth) {
  using Ptr = std::unique_ptr<PostProcessor>;
  if (!spec.is_object())
    return spec.error(std::string("expected an object, got ") + JsonField::type_name(spec.value()));
  if (depth > kMaxNesting) return spec.error("post-processors nested too deeply");
  AUTOGLM_ASSIGN_OR_RETURN(std::string type, spec.string_at("type"));
  if (type == "TemplateProcessing") return make_template_processing(spec);
  if (type == "ByteLevel") return Ptr(new TemplatePostProcessor({}, {}));
  if (type == "BertProcessing" || type == "RobertaProcessing") {
    AUTOGLM_ASSIGN_OR_RETURN(int32_t cls, token_pair_id(spec, "cls"));
    AUTOGLM_ASSIGN_OR_RETURN(int32_t sep, token_pair_id(spec, "sep"));
    return Ptr(new TemplatePostProcessor({cls}, {sep}));
  }
  if (type == "Sequence") {
    AUTOGLM_ASSIGN_OR_RETURN(JsonField list, spec.array_at("processors"));
    std::vector<Ptr> steps;
    for (size_t i = 0; i < list.size(); ++i) {
      AUTOGLM_ASSIGN_OR_RETURN(Ptr step, make_post_processor(list.element(i), depth + 1));
      steps.push_back(std::move(step));
    }
    return Ptr(new SequencePostProcessor(std::move(steps)));
  }
  return spec.unsupported("post-processor type \"" + type + "\" is not supported");
}

}  // namespace autoglm::hf
