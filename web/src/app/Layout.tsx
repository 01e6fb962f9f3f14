// The signed-in shell: header (home, project search, theme, user menu), navigation, and the page.
import {
  ActionIcon,
  AppShell,
  Burger,
  Group,
  Menu,
  NavLink,
  TextInput,
  UnstyledButton,
  useComputedColorScheme,
  useMantineColorScheme,
} from "@mantine/core";
import { useDisclosure } from "@mantine/hooks";
import { useState, type FormEvent } from "react";
import { Link, NavLink as RouterNavLink, Outlet, useLocation, useNavigate } from "react-router";
import { RequireAuth, useMe } from "../auth/session";
import { signOut } from "../auth/actions";
import { adminOrgs } from "../auth/can";

const NAV = [
  { to: "/", label: "Home", end: true },
  { to: "/new", label: "New project", end: true },
  { to: "/jobs", label: "Jobs", end: false },
  { to: "/envs", label: "Environments", end: false },
  { to: "/me", label: "Me", end: false },
];

function ThemeToggle() {
  const { setColorScheme } = useMantineColorScheme();
  const scheme = useComputedColorScheme("light");
  const next = scheme === "dark" ? "light" : "dark";
  return (
    <ActionIcon variant="default" size="lg" aria-label={`Switch to ${next} theme`} onClick={() => setColorScheme(next)}>
      <span aria-hidden="true">{scheme === "dark" ? "☀" : "☾"}</span>
    </ActionIcon>
  );
}

function SearchBox() {
  const navigate = useNavigate();
  const [q, setQ] = useState("");
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (q.trim()) navigate(`/search?q=${encodeURIComponent(q.trim())}`);
  };
  return (
    <form role="search" onSubmit={submit} style={{ flex: 1, maxWidth: 420 }}>
      <TextInput
        aria-label="Search projects"
        placeholder="Search projects"
        value={q}
        onChange={(e) => setQ(e.currentTarget.value)}
        size="sm"
      />
    </form>
  );
}

function UserMenu() {
  const me = useMe();
  return (
    <Menu position="bottom-end" withinPortal>
      <Menu.Target>
        <UnstyledButton aria-label={`Account menu for ${me.username}`} px="xs" py={4}>
          {me.display_name || me.username} ▾
        </UnstyledButton>
      </Menu.Target>
      <Menu.Dropdown>
        <Menu.Item component={Link} to="/me">
          Profile
        </Menu.Item>
        <Menu.Item component={Link} to="/me/tokens">
          API tokens
        </Menu.Item>
        <Menu.Item component={Link} to="/me/usage">
          Usage
        </Menu.Item>
        <Menu.Divider />
        <Menu.Item onClick={() => void signOut(false)}>Sign out</Menu.Item>
        <Menu.Item color="red" onClick={() => void signOut(true)}>
          Sign out everywhere
        </Menu.Item>
      </Menu.Dropdown>
    </Menu>
  );
}

// The main links, then one per org the caller administers, then the instance's administration.
function useNav() {
  const me = useMe();
  const orgs = adminOrgs(me).map((o) => ({ to: `/orgs/${o.slug}`, label: `Admin: ${o.name}`, end: false }));
  return [...NAV, ...orgs, ...(me.instance_admin ? [{ to: "/admin", label: "Instance admin", end: false }] : [])];
}

function Shell() {
  const [opened, { toggle, close }] = useDisclosure();
  const loc = useLocation();
  const nav = useNav();
  return (
    <AppShell
      header={{ height: 56 }}
      navbar={{ width: 200, breakpoint: "sm", collapsed: { mobile: !opened } }}
      padding="md"
    >
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <AppShell.Header>
        <Group h="100%" px="md" gap="sm" wrap="nowrap">
          <Burger opened={opened} onClick={toggle} hiddenFrom="sm" size="sm" aria-label="Toggle navigation" />
          <UnstyledButton component={Link} to="/" fw={700} aria-label="Atrium home">
            Atrium
          </UnstyledButton>
          <SearchBox />
          <Group gap="xs" ml="auto" wrap="nowrap">
            <ThemeToggle />
            <UserMenu />
          </Group>
        </Group>
      </AppShell.Header>
      <AppShell.Navbar p="xs" aria-label="Main">
        {nav.map((n) => (
          <NavLink
            key={n.to}
            component={RouterNavLink}
            to={n.to}
            end={n.end}
            label={n.label}
            onClick={close}
            active={n.end ? loc.pathname === n.to : loc.pathname.startsWith(n.to)}
          />
        ))}
      </AppShell.Navbar>
      <AppShell.Main id="main">
        <Outlet />
      </AppShell.Main>
    </AppShell>
  );
}

export function Layout() {
  return (
    <RequireAuth>
      <Shell />
    </RequireAuth>
  );
}
