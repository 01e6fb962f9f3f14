// The scheduler's pending reasons (compute::PendingReason, SLURM's names) in words.
const REASONS: Record<string, string> = {
  Priority: "Waiting for jobs with a higher priority to start first.",
  Resources: "Waiting for enough CPUs, memory or GPUs to be free.",
  Dependency: "Waiting for the jobs it depends on to finish.",
  DependencyNeverSatisfied: "Its dependencies can never be met, so it will not run.",
  Held: "Held: release it to let it run.",
  BeginTime: "Waiting for its begin time.",
  JobArrayTaskLimit: "Waiting: the array's limit of tasks running at once is reached.",
  QuotaExceeded: "Waiting: starting it would exceed a CPU-hours quota.",
  AssocMaxJobsLimit: "Waiting: you have as many jobs running as your quota allows.",
  AssocMaxCpuLimit: "Waiting: your running jobs use all the CPUs your quota allows.",
  AssocGrpJobsLimit: "Waiting: the organisation has as many jobs running as its quota allows.",
  AssocGrpCpuLimit: "Waiting: the organisation's running jobs use all the CPUs its quota allows.",
  QosMaxJobsPerUserLimit: "Waiting: the QoS's limit of running jobs per user is reached.",
  QosMaxCpuPerUserLimit: "Waiting: the QoS's limit of CPUs per user is reached.",
  InvalidQos: "Its QoS does not exist, so it cannot start.",
  BadConstraints: "It asks for more than this cluster has, so it can never start.",
};

export function reasonText(reason: string | null | undefined): string {
  if (!reason) return "Waiting to be scheduled.";
  return REASONS[reason] ?? `Waiting (${reason}).`;
}

// "in 5 min", "in 2 h", "now": when a pending job is expected to start.
export function startText(estimated: string | null | undefined, now: number = Date.now()): string | null {
  if (!estimated) return null;
  const dt = Date.parse(estimated) - now;
  if (Number.isNaN(dt)) return null;
  if (dt <= 60_000) return "expected to start within a minute";
  if (dt < 3600_000) return `expected to start in about ${Math.round(dt / 60_000)} min`;
  if (dt < 48 * 3600_000) return `expected to start in about ${Math.round(dt / 3600_000)} h`;
  return `expected to start on ${new Date(estimated).toLocaleDateString()}`;
}
