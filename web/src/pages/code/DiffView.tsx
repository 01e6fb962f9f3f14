// A diff as files, each with its additions and deletions and its hunks, every line with its old
// and new line numbers. Used by one commit, compare, and the editor's conflict view.
import { Alert, Badge, Group, Paper, Stack, Text } from "@mantine/core";
import type { Compare } from "../../api/code";
import { EmptyState } from "../../components/EmptyState";
import "./code.css";
import { parsePatch, type Hunk } from "./diff";

export function Hunks({ hunks, label }: { hunks: Hunk[]; label: string }) {
  return (
    <div className="diff-scroll">
      <table className="diff-table" aria-label={label}>
        <thead>
          <tr>
            <th scope="col">Old line</th>
            <th scope="col">New line</th>
            <th scope="col">Line</th>
          </tr>
        </thead>
        <tbody>
          {hunks.map((h, i) => [
            <tr key={`h${i}`} className="diff-hunk">
              <td colSpan={3}>
                @@ -{h.oldStart},{h.oldLines} +{h.newStart},{h.newLines} @@ {h.section}
              </td>
            </tr>,
            ...h.lines.map((l, k) => (
              <tr key={`${i}:${k}`} className={l.kind === "add" ? "diff-add" : l.kind === "del" ? "diff-del" : undefined}>
                <td className="diff-no">{l.old ?? ""}</td>
                <td className="diff-no">{l.new ?? ""}</td>
                <td>
                  {l.kind === "add" ? "+" : l.kind === "del" ? "-" : " "}
                  {l.text}
                  {l.noNewline ? " ⏎̸" : ""}
                </td>
              </tr>
            )),
          ])}
        </tbody>
      </table>
    </div>
  );
}

export function DiffView({ diff }: { diff: Compare }) {
  const parsed = new Map(parsePatch(diff.patch).map((f) => [f.path, f]));
  const adds = diff.files.reduce((n, f) => n + f.additions, 0);
  const dels = diff.files.reduce((n, f) => n + f.deletions, 0);
  if (diff.files.length === 0) return <EmptyState title="No changes">The two commits have the same files.</EmptyState>;
  return (
    <Stack gap="sm">
      <Text size="sm" aria-label="Diff summary">
        {diff.files.length} {diff.files.length === 1 ? "file" : "files"} changed, {adds} additions, {dels} deletions
      </Text>
      {diff.truncated ? (
        <Alert color="gray" title="The diff is cut short">
          The server's limit on a diff's size was reached: some files below show no lines. Clone the repository to see
          all of it.
        </Alert>
      ) : null}
      {diff.files.map((f) => {
        const p = parsed.get(f.path);
        return (
          <Paper key={f.path} withBorder component="section" aria-label={`Changes to ${f.path}`}>
            <Group gap="xs" p="xs" wrap="wrap" justify="space-between">
              <Group gap="xs" wrap="wrap">
                <Text fw={600} size="sm" style={{ wordBreak: "break-all" }}>
                  {f.old_path && f.old_path !== f.path ? `${f.old_path} → ${f.path}` : f.path}
                </Text>
                <Badge variant="light" color="gray">
                  {f.status}
                </Badge>
              </Group>
              <Text size="sm" fw={600}>
                +{f.additions} −{f.deletions}
              </Text>
            </Group>
            {f.binary || p?.binary ? (
              <Text size="sm" px="xs" pb="xs">
                Binary file: not shown.
              </Text>
            ) : p && p.hunks.length ? (
              <Hunks hunks={p.hunks} label={`Lines changed in ${f.path}`} />
            ) : (
              <Text size="sm" px="xs" pb="xs">
                {diff.truncated ? "Not shown: the diff was cut short." : "No line changes (mode or name only)."}
              </Text>
            )}
          </Paper>
        );
      })}
    </Stack>
  );
}
