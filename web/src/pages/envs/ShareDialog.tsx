// Guest links to one running environment: made with a time limit (the link is shown once, with a
// copy button), listed, revoked. A guest needs no Atrium account; every open is audited.
import { Anchor, Badge, Button, Group, Modal, NativeSelect, Stack, Table, Text, TextInput } from "@mantine/core";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { createLink, listLinks, revokeLink, type Env, type GuestLink, type NewGuestLink } from "../../api/envs";
import { CopyButton } from "../../components/CopyButton";
import { EmptyState } from "../../components/EmptyState";
import { ErrorAlert } from "../../components/ErrorAlert";
import { Loading } from "../../components/Loading";
import { TableHead } from "./TableHead";

const TTLS = [
  { value: "900", label: "15 minutes" },
  { value: "3600", label: "1 hour" },
  { value: "28800", label: "8 hours" },
  { value: "86400", label: "1 day" },
  { value: "604800", label: "7 days" },
];

const when = (iso: string) => new Date(iso).toLocaleString();

function linkState(l: GuestLink): { text: string; color: string } {
  if (l.revoked_at) return { text: "revoked", color: "gray" };
  if (Date.parse(l.expires_at) <= Date.now()) return { text: "expired", color: "gray" };
  return { text: "active", color: "green" };
}

function Links({ env }: { env: Env }) {
  const qc = useQueryClient();
  const q = useQuery({ queryKey: ["env-links", env.id], queryFn: () => listLinks(env.id) });
  const revoke = useMutation({
    mutationFn: (id: string) => revokeLink(env.id, id),
    onSettled: () => qc.invalidateQueries({ queryKey: ["env-links", env.id] }),
  });
  if (q.isPending) return <Loading label="Loading the guest links" />;
  if (q.error) return <ErrorAlert error={q.error} title="The guest links could not be loaded" />;
  if (!q.data.items.length) return <EmptyState title="No guest links yet">Make one above to let someone in without an account.</EmptyState>;
  return (
    <Stack gap="xs">
      <ErrorAlert error={revoke.error} title="The link was not revoked" />
      <Table.ScrollContainer minWidth={420} type="native" tabIndex={0} role="region" aria-label="Guest links table, scrolls sideways">
        <Table aria-label="Guest links">
          <TableHead columns={["Made", "Expires", "State"]} />
          <Table.Tbody>
            {q.data.items.map((l) => {
              const s = linkState(l);
              return (
                <Table.Tr key={l.id}>
                  <Table.Td>{when(l.created_at)}</Table.Td>
                  <Table.Td>{when(l.expires_at)}</Table.Td>
                  <Table.Td>
                    <Badge variant="dot" color={s.color}>
                      {s.text}
                    </Badge>
                  </Table.Td>
                  <Table.Td>
                    {s.text === "active" ? (
                      <Button
                        size="xs"
                        variant="subtle"
                        color="red"
                        loading={revoke.isPending && revoke.variables === l.id}
                        onClick={() => revoke.mutate(l.id)}
                        aria-label={`Revoke the link made ${when(l.created_at)}`}
                      >
                        Revoke
                      </Button>
                    ) : null}
                  </Table.Td>
                </Table.Tr>
              );
            })}
          </Table.Tbody>
        </Table>
      </Table.ScrollContainer>
    </Stack>
  );
}

export function ShareDialog({ env, opened, onClose }: { env: Env; opened: boolean; onClose: () => void }) {
  const qc = useQueryClient();
  const [ttl, setTtl] = useState("3600");
  const [made, setMade] = useState<NewGuestLink | null>(null);
  const create = useMutation({
    mutationFn: () => createLink(env.id, Number(ttl)),
    onSuccess: (l) => {
      setMade(l);
      void qc.invalidateQueries({ queryKey: ["env-links", env.id] });
    },
  });
  const close = () => {
    setMade(null);
    create.reset();
    onClose();
  };
  return (
    <Modal opened={opened} onClose={close} title={`Share ${env.app}`} size="lg" closeButtonProps={{ "aria-label": "Close" }}>
      <Stack>
        <Text size="sm">
          A guest link opens this environment, and nothing else, for whoever has it, without an Atrium account, until it
          expires or you revoke it.
        </Text>
        <Group align="flex-end" wrap="wrap">
          <NativeSelect label="Valid for" data={TTLS} value={ttl} onChange={(e) => setTtl(e.currentTarget.value)} />
          <Button onClick={() => create.mutate()} loading={create.isPending}>
            Create link
          </Button>
        </Group>
        <ErrorAlert error={create.error} title="No link was made" />
        {made ? (
          <Stack gap={4} p="sm" style={{ border: "1px solid var(--mantine-color-default-border)", borderRadius: 4 }}>
            <TextInput label="Guest link (shown only now)" value={made.url} readOnly className="mono" onFocus={(e) => e.currentTarget.select()} />
            <Group gap="xs">
              <CopyButton value={made.url} label="Copy link" />
              <Anchor href={made.url} target="_blank" rel="noopener noreferrer" size="sm">
                Try it
              </Anchor>
              <Text size="xs" c="dimmed">
                expires {when(made.expires_at)}
              </Text>
            </Group>
          </Stack>
        ) : null}
        <Text fw={600} size="sm">
          Links to this environment
        </Text>
        <Links env={env} />
      </Stack>
    </Modal>
  );
}
