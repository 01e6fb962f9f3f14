// slurmrestd v0.0.38's JSON <-> the structs of rest.hpp, and its error answers -> Error: pure
// functions (rest.cpp does the transport), so the unit tests feed them answers captured from a real
// slurmrestd 22.05.8 (testdata/). Internal to the slurm module.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "slurm/rest.hpp"

namespace atrium::slurm::rest_detail {

struct SlurmError {
  int number = 0;    // SLURM's errno ("error_number", "error_code" or "errno" by endpoint; -1 unknown)
  std::string text;  // "error: description"
};

// What a request was, for the code a refusal gets.
enum class Op { kRead, kSubmit, kControl };

std::vector<SlurmError> errors_of(const nlohmann::json& body);

// The Error for an answer that is not a success: kUnavailable when slurmrestd or slurmctld cannot
// serve (5xx without a SLURM refusal, SLURM's communication errors, 401/403, a missing API
// version), kNotFound for an unknown job id, else SLURM's refusal (submit: kInvalidArgument,
// control: kFailedPrecondition) with SLURM's message.
Error classify(long http_status, const std::string& body, Op op);

// SLURM's exit_code is the wait status: exit n -> n, signal n -> 128 + n.
int exit_status(std::int64_t wait_status);

JobInfo parse_job(const nlohmann::json& j);
std::vector<JobInfo> parse_jobs(const nlohmann::json& body);  // body["jobs"]
std::vector<NodeState> parse_nodes(const nlohmann::json& body);
// The GPUs in a node's gres string ("gpu:2", "gpu:a100:4(S:0-1),mps:400"; "" or "(null)": 0).
int gres_gpus(const std::string& gres);
// Partitions with their nodes and per-node limits from GET /partitions and GET /nodes.
std::vector<PartitionState> parse_partitions(const nlohmann::json& partitions, const nlohmann::json& nodes);
Diag parse_diag(const nlohmann::json& body);

// The body of POST /job/submit.
nlohmann::json submission(const JobSubmission& s);

}  // namespace atrium::slurm::rest_detail
