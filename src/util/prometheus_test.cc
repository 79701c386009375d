#include "minik8s/util/prometheus.h"

#include <gtest/gtest.h>

namespace minik8s::prometheus {
namespace {

constexpr double kBounds[] = {0.01, 0.1, 1};

TEST(PrometheusHistogram, RendersCumulativeBucketsSumAndCount) {
  Histogram h(kBounds, 3);
  h.observe(0.005);
  h.observe(0.05);
  h.observe(0.07);
  h.observe(5);  // only in +Inf
  std::string out;
  h.render(out, "x_seconds", "a=\"b\"");
  EXPECT_EQ(out,
            "x_seconds_bucket{a=\"b\",le=\"0.01\"} 1\n"
            "x_seconds_bucket{a=\"b\",le=\"0.1\"} 3\n"
            "x_seconds_bucket{a=\"b\",le=\"1\"} 3\n"
            "x_seconds_bucket{a=\"b\",le=\"+Inf\"} 4\n"
            "x_seconds_sum{a=\"b\"} 5.125\n"
            "x_seconds_count{a=\"b\"} 4\n");
}

TEST(PrometheusHistogram, NoLabels) {
  Histogram h(kBounds, 3);
  std::string out;
  h.render(out, "y", "");
  EXPECT_EQ(out,
            "y_bucket{le=\"0.01\"} 0\ny_bucket{le=\"0.1\"} 0\ny_bucket{le=\"1\"} 0\n"
            "y_bucket{le=\"+Inf\"} 0\ny_sum 0\ny_count 0\n");
}

TEST(Prometheus, EscapesLabelValues) {
  EXPECT_EQ(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
  EXPECT_EQ(format_double(0.0025), "0.0025");
}

}  // namespace
}  // namespace minik8s::prometheus
