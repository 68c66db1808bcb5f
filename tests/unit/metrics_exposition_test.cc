// The /metrics exposition (worker-admin/metrics_endpoint.h, ops-spec §6.1): the admin side's
// families, merged with the registry page, keep the text-format rules.
#include <gtest/gtest.h>

#include <memory>

#include "shared/metrics.h"
#include "worker-admin/metrics_endpoint.h"

namespace {

using namespace rdv::admin;
namespace metrics = rdv::metrics;

AdminFigures sample_figures() {
  AdminFigures f;
  f.registry_page_available = true;
  f.counts_available = true;
  f.counts.trust_links = 3;
  f.counts.networks_total = 2;
  f.counts.webhook_configured = true;
  f.counts.webhook_delivered = 7;
  f.counts.networks["zeta"] = {.members = 4, .admins = 1, .owners = 1, .enterprise = true, .policy_set = false};
  f.counts.networks["alpha \"q\""] = {.members = 2, .admins = 0, .owners = 1, .enterprise = false, .policy_set = true};
  f.store_available = true;
  f.store.map_size_bytes = 1 << 30;
  f.store.used_bytes = 40960;
  f.store.last_txn_id = 12;
  f.workers_available = true;
  WorkerFigures reg;
  reg.name = "registry";
  reg.pid = 100;
  reg.restarts = 2;
  reg.proc.alive = true;
  reg.proc.rss_bytes = 5 << 20;
  reg.proc.cpu_seconds = 1.25;
  reg.proc.open_fds = 9;
  reg.proc.start_unix = 1780000000;
  WorkerFigures gone;
  gone.name = "replicator";
  gone.pid = 0;
  WorkerFigures sup = reg;
  sup.name = "supervisor";
  sup.restarts = 0;
  f.workers = {sup, reg, gone};
  return f;
}

TEST(MetricsExposition, AdminFamiliesKeepTheRules) {
  std::string text = render_admin_families(sample_figures());
  EXPECT_EQ(exposition_problem(text), "") << text;
  EXPECT_NE(text.find("# TYPE pilot_webhook_configured gauge\npilot_webhook_configured 1\n"), std::string::npos);
  EXPECT_NE(text.find("pilot_webhook_deliveries_total{result=\"ok\"} 7\n"), std::string::npos);
  // Sorted by label value; quotes escaped.
  size_t a = text.find("pilot_network_members{network=\"alpha \\\"q\\\"\"} 2\n");
  size_t z = text.find("pilot_network_members{network=\"zeta\"} 4\n");
  ASSERT_NE(a, std::string::npos) << text;
  ASSERT_NE(z, std::string::npos) << text;
  EXPECT_LT(a, z);
  EXPECT_NE(text.find("process_cpu_seconds_total{worker=\"registry\"} 1.25\n"), std::string::npos) << text;
  EXPECT_NE(text.find("rendezvous_worker_restarts_total{worker=\"registry\"} 2\n"), std::string::npos);
  // A worker without a process has restarts and up, but no process figures.
  EXPECT_NE(text.find("rendezvous_worker_up{worker=\"replicator\"} 0\n"), std::string::npos);
  EXPECT_EQ(text.find("process_resident_memory_bytes{worker=\"replicator\"}"), std::string::npos);
  EXPECT_NE(text.find("rendezvous_lmdb_map_size_bytes 1073741824\n"), std::string::npos);
}

TEST(MetricsExposition, NoWebhookNoWebhookBlock) {
  AdminFigures f = sample_figures();
  f.counts.webhook_configured = false;
  std::string text = render_admin_families(f);
  EXPECT_NE(text.find("\npilot_webhook_configured 0\n"), std::string::npos);
  EXPECT_EQ(text.find("pilot_webhook_deliveries_total"), std::string::npos);
  f.counts.networks.clear();
  text = render_admin_families(f);
  EXPECT_EQ(text.find("pilot_network_members"), std::string::npos) << "per-network block only with networks";
  EXPECT_EQ(exposition_problem(text), "");
}

TEST(MetricsExposition, MergedWithRegistryPageEachFamilyOnce) {
  auto page = std::make_unique<metrics::RegistryPage>();
  metrics::observe(page.get(), metrics::type_index("register"), 2000000, false);
  metrics::observe(page.get(), metrics::type_index("lookup"), 50000, true);
  std::string text = metrics::render_registry(*page) + render_admin_families(sample_figures());
  EXPECT_EQ(exposition_problem(text), "") << text;
}

TEST(MetricsExposition, CheckerCatchesBreaches) {
  EXPECT_EQ(exposition_problem("# HELP a x\n# TYPE a gauge\na 1\n"), "");
  EXPECT_NE(exposition_problem("# HELP a x\n# TYPE a gauge\na 1\n# HELP a x\n# TYPE a gauge\n"), "");  // twice
  EXPECT_NE(exposition_problem("# TYPE a gauge\na 1\n"), "");                                         // no HELP
  EXPECT_NE(exposition_problem("# HELP a x\n# TYPE a gauge\nb 1\n"), "");                             // foreign
  EXPECT_NE(exposition_problem("# HELP a x\n# TYPE a gauge\na{x=\"1\"} 1\na{x=\"1\"} 2\n"), "");      // repeat
  EXPECT_NE(exposition_problem("# HELP a x\n# TYPE a gauge\na one\n"), "");                           // value
  EXPECT_NE(exposition_problem("# HELP a x\n# TYPE a gauge\na 1"), "");                               // newline
  EXPECT_NE(exposition_problem("# HELP h x\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n"), "");
  EXPECT_EQ(exposition_problem("# HELP h x\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 1\n"
                               "h_sum 1\nh_count 1\n"),
            "");
}

}  // namespace
