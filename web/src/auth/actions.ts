// Signing out, here or on every device (every session of the user ends; API tokens stay). After
// it the page reloads at /login, which drops every cached answer of the signed-in user; a session
// that had already ended elsewhere (401) goes there too.
import { ApiError, fetchJson } from "../api/client";

export async function signOut(everywhere = false): Promise<void> {
  try {
    await fetchJson<void>("/api/v1/auth/logout", {
      method: "POST",
      body: JSON.stringify(everywhere ? { everywhere: true } : {}),
    });
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 401)) throw e;
  }
  window.location.assign("/login");
}
