// Words for /login?sso_error=CODE: where a sign-in through an identity provider ended (the server's
// OIDC callback sends the browser back here with a code, never a provider's own text).
const TEXT: Record<string, string> = {
  access_denied: "The sign-in was cancelled at your identity provider.",
  no_account:
    "No Atrium account belongs to that sign-in, and this provider does not create accounts. Ask an administrator for access.",
  account_disabled: "This account is disabled. Ask an administrator.",
  invalid_state: "That sign-in expired or was already used. Please sign in again.",
  wrong_browser: "That sign-in was started in another browser or tab. Please sign in again here.",
  provider_unavailable: "Your identity provider could not be reached. Try again in a moment.",
  issuer_mismatch: "The answer did not come from the identity provider it should have. Please sign in again.",
};

export function ssoErrorText(code: string | null): string | null {
  if (!code) return null;
  return TEXT[code] ?? "Signing in through your identity provider failed. Please try again.";
}
