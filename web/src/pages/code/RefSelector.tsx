// Picks the branch or tag (or the commit in the URL) that the tree, file and log views show.
import { Select } from "@mantine/core";
import type { Branch, Tag } from "../../api/code";
import { shortId } from "../../api/code";

export function RefSelector({
  value,
  branches,
  tags,
  onPick,
}: {
  value: string;
  branches: Branch[];
  tags: Tag[];
  onPick: (ref: string) => void;
}) {
  const names = new Set([...branches.map((b) => b.name), ...tags.map((t) => t.name)]);
  const data = [
    { group: "Branches", items: branches.map((b) => ({ value: b.name, label: b.name })) },
    { group: "Tags", items: tags.map((t) => ({ value: t.name, label: t.name })) },
  ].filter((g) => g.items.length > 0);
  if (value && !names.has(value)) data.unshift({ group: "Commit", items: [{ value, label: shortId(value) }] });
  return (
    <Select
      label="Branch or tag"
      size="xs"
      w={200}
      searchable
      allowDeselect={false}
      value={value}
      data={data}
      nothingFoundMessage="No such branch or tag"
      onChange={(v) => v && v !== value && onPick(v)}
      comboboxProps={{ withinPortal: true }}
    />
  );
}
