// The bar above the tree, file and log views: the ref selector, where we are, and the actions.
import { Anchor, Group } from "@mantine/core";
import type { ReactNode } from "react";
import { Link } from "react-router";
import { withQuery } from "../../components/CursorList";
import type { useCodeLocation } from "./location";
import { PathCrumbs } from "./PathCrumbs";
import { RefSelector } from "./RefSelector";
import { codeUrl } from "./refs";

export function CodeHeader({
  loc,
  view,
  onPick,
  children,
}: {
  loc: ReturnType<typeof useCodeLocation>;
  view: "tree" | "blob" | "commits";
  onPick: (ref: string) => void;
  children?: ReactNode;
}) {
  const { base, ref, path, project } = loc;
  return (
    <Group justify="space-between" align="flex-end" wrap="wrap" gap="xs">
      <Group align="flex-end" gap="sm" wrap="wrap">
        <RefSelector
          value={ref}
          branches={loc.branches.data?.items ?? []}
          tags={loc.tags.data?.items ?? []}
          onPick={onPick}
        />
        {view !== "commits" ? <PathCrumbs base={base} slug={project.slug} refName={ref} path={path} /> : null}
      </Group>
      <Group gap="xs" wrap="wrap">
        {children}
        {view !== "commits" ? (
          <Anchor component={Link} size="sm" to={withQuery(codeUrl(base, "commits", ref), { path })}>
            History
          </Anchor>
        ) : null}
        <Anchor component={Link} size="sm" to={`${base}/branches`}>
          Branches and tags
        </Anchor>
      </Group>
    </Group>
  );
}
