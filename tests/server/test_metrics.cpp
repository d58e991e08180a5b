// server/metrics: the exact exposition text, cumulative buckets, escaping, number spelling, type conflicts,
// and exact counts under concurrent updates while the registry renders.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "metrics/metrics.h"

namespace autoglm::server {
namespace {

TEST(Metrics, RendersFamiliesInCreationOrder) {
  MetricsRegistry registry;
  registry.counter("autoglm:requests_total", "Requests received.", {{"endpoint", "chat"}}).inc(3);
  registry.gauge("autoglm:num_requests_running", "Requests being decoded.").set(2);
  Histogram& ttft =
      registry.histogram("autoglm:time_to_first_token_seconds", "Time to first token.", {0.1, 1});
  registry.counter("autoglm:requests_total", "ignored: the first help wins", {{"endpoint", "completions"}})
      .inc();
  ttft.observe(0.05);
  ttft.observe(0.5);
  ttft.observe(2.5);

  EXPECT_EQ(registry.render(),
            "# HELP autoglm:requests_total Requests received.\n"
            "# TYPE autoglm:requests_total counter\n"
            "autoglm:requests_total{endpoint=\"chat\"} 3\n"
            "autoglm:requests_total{endpoint=\"completions\"} 1\n"
            "# HELP autoglm:num_requests_running Requests being decoded.\n"
            "# TYPE autoglm:num_requests_running gauge\n"
            "autoglm:num_requests_running 2\n"
            "# HELP autoglm:time_to_first_token_seconds Time to first token.\n"
            "# TYPE autoglm:time_to_first_token_seconds histogram\n"
            "autoglm:time_to_first_token_seconds_bucket{le=\"0.1\"} 1\n"
            "autoglm:time_to_first_token_seconds_bucket{le=\"1\"} 2\n"
            "autoglm:time_to_first_token_seconds_bucket{le=\"+Inf\"} 3\n"
            "autoglm:time_to_first_token_seconds_sum 3.05\n"
            "autoglm:time_to_first_token_seconds_count 3\n");
}

TEST(Metrics, SameNameAndLabelsIsTheSameChild) {
  MetricsRegistry registry;
  Counter& a = registry.counter("x_total", "x", {{"a", "1"}, {"b", "2"}});
  Counter& b = registry.counter("x_total", "x", {{"b", "2"}, {"a", "1"}});
  Counter& c = registry.counter("x_total", "x", {{"a", "1"}, {"b", "3"}});
  EXPECT_EQ(&a, &b) << "label order must not make a second series";
  EXPECT_NE(&a, &c);
  // References handed out earlier survive many more children being added.
  a.inc(5);
  for (int i = 0; i < 1000; ++i)
    registry.counter("x_total", "x", {{"a", std::to_string(i)}, {"b", "9"}});
  EXPECT_EQ(a.value(), 5);
}

TEST(Metrics, HistogramBucketsAreCumulativeAndInclusive) {
  MetricsRegistry registry;
  Histogram& h = registry.histogram("h", "h", {1, 2, 4}, {{"model", "m"}});
  for (double v : {0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0, -1.0})
    h.observe(v);
  const Histogram::Snapshot s = h.snapshot();
  ASSERT_EQ(s.cumulative.size(), 4u);
  EXPECT_EQ(s.cumulative[0], 3u);  // -1, 0.5 and 1 (le is inclusive)
  EXPECT_EQ(s.cumulative[1], 5u);
  EXPECT_EQ(s.cumulative[2], 7u);
  EXPECT_EQ(s.cumulative[3], 8u);
  EXPECT_EQ(s.count, 8u);
  EXPECT_DOUBLE_EQ(s.sum, 16.0);
  const std::string text = registry.render();
  EXPECT_NE(text.find("h_bucket{model=\"m\",le=\"2\"} 5\n"), std::string::npos) << text;
  EXPECT_NE(text.find("h_bucket{model=\"m\",le=\"+Inf\"} 8\n"), std::string::npos) << text;
  EXPECT_NE(text.find("h_sum{model=\"m\"} 16\n"), std::string::npos) << text;
  EXPECT_NE(text.find("h_count{model=\"m\"} 8\n"), std::string::npos) << text;

  // A NaN observation belongs to no finite bucket.
  h.observe(std::nan(""));
  EXPECT_EQ(h.snapshot().cumulative[2], 7u);
  EXPECT_EQ(h.snapshot().count, 9u);
}

TEST(Metrics, HistogramBoundsAreChecked) {
  MetricsRegistry registry;
  EXPECT_THROW(registry.histogram("h", "h", {1, 1}), std::invalid_argument);
  EXPECT_THROW(registry.histogram("h", "h", {2, 1}), std::invalid_argument);
  EXPECT_THROW(registry.histogram("h", "h", {std::nan("")}), std::invalid_argument);
  EXPECT_THROW(registry.histogram("h", "h", {1}, {{"le", "x"}}), std::invalid_argument);
  // A trailing +Inf is the implicit bucket, not a second one.
  Histogram& h = registry.histogram("h", "h", {1, std::numeric_limits<double>::infinity()});
  EXPECT_EQ(h.snapshot().bounds, std::vector<double>{1});
  EXPECT_EQ(&registry.histogram("h", "h", {1}), &h);
  EXPECT_THROW(registry.histogram("h", "h", {1, 2}), std::logic_error);
}

TEST(Metrics, EscapesLabelValuesAndHelp) {
  MetricsRegistry registry;
  registry.counter("e_total", "a \\ help\nwith \"quotes\"", {{"path", "C:\\dir\n\"x\""}}).inc();
  EXPECT_EQ(registry.render(),
            "# HELP e_total a \\\\ help\\nwith \"quotes\"\n"
            "# TYPE e_total counter\n"
            "e_total{path=\"C:\\\\dir\\n\\\"x\\\"\"} 1\n");
}

TEST(Metrics, RejectsNamesTheFormatCannotCarry) {
  MetricsRegistry registry;
  EXPECT_THROW(registry.counter("", "h"), std::invalid_argument);
  EXPECT_THROW(registry.counter("1abc", "h"), std::invalid_argument);
  EXPECT_THROW(registry.counter("a-b", "h"), std::invalid_argument);
  EXPECT_THROW(registry.counter("ok_total", "h", {{"bad-name", "v"}}), std::invalid_argument);
  EXPECT_THROW(registry.counter("ok_total", "h", {{"a:b", "v"}}), std::invalid_argument);
  EXPECT_THROW(registry.counter("ok_total", "h", {{"__reserved", "v"}}), std::invalid_argument);
  EXPECT_THROW(registry.counter("ok_total", "h", {{"a", "1"}, {"a", "2"}}), std::invalid_argument);
  EXPECT_NO_THROW(registry.counter("ns:ok_total", "h", {{"_a1", "any \xff value"}}));
}

TEST(Metrics, TypeConflictThrows) {
  MetricsRegistry registry;
  registry.counter("m", "h");
  EXPECT_THROW(registry.gauge("m", "h"), std::logic_error);
  EXPECT_THROW(registry.histogram("m", "h", {1}), std::logic_error);
  EXPECT_THROW(registry.gauge("m", "h", {{"l", "v"}}), std::logic_error)
      << "the type is per name, not per child";
  registry.gauge("g", "h");
  EXPECT_THROW(registry.counter("g", "h"), std::logic_error);
}

TEST(Metrics, FormatsNumbersAsPrometheusParsesThem) {
  EXPECT_EQ(format_metric_value(0), "0");
  EXPECT_EQ(format_metric_value(-0.0), "0");
  EXPECT_EQ(format_metric_value(42), "42");
  EXPECT_EQ(format_metric_value(-7), "-7");
  EXPECT_EQ(format_metric_value(1e15), "1000000000000000");
  EXPECT_EQ(format_metric_value(0.25), "0.25");
  EXPECT_EQ(format_metric_value(0.1), "0.1");
  EXPECT_EQ(format_metric_value(1e300), "1e+300");
  EXPECT_EQ(format_metric_value(1.5e-7), "1.5e-07");
  EXPECT_EQ(format_metric_value(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(format_metric_value(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(format_metric_value(std::nan("")), "NaN");
  // Non-integers read back exactly.
  for (double v : {0.1 + 0.2, 1.0 / 3, 123456.789, -2.5e-300})
    EXPECT_EQ(std::stod(format_metric_value(v)), v);
}

TEST(Metrics, CounterAndGaugeUpdates) {
  MetricsRegistry registry;
  Counter& c = registry.counter("c_total", "h");
  c.inc();
  c.inc(2.5);
  c.inc(-10);  // ignored: counters never go down
  c.inc(std::nan(""));
  EXPECT_EQ(c.value(), 3.5);
  Gauge& g = registry.gauge("g", "h");
  g.set(10);
  g.add(-3);
  g.add(0.5);
  EXPECT_EQ(g.value(), 7.5);
}

TEST(Metrics, ConcurrentUpdatesAreExactWhileRendering) {
  MetricsRegistry registry;
  Counter& counter = registry.counter("c_total", "h");
  Gauge& gauge = registry.gauge("g", "h");
  Histogram& histogram = registry.histogram("h", "h", {0.5, 1.5});
  constexpr int kThreads = 8;
  constexpr int kPerThread = 100000;

  std::atomic<bool> done{false};
  std::atomic<int> renders{0};
  // A reader renders continuously (and adds new children) to race with the writers; every snapshot it sees
  // must be internally consistent: +Inf bucket == count, buckets non-decreasing.
  std::thread reader([&] {
    int i = 0;
    while (!done.load()) {
      registry.counter("c_total", "h", {{"reader", std::to_string(i++ % 50)}}).inc();
      const Histogram::Snapshot s = histogram.snapshot();
      for (size_t b = 1; b < s.cumulative.size(); ++b)
        ASSERT_LE(s.cumulative[b - 1], s.cumulative[b]);
      ASSERT_EQ(s.cumulative.back(), s.count);
      ASSERT_FALSE(registry.render().empty());
      renders.fetch_add(1);
    }
  });
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&, t] {
      Counter& mine = registry.counter("per_thread_total", "h", {{"thread", std::to_string(t)}});
      for (int i = 0; i < kPerThread; ++i) {
        counter.inc();
        mine.inc();
        gauge.add(1);
        histogram.observe(static_cast<double>(i % 3));  // 0, 1, 2: one per bucket
      }
    });
  }
  for (std::thread& w : writers)
    w.join();
  done = true;
  reader.join();

  constexpr double kTotal = static_cast<double>(kThreads) * kPerThread;
  EXPECT_EQ(counter.value(), kTotal);
  EXPECT_EQ(gauge.value(), kTotal);
  for (int t = 0; t < kThreads; ++t)
    EXPECT_EQ(registry.counter("per_thread_total", "h", {{"thread", std::to_string(t)}}).value(), kPerThread);
  const Histogram::Snapshot s = histogram.snapshot();
  EXPECT_EQ(s.count, static_cast<uint64_t>(kTotal));
  // i % 3 over 100000 gives 33334 zeros, 33333 ones, 33333 twos per thread.
  EXPECT_EQ(s.cumulative[0], 33334u * kThreads);
  EXPECT_EQ(s.cumulative[1], 66667u * kThreads);
  EXPECT_EQ(s.sum, 99999.0 * kThreads);
  EXPECT_GT(renders.load(), 0);
  EXPECT_NE(registry.render().find("c_total 800000\n"), std::string::npos);
}

}  // namespace
}  // namespace autoglm::server
