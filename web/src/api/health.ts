// GET /api/v1/admin/health and POST /api/v1/admin/gc (instance administrators).
export interface HealthFigure {
  name: string;
  unit: string; // "1/s", "s", "ratio", "bytes", "count"
  help: string;
}

export interface HealthSample {
  t: number; // ms since the epoch
  values: Record<string, number>; // a figure unknown at that time is absent
}

export interface HealthAnswer {
  period_ms: number;
  now: number;
  figures: HealthFigure[];
  samples: HealthSample[];
}

export interface GcReport {
  dry_run: boolean;
  blobs: number;
  bytes: number;
  orphan_objects: number;
  expired_uploads: number;
  staging_files: number;
  materialized: number;
  task_id: string;
}

// A collection that outlasts the route's wait: the task to follow.
export interface GcTask {
  id: string;
  state: string;
  result?: Partial<GcReport>;
  last_error?: string;
}
