// A row of tab links under a page heading (plain links, so each tab has its own address and works
// without script-driven focus management). The current one is marked aria-current="page".
import { Group, UnstyledButton } from "@mantine/core";
import { Link, useLocation } from "react-router";
import classes from "./tabnav.module.css";

export interface Tab {
  to: string;
  label: string;
}

// `exact`: the tab is current only at its own address; otherwise also below it (/admin/users/u1).
export function TabNav({ label, tabs, exact = true }: { label: string; tabs: readonly Tab[]; exact?: boolean }) {
  const { pathname } = useLocation();
  const here = pathname.replace(/\/$/, "");
  const current = (to: string) => here === to || (!exact && here.startsWith(`${to}/`));
  return (
    <nav aria-label={label}>
      <Group gap={4} className={classes.tabs} wrap="wrap">
        {tabs.map((t) => (
          <UnstyledButton
            key={t.to}
            component={Link}
            to={t.to}
            className={classes.tab}
            aria-current={current(t.to) ? "page" : undefined}
          >
            {t.label}
          </UnstyledButton>
        ))}
      </Group>
    </nav>
  );
}
