// Response shapes of the signed-in user's own things: sessions, API tokens, compute usage.
export interface SessionRow {
  id: string;
  created_at: string;
  expires_at: string;
  last_seen_at: string;
  client_ip: string;
  user_agent: string;
  current: boolean;
  etag: string;
}

export interface TokenRow {
  id: string;
  name: string;
  scopes: string[];
  created_at: string;
  expires_at: string | null;
  last_used_at: string | null;
  etag: string;
}

export interface NewToken extends TokenRow {
  token: string;
}

export interface UsageItem {
  day: string; // YYYY-MM-DD (UTC)
  project_id: string;
  cpu_hours: number;
  gpu_hours: number;
  cpu_hours_used: number;
}

export interface UsageProject {
  id: string;
  org_id: string | null;
  slug: string | null;
  name: string | null;
}

export interface UsageAnswer {
  from: string;
  to: string;
  bucket: "day";
  items: UsageItem[];
  projects: UsageProject[];
  totals: { cpu_hours: number; gpu_hours: number };
}

export type NotificationKind = "job_end" | "env_cull_warning" | "quota_near_limit";

// GET/PUT /api/v1/me/notifications: mail per kind (all on by default) and the mail locale.
export interface NotificationPrefs {
  locale: string | null; // null = the server's default
  locales: string[];
  mail_enabled: boolean; // false: the server has no SMTP server configured
  kinds: Record<NotificationKind, { email: boolean }>;
  etag: string;
}
