// Small pieces the data pages share: a one-row form in a frame, and a table's header row.
import { Group, Paper, Table } from "@mantine/core";
import type { FormEvent, ReactNode } from "react";

export function InlineForm({ onSubmit, children, footer }: { onSubmit: () => void; children: ReactNode; footer?: ReactNode }) {
  const submit = (e: FormEvent) => {
    e.preventDefault();
    onSubmit();
  };
  return (
    <Paper withBorder p="sm">
      <form onSubmit={submit}>
        <Group align="flex-end" gap="sm" wrap="wrap">
          {children}
        </Group>
        {footer}
      </form>
    </Paper>
  );
}

export function HeadRow({ cols }: { cols: ReactNode[] }) {
  return (
    <Table.Thead>
      <Table.Tr>
        {cols.map((c, i) => (
          <Table.Th key={i}>{c}</Table.Th>
        ))}
      </Table.Tr>
    </Table.Thead>
  );
}
