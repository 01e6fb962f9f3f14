// Response shapes the UI reads. The OpenAPI document types request bodies and parameters; most
// responses are declared as plain objects there, so their fields are named here, beside the
// server's JSON (each area adds its own file: api/projects.ts, api/jobs.ts, ...).
export interface User {
  id: string;
  username: string;
  display_name: string;
  email: string;
  email_verified?: boolean;
  disabled: boolean;
  created_at: string;
  updated_at: string;
  etag: string;
  must_change_password?: boolean;
}

export interface Membership {
  org_id: string;
  slug?: string;
  name?: string;
  role?: string;
  // What the role grants in this org (resource:verb:scope): pages offer only what these allow.
  permissions?: string[];
  [k: string]: unknown;
}

export interface Me extends User {
  instance_admin: boolean;
  orgs: Membership[];
  groups: unknown[];
  token_id: string | null;
  // A policy requires two-factor authentication and this session has not set it up: it may only enrol.
  mfa_enrollment_required?: boolean;
}

export interface SessionInfo {
  user: User;
  via: "session" | "token";
  session: { id: string; expires_at?: string; [k: string]: unknown } | null;
  token_id: string | null;
}
