// Response shapes of two-factor authentication (mfa/ on the server).
export interface MfaStatus {
  enabled: boolean;
  pending: boolean;
  enabled_at: string | null;
  recovery_codes_left: number;
  required: boolean;
  enrollment_required: boolean;
  etag: string;
}

export interface TotpEnrolment {
  secret: string;
  otpauth_uri: string;
  qr_svg: string;
}

export interface RecoveryCodes {
  recovery_codes: string[];
}

// The password login's answer when a second step is needed (no session yet).
export interface MfaChallenge {
  mfa_required: true;
  mfa_ticket: string;
  expires_at: string;
}

export const MFA_KEY = ["me", "mfa"] as const;
