// Signing out, here or on every device (every session of the user ends; API tokens stay). After
// it the page reloads at /login, which drops every cached answer of the signed-in user; a session
// that had already ended elsewhere (401) goes there too.
import { ApiError, fetchJson } from "../api/client";

// A session from an identity provider that offers sign-out answers its logout URL: the provider's
// session ends there too, and it sends the browser back to /login.
export async function signOut(everywhere = false): Promise<void> {
  let next = "/login";
  try {
    const r = await fetchJson<{ logout_url?: string } | undefined>("/api/v1/auth/logout", {
      method: "POST",
      body: JSON.stringify(everywhere ? { everywhere: true } : {}),
    });
    if (r?.logout_url?.startsWith("https://")) next = r.logout_url;
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 401)) throw e;
  }
  window.location.assign(next);
}
