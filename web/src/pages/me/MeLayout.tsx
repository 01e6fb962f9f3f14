// /me/*: the account's pages under one heading, with a tab row of links (plain links, so that
// each tab has its own address and works without script-driven focus management).
import { Group, Stack, Title, UnstyledButton } from "@mantine/core";
import { Link, Outlet, useLocation } from "react-router";
import { useMe } from "../../auth/session";
import classes from "./me.module.css";

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
  const { pathname } = useLocation();
  const here = pathname.replace(/\/$/, "") || "/me";
  return (
    <Stack gap="md" maw={960}>
      <Title order={1}>Your account</Title>
      {/* While a server-generated password must be replaced, the other tabs would only be refused. */}
      {me.must_change_password || me.mfa_enrollment_required ? null : (
        <nav aria-label="Account">
          <Group gap={4} className={classes.tabs} wrap="wrap">
            {TABS.map((t) => (
              <UnstyledButton
                key={t.to}
                component={Link}
                to={t.to}
                className={classes.tab}
                aria-current={here === t.to ? "page" : undefined}
              >
                {t.label}
              </UnstyledButton>
            ))}
          </Group>
        </nav>
      )}
      <Outlet />
    </Stack>
  );
}
