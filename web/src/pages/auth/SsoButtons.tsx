// One button per identity provider the server offers (GET /api/v1/auth/providers): a full page
// load to the provider's start URL, which comes back to `next` once signed in.
import { Button, Divider, Stack } from "@mantine/core";
import { useQuery } from "@tanstack/react-query";
import { fetchJson } from "../../api/client";

export interface SignInProvider {
  name: string;
  display_name: string;
  type: string;
  start_url: string | null;
}

export interface SignInOptions {
  providers: SignInProvider[];
  password_login: boolean;
  password_reset: boolean;
}

export function useSignInOptions() {
  return useQuery({
    queryKey: ["auth", "providers"],
    queryFn: () => fetchJson<SignInOptions>("/api/v1/auth/providers"),
    staleTime: 300_000,
    retry: false,
  });
}

export function SsoButtons({ next }: { next: string }) {
  const { data } = useSignInOptions();
  const redirecting = (data?.providers ?? []).filter((p) => p.start_url);
  if (redirecting.length === 0) return null;
  return (
    <Stack gap="xs">
      {redirecting.map((p) => (
        <Button
          key={p.name}
          component="a"
          variant="default"
          href={`${p.start_url}?next=${encodeURIComponent(next)}`}
        >
          Sign in with {p.display_name}
        </Button>
      ))}
      <Divider label="or with your Atrium password" labelPosition="center" />
    </Stack>
  );
}
