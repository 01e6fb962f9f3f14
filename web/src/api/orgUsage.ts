// GET /api/v1/orgs/{org}/usage and /fairshare (an org's compute usage and fair-share tree).
export type UsageBy = "group" | "user" | "project";
export type UsageBucket = "day" | "week" | "month";

export interface OrgUsageItem {
  bucket: string; // the bucket's first day, YYYY-MM-DD (UTC)
  key: string; // a group, user or project id ("" for jobs outside any group)
  cpu_hours: number;
  gpu_hours: number;
  cpu_hours_used: number;
}

export interface UsageKey {
  id: string;
  slug: string | null; // null: deleted since
  name: string | null;
}

export interface StorageItem {
  project_id: string;
  slug: string | null;
  name: string | null;
  bytes: number;
}

export interface OrgUsageAnswer {
  org_id: string;
  from: string;
  to: string;
  by: UsageBy;
  bucket: UsageBucket;
  buckets: string[];
  items: OrgUsageItem[];
  keys: UsageKey[];
  totals: { cpu_hours: number; gpu_hours: number; cpu_hours_used: number };
  storage: { items: StorageItem[]; total_bytes: number };
}

export interface FairShareNumbers {
  shares: number;
  norm_shares: number;
  raw_usage: number;
  norm_usage: number;
  effective_usage: number;
  factor: number;
}

export interface FairShareAccount extends FairShareNumbers {
  kind: "org" | "group";
  id: string;
  slug: string | null;
  name: string | null;
}

export interface FairShareUser extends FairShareNumbers {
  group_id: string;
  user_id: string;
  username: string | null;
  name: string | null;
}

export interface FairShareAnswer {
  org_id: string;
  as_of: string;
  half_life_hours: number;
  usage_unit: string;
  accounts: FairShareAccount[];
  users: FairShareUser[];
}
