// The service's checks at submission, its controls, live fields and the exec token, on a real
// SQLite database with jobs faked (no SLURM: nothing here reaches a cluster).
#include <gtest/gtest.h>

#include "core/crypto.hpp"
#include "db/testing.hpp"
#include "slurm/slurm.hpp"

namespace atrium::slurm {
namespace {

class SlurmServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    crypto::init();
    db_ = db::open_test_db();
    ASSERT_TRUE(db_->migrate("slurm", migrations()));
    Settings s;
    s.data_dir = "/srv/atrium";
    s.config.clusters["dev"] = ClusterConfig{.rest_url = "http://127.0.0.1:9", .server_url = "http://h:{port}",
                                             .accounts = R"({"lab": "lab_acct"})"};
    s.config.partitions["slurm"] = PartitionConfig{.cluster = "dev", .slurm_partition = "debug"};
    s.config.partitions["gpu"] = PartitionConfig{.cluster = "dev", .slurm_partition = "gpu", .orgs = "lab,other"};
    JobsPort port;
    port.org_slug = [this](db::Tx&, const std::string& org_id) -> Result<std::string> { return slugs_.at(org_id); };
    port.get = [this](const std::string& id) -> Result<std::optional<jobs::JobRecord>> {
      auto it = records_.find(id);
      if (it == records_.end()) return std::optional<jobs::JobRecord>{};
      return std::optional<jobs::JobRecord>{it->second};
    };
    svc_ = std::make_unique<Service>(*db_, clock_, rt_, s, port);
    ASSERT_TRUE(svc_->init());
  }

  jobs::JobRecord record(const std::string& id, const std::string& org, const std::string& partition) {
    jobs::JobRecord r;
    r.job.id = id;
    r.job.assoc.org = org;
    r.job.state = compute::JobState::kPending;
    r.partition = partition;
    records_[id] = r;
    return r;
  }
  Status submit(const std::vector<jobs::JobRecord>& rs, const std::string& account) {
    return db_->write_tx([&](db::Tx& tx) { return svc_->submitted(tx, rs, account); });
  }
  std::optional<JobRow> row(const std::string& id) {
    return *db_->read([&](db::Tx& tx) { return store::get(tx, id); });
  }

  ManualClock clock_;
  async::Runtime rt_{2};
  std::unique_ptr<db::SqliteDatabase> db_;
  std::map<std::string, std::string> slugs_ = {{"o1", "lab"}, {"o2", "chem"}};
  std::map<std::string, jobs::JobRecord> records_;
  std::unique_ptr<Service> svc_;
};

TEST_F(SlurmServiceTest, SubmissionChecksPartitionAndAccount) {
  EXPECT_TRUE(svc_->partition("gpu"));
  EXPECT_FALSE(svc_->partition("local"));
  EXPECT_EQ(svc_->partitions().size(), 2u);

  auto st = submit({record("j1", "o2", "gpu")}, "");
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().type, "partition-forbidden");
  EXPECT_EQ(st.error().extra["field"], "partition");
  st = submit({record("j2", "o2", "slurm")}, "lab_acct");  // another org's account
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().type, "account-forbidden");
  EXPECT_EQ(st.error().extra["field"], "account");
  EXPECT_FALSE(row("j1"));  // nothing stored
  EXPECT_FALSE(row("j2"));

  ASSERT_TRUE(submit({record("j3", "o1", "gpu")}, ""));
  auto r = row("j3");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->account, "lab_acct");  // the mapped account
  EXPECT_EQ(r->state, kQueued);
  EXPECT_EQ(r->comment(), "atrium:j3");
  ASSERT_TRUE(submit({record("j4", "o2", "slurm")}, "chem"));  // unmapped: the slug
  EXPECT_EQ(row("j4")->account, "chem");

  auto t0 = record("a1_0", "o1", "slurm"), t1 = record("a1_1", "o1", "slurm");
  t0.job.array = compute::ArrayTask{.array_id = "a1", .index = 0};
  t1.job.array = compute::ArrayTask{.array_id = "a1", .index = 1};
  ASSERT_TRUE(submit({t0, t1}, ""));
  EXPECT_EQ(row("a1_1")->submit_key, "a1");
  EXPECT_EQ(row("a1_1")->array_task_id, 1);

  auto live = svc_->live(records_["j3"]);
  EXPECT_EQ(live["cluster"], "dev");
  EXPECT_EQ(live["handed_over"], false);
  EXPECT_TRUE(live["job_id"].is_null());
  EXPECT_TRUE(live["unknown_since"].is_null());
  EXPECT_TRUE(svc_->live(record("nope", "o1", "slurm")).is_null());
}

TEST_F(SlurmServiceTest, ControlsAreDurableAndCancelBeforeHandOverEndsIt) {
  ASSERT_TRUE(submit({record("j1", "o1", "slurm"), record("j2", "o1", "slurm")}, ""));
  auto control = [&](const std::string& id, jobs::Control c) {
    return db_->write_tx([&](db::Tx& tx) { return svc_->control(tx, records_[id], c); });
  };
  ASSERT_TRUE(control("j1", jobs::Control::kCancel));
  EXPECT_EQ(row("j1")->state, kEnded);  // never handed over, never will be

  ASSERT_TRUE(db_->write_tx([&](db::Tx& tx) -> Status {
    auto r = *row("j2");
    r.state = kSubmitted;
    r.slurm_job_id = 41;
    return store::save(tx, r);
  }));
  ASSERT_TRUE(control("j2", jobs::Control::kHold));
  EXPECT_EQ(row("j2")->control, "hold");
  EXPECT_FALSE(row("j2")->control_sent);
  records_["j2"].job.requeue_count = 1;  // jobs made it PENDING again with a new run
  ASSERT_TRUE(control("j2", jobs::Control::kRequeue));
  auto r = *row("j2");
  EXPECT_EQ(r.state, kQueued);
  EXPECT_EQ(r.old_slurm_job_id, 41);  // cancelled by the hand-over if SLURM still has it
  EXPECT_FALSE(r.slurm_job_id);
  EXPECT_EQ(r.control, "");
  EXPECT_EQ(r.generation, 1);
  EXPECT_TRUE(r.exec_token_hash.empty());  // the old run's token is dead
  EXPECT_EQ(r.comment(), "atrium:j2#1");  // a new idempotency key for the new run
  ASSERT_TRUE(control("j2", jobs::Control::kCancel));
  ASSERT_TRUE(control("j2", jobs::Control::kRelease));  // nothing follows a cancel
  EXPECT_EQ(row("j2")->control, "cancel");
}

TEST_F(SlurmServiceTest, ExecTokenOpensOnlyItsOwnActiveJob) {
  ASSERT_TRUE(submit({record("j1", "o1", "slurm"), record("j2", "o1", "slurm")}, ""));
  std::string token = crypto::base64url(crypto::random_bytes(32));
  ASSERT_TRUE(db_->write_tx([&](db::Tx& tx) -> Status {
    auto r = *row("j1");
    r.exec_token_hash = crypto::sha256_hex(token);
    r.state = kSubmitted;
    return store::save(tx, r);
  }));
  auto ok = svc_->verify_exec_token("j1", token);
  ASSERT_TRUE(ok) << ok.error().detail;
  EXPECT_EQ(ok->id(), "j1");
  for (auto [id, tok] : std::vector<std::pair<std::string, std::string>>{
           {"j1", token + "x"}, {"j1", ""}, {"j2", token}, {"j2", ""}, {"nope", token}}) {
    auto r = svc_->verify_exec_token(id, tok);
    ASSERT_FALSE(r) << id;
    EXPECT_EQ(r.error().code, ErrorCode::kNotFound);  // the same answer, whatever was wrong
  }
  // A run being stopped starts nothing more: a cancel kills its token at once.
  ASSERT_TRUE(db_->write_tx([&](db::Tx& tx) { return svc_->control(tx, records_["j1"], jobs::Control::kCancel); }));
  EXPECT_FALSE(svc_->verify_exec_token("j1", token));
  ASSERT_TRUE(db_->write_tx([&](db::Tx& tx) -> Status {
    auto r = *row("j1");
    r.control.clear();
    return store::save(tx, r);
  }));
  ASSERT_TRUE(svc_->verify_exec_token("j1", token));
  records_["j1"].job.state = compute::JobState::kCompleted;  // a token dies with its job
  EXPECT_FALSE(svc_->verify_exec_token("j1", token));
}

}  // namespace
}  // namespace atrium::slurm
