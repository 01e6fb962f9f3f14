// Helpers of the environments' browser tests: the browser resolves every environment's origin
// (env-<id>.env.localhost) and Atrium's public URL (localhost) to the test server's 127.0.0.1, and
// every environment a test launches is stopped at its end.
import type { Api } from "./fixtures.ts";

export const chromiumArgs = ["--host-resolver-rules=MAP *.env.localhost 127.0.0.1, MAP localhost 127.0.0.1"];

export const envHost = (id: string) => `env-${id.slice(4).toLowerCase()}.env.localhost`;

// The environments a test started, stopped (and waited for) at its end.
export class EnvTeardown {
  private readonly started: { api: Api; id: string }[] = [];

  add(api: Api, id: string): void {
    this.started.push({ api, id });
  }

  async stopAll(): Promise<void> {
    await Promise.all(
      this.started.map(async ({ api, id }) => {
        await api.post(`/api/v1/envs/${id}/stop`).catch(() => undefined);
        for (let i = 0; i < 300; i++) {
          const e = await api.get(`/api/v1/envs/${id}`).catch(() => ({ state: "STOPPED" }));
          if (e.state === "STOPPED" || e.state === "FAILED") return;
          await new Promise((ok) => setTimeout(ok, 100));
        }
      }),
    );
    this.started.length = 0;
  }
}
