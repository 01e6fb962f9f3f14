// /me/*: the account's pages under one heading, with a tab row of links.
import { Stack, Title } from "@mantine/core";
import { Outlet } from "react-router";
import { useMe } from "../../auth/session";
import { TabNav } from "../../components/TabNav";

const TABS = [
  { to: "/me", label: "Profile" },
  { to: "/me/password", label: "Password" },
  { to: "/me/security", label: "Security" },
  { to: "/me/sessions", label: "Sessions" },
  { to: "/me/tokens", label: "API tokens" },
  { to: "/me/usage", label: "Usage" },
  { to: "/me/notifications", label: "Notifications" },
  { to: "/me/secrets", label: "Secrets" },
];

export default function MeLayout() {
  const me = useMe();
  return (
    <Stack gap="md" maw={960}>
      <Title order={1}>Your account</Title>
      {/* While a server-generated password must be replaced, the other tabs would only be refused. */}
      {me.must_change_password || me.mfa_enrollment_required ? null : <TabNav label="Account" tabs={TABS} />}
      <Outlet />
    </Stack>
  );
}
