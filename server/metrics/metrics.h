// A registry of Prometheus metrics rendered in the text exposition format (version 0.0.4).
//
// Metrics are updated from engine and connection threads on every token, so Counter, Gauge and Histogram
// update through atomics only; the registry's mutex guards creating metrics and rendering, never an update.
// Callers look a metric up once and keep the reference: references stay valid for the registry's lifetime.
//
// A family (one metric name) holds one child per label set. Asking for an existing name with another type,
// or a histogram with other bucket bounds, is a programming error and throws std::logic_error; a name or
// label name the format cannot carry throws std::invalid_argument.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

namespace autoglm::server {

// Label pairs in the order they are rendered. Two label sets with the same pairs in another order name the
// same child.
using Labels = std::vector<std::pair<std::string, std::string>>;

// The Content-Type a /metrics response carries.
inline constexpr const char* kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

// A value that only goes up.
class Counter {
 public:
  // Negative and NaN increments are ignored: a counter that went down would read as a restart to Prometheus.
  void inc(double v = 1);
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// A value that goes up and down (queue depth, bytes in use).
class Gauge {
 public:
  void set(double v) { value_.store(v, std::memory_order_relaxed); }
  void add(double v);
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// Counts of observations at or below each bound, plus their sum. Buckets are stored per interval and made
// cumulative when rendered, so an observation touches one bucket.
class Histogram {
 public:
  // `bounds` are strictly increasing finite upper bounds; the +Inf bucket is implicit.
  explicit Histogram(std::vector<double> bounds);

  void observe(double v);

  struct Snapshot {
    std::vector<double> bounds;
    std::vector<uint64_t> cumulative;  // one per bound, then +Inf (== count)
    double sum = 0;
    uint64_t count = 0;
  };
  // The +Inf bucket and the count are derived from the same bucket reads, so they always agree even while
  // other threads observe.
  Snapshot snapshot() const;

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // bounds_.size() + 1 intervals, the last above all
  std::atomic<double> sum_{0};
};

class MetricsRegistry {
 public:
  MetricsRegistry() = default;
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  // The help text of a family is the one given on its first use.
  Counter& counter(const std::string& name, const std::string& help, const Labels& labels = {});
  Gauge& gauge(const std::string& name, const std::string& help, const Labels& labels = {});
  Histogram& histogram(const std::string& name, const std::string& help,
                       const std::vector<double>& bucket_bounds, const Labels& labels = {});

  // Every family in creation order, children in creation order. Safe while other threads update metrics.
  std::string render() const;

 private:
  enum class Type { kCounter, kGauge, kHistogram };
  struct Child {
    Labels labels;
    std::variant<std::unique_ptr<Counter>, std::unique_ptr<Gauge>, std::unique_ptr<Histogram>> metric;
  };
  struct Family {
    std::string name, help;
    Type type;
    std::vector<double> bounds;  // histograms only
    std::deque<Child> children;
    std::map<std::string, size_t> child_index;  // canonical label key -> children index
  };

  static const char* type_name(Type type);
  Child& child(const std::string& name, const std::string& help, Type type, const std::vector<double>& bounds,
               const Labels& labels);

  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<Family>> families_;
  std::unordered_map<std::string, Family*> by_name_;
};

// Renders a sample value or bucket bound the way Prometheus parses it: integers without exponent or
// fraction, others in the shortest form that reads back exactly, and +Inf, -Inf, NaN.
std::string format_metric_value(double v);

}  // namespace autoglm::server
