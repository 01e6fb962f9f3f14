// Where a file or folder is in the repository: the root, then each folder, each a link to its tree.
import { Anchor, Breadcrumbs, Text } from "@mantine/core";
import { Link } from "react-router";
import { codeUrl } from "./refs";

export function PathCrumbs({ base, slug, refName, path }: { base: string; slug: string; refName: string; path: string }) {
  const segs = path ? path.split("/") : [];
  const items = [
    { name: slug, path: "" },
    ...segs.map((s, i) => ({ name: s, path: segs.slice(0, i + 1).join("/") })),
  ];
  return (
    <nav aria-label="Path">
      <Breadcrumbs separator="/" style={{ flexWrap: "wrap" }}>
        {items.map((it, i) =>
          i === items.length - 1 ? (
            <Text key={it.path} fw={600} aria-current="page" style={{ wordBreak: "break-all" }}>
              {it.name}
            </Text>
          ) : (
            <Anchor key={it.path} component={Link} to={codeUrl(base, "tree", refName, it.path)}>
              {it.name}
            </Anchor>
          ),
        )}
      </Breadcrumbs>
    </nav>
  );
}
