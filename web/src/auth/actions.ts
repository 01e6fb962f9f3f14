// Signing out, here or on every device. After it the page reloads at /login, which drops every
// cached answer of the signed-in user.
import { fetchJson } from "../api/client";

export async function signOut(everywhere = false): Promise<void> {
  await fetchJson<void>("/api/v1/auth/logout", {
    method: "POST",
    body: JSON.stringify(everywhere ? { everywhere: true } : {}),
  });
  window.location.assign("/login");
}
