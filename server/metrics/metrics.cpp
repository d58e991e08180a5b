#include "metrics/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <stdexcept>

namespace autoglm::server {
namespace {

// A compare-and-swap loop rather than a lock: updates come from the token loop and must never wait on a
// reader rendering the registry.
void atomic_add(std::atomic<double>& target, double v) {
  double current = target.load(std::memory_order_relaxed);
  while (!target.compare_exchange_weak(current, current + v, std::memory_order_relaxed)) {
  }
}

bool valid_metric_name(const std::string& s) {
  if (s.empty()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
                    (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

bool valid_label_name(const std::string& s) {
  if (s.empty()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    const bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

// Label values escape backslash, double quote and newline; HELP text escapes backslash and newline only.
void append_escaped(std::string& out, const std::string& s, bool quote) {
  for (const char c : s) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (quote && c == '"') {
      out += "\\\"";
    } else {
      out += c;
    }
  }
}

// `{a="1",b="2",le="0.5"}`, or nothing when there are no labels at all.
void append_labels(std::string& out, const Labels& labels, const char* le = nullptr) {
  if (labels.empty() && !le) return;
  out += '{';
  bool first = true;
  for (const auto& [name, value] : labels) {
    if (!first) out += ',';
    first = false;
    out += name;
    out += "=\"";
    append_escaped(out, value, true);
    out += '"';
  }
  if (le) {
    if (!first) out += ',';
    out += "le=\"";
    out += le;
    out += '"';
  }
  out += '}';
}

void append_sample(std::string& out, const std::string& name, const char* suffix, const Labels& labels,
                   const std::string& value, const char* le = nullptr) {
  out += name;
  out += suffix;
  append_labels(out, labels, le);
  out += ' ';
  out += value;
  out += '\n';
}

// Validates the label set and returns a key that is the same for the same pairs in any order.
std::string canonical_key(const Labels& labels, bool histogram) {
  Labels sorted = labels;
  std::sort(sorted.begin(), sorted.end());
  std::string key;
  for (size_t i = 0; i < sorted.size(); ++i) {
    const std::string& name = sorted[i].first;
    if (!valid_label_name(name) || name.starts_with("__"))
      throw std::invalid_argument("metrics: invalid label name '" + name + "'");
    if (histogram && name == "le")
      throw std::invalid_argument("metrics: label 'le' is reserved for histogram buckets");
    if (i > 0 && sorted[i - 1].first == name)
      throw std::invalid_argument("metrics: label '" + name + "' given twice");
    // Names cannot contain NUL, so NUL separators keep distinct label sets distinct.
    key += name;
    key += '\0';
    key += sorted[i].second;
    key += '\0';
  }
  return key;
}

std::vector<double> normalized_bounds(const std::vector<double>& bounds) {
  std::vector<double> out = bounds;
  if (!out.empty() && out.back() == INFINITY) out.pop_back();  // the +Inf bucket is always there
  for (size_t i = 0; i < out.size(); ++i) {
    if (!std::isfinite(out[i])) throw std::invalid_argument("metrics: histogram bounds must be finite");
    if (i > 0 && !(out[i - 1] < out[i]))
      throw std::invalid_argument("metrics: histogram bounds must be strictly increasing");
  }
  return out;
}

}  // namespace

const char* MetricsRegistry::type_name(Type type) {
  switch (type) {
    case Type::kCounter:
      return "counter";
    case Type::kGauge:
      return "gauge";
    case Type::kHistogram:
      return "histogram";
  }
  return "untyped";
}

std::string format_metric_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  // Integral values below 2^53 print exactly as integers; "-0" would be noise, so zero prints as "0".
  if (v == std::trunc(v) && std::fabs(v) < 9007199254740992.0) return std::to_string(static_cast<int64_t>(v));
  char buf[64];
  const auto result = std::to_chars(buf, buf + sizeof(buf), v);  // shortest form that round-trips
  return std::string(buf, result.ptr);
}

void Counter::inc(double v) {
  if (!(v >= 0)) return;
  atomic_add(value_, v);
}

void Gauge::add(double v) {
  atomic_add(value_, v);
}

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(normalized_bounds(bounds)), buckets_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  for (size_t i = 0; i <= bounds_.size(); ++i)
    buckets_[i].store(0, std::memory_order_relaxed);
}

void Histogram::observe(double v) {
  // The first bound >= v ("le" is inclusive); NaN compares false with every bound and lands in +Inf.
  size_t i = bounds_.size();
  if (!std::isnan(v)) i = std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin();
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  atomic_add(sum_, v);
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot s;
  s.bounds = bounds_;
  s.cumulative.resize(bounds_.size() + 1);
  uint64_t running = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    running += buckets_[i].load(std::memory_order_relaxed);
    s.cumulative[i] = running;
  }
  s.count = running;
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

MetricsRegistry::Child& MetricsRegistry::child(const std::string& name, const std::string& help, Type type,
                                               const std::vector<double>& bounds, const Labels& labels) {
  if (!valid_metric_name(name)) throw std::invalid_argument("metrics: invalid metric name '" + name + "'");
  const std::string key = canonical_key(labels, type == Type::kHistogram);

  std::lock_guard<std::mutex> lock(mutex_);
  Family* family = nullptr;
  if (auto it = by_name_.find(name); it != by_name_.end()) {
    family = it->second;
    if (family->type != type)
      throw std::logic_error("metrics: '" + name + "' is a " + type_name(family->type) + ", asked for as a " +
                             type_name(type));
    if (family->bounds != bounds)
      throw std::logic_error("metrics: histogram '" + name + "' asked for with other bucket bounds");
  } else {
    auto owned = std::make_unique<Family>();
    owned->name = name;
    owned->help = help;
    owned->type = type;
    owned->bounds = bounds;
    family = owned.get();
    families_.push_back(std::move(owned));
    by_name_.emplace(name, family);
  }

  if (auto it = family->child_index.find(key); it != family->child_index.end())
    return family->children[it->second];
  Child c;
  c.labels = labels;
  switch (type) {
    case Type::kCounter:
      c.metric = std::make_unique<Counter>();
      break;
    case Type::kGauge:
      c.metric = std::make_unique<Gauge>();
      break;
    case Type::kHistogram:
      c.metric = std::make_unique<Histogram>(bounds);
      break;
  }
  // A deque never moves its elements, so the Child returned here outlives the lock while other threads add
  // children to the same family.
  family->child_index.emplace(key, family->children.size());
  family->children.push_back(std::move(c));
  return family->children.back();
}

Counter& MetricsRegistry::counter(const std::string& name, const std::string& help, const Labels& labels) {
  return *std::get<std::unique_ptr<Counter>>(child(name, help, Type::kCounter, {}, labels).metric);
}

Gauge& MetricsRegistry::gauge(const std::string& name, const std::string& help, const Labels& labels) {
  return *std::get<std::unique_ptr<Gauge>>(child(name, help, Type::kGauge, {}, labels).metric);
}

Histogram& MetricsRegistry::histogram(const std::string& name, const std::string& help,
                                      const std::vector<double>& bucket_bounds, const Labels& labels) {
  return *std::get<std::unique_ptr<Histogram>>(
      child(name, help, Type::kHistogram, normalized_bounds(bucket_bounds), labels).metric);
}

std::string MetricsRegistry::render() const {
  std::string out;
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& family : families_) {
    out += "# HELP ";
    out += family->name;
    out += ' ';
    append_escaped(out, family->help, false);
    out += "\n# TYPE ";
    out += family->name;
    out += ' ';
    out += type_name(family->type);
    out += '\n';
    for (const Child& c : family->children) {
      if (const auto* counter = std::get_if<std::unique_ptr<Counter>>(&c.metric)) {
        append_sample(out, family->name, "", c.labels, format_metric_value((*counter)->value()));
      } else if (const auto* gauge = std::get_if<std::unique_ptr<Gauge>>(&c.metric)) {
        append_sample(out, family->name, "", c.labels, format_metric_value((*gauge)->value()));
      } else {
        const Histogram::Snapshot s = std::get<std::unique_ptr<Histogram>>(c.metric)->snapshot();
        // Counts print as integers directly: going through double would round them past 2^53.
        for (size_t i = 0; i < s.bounds.size(); ++i) {
          const std::string le = format_metric_value(s.bounds[i]);
          append_sample(out, family->name, "_bucket", c.labels, std::to_string(s.cumulative[i]), le.c_str());
        }
        append_sample(out, family->name, "_bucket", c.labels, std::to_string(s.count), "+Inf");
        append_sample(out, family->name, "_sum", c.labels, format_metric_value(s.sum));
        append_sample(out, family->name, "_count", c.labels, std::to_string(s.count));
      }
    }
  }
  return out;
}

}  // namespace autoglm::server
