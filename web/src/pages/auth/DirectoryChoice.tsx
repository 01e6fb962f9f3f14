// Which account the sign-in form's username and password are for, when the server offers LDAP
// directories (GET /api/v1/auth/providers, type "ldap"): the Atrium account, or one directory each
// (its display name). Nothing shows when there is no directory.
import { SegmentedControl, Text } from "@mantine/core";
import { useSignInOptions } from "./SsoButtons";

export function useDirectories() {
  const { data } = useSignInOptions();
  return (data?.providers ?? []).filter((p) => p.type === "ldap");
}

// Where the form posts: "" is the Atrium account.
export function loginUrl(directory: string): string {
  return directory ? `/api/v1/auth/ldap/${encodeURIComponent(directory)}/login` : "/api/v1/auth/login";
}

export function DirectoryChoice({ value, onChange }: { value: string; onChange: (v: string) => void }) {
  const directories = useDirectories();
  if (directories.length === 0) return null;
  const chosen = directories.find((d) => d.name === value);
  return (
    <>
      <SegmentedControl
        fullWidth
        aria-label="Account to sign in with"
        value={value}
        onChange={onChange}
        data={[
          { value: "", label: "Atrium account" },
          ...directories.map((d) => ({ value: d.name, label: d.display_name })),
        ]}
      />
      {chosen ? (
        <Text size="sm" c="dimmed">
          Your {chosen.display_name} username and password
        </Text>
      ) : null}
    </>
  );
}
