// Helpers of the environments' browser tests: the browser resolves every environment's origin
// (env-<id>.env.localhost) and Atrium's public URL (localhost) to the test server's 127.0.0.1, and
// every environment a test launches is stopped at its end.
import type { Api } from "./fixtures.ts";

export const chromiumArgs = ["--host-resolver-rules=MAP *.env.localhost 127.0.0.1, MAP localhost 127.0.0.1"];

export const envHost = (id: string) => `env-${id.slice(4).toLowerCase()}.env.localhost`;

// Every environment of the users a test used, stopped (and waited for) at its end, whether the
// test got to know their ids or failed before.
export class EnvTeardown {
  private readonly users: Api[] = [];

  add(api: Api): void {
    this.users.push(api);
  }

  async stopAll(): Promise<void> {
    const active = async (api: Api): Promise<string[]> =>
      (await api.get("/api/v1/envs?active=true&limit=200").catch(() => ({ items: [] }))).items.map((e: { id: string }) => e.id);
    await Promise.all(
      this.users.map(async (api) => {
        for (const id of await active(api)) await api.post(`/api/v1/envs/${id}/stop`).catch(() => undefined);
        for (let i = 0; i < 300 && (await active(api)).length; i++) await new Promise((ok) => setTimeout(ok, 100));
      }),
    );
    this.users.length = 0;
  }
}
