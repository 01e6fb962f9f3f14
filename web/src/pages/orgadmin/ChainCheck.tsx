// The audit chain's verification on demand (it reads every event): an org's administrators check
// their org's events and the links to the events before them; an instance administrator may also
// check the whole chain.
import { Alert, Button, Group, Stack } from "@mantine/core";
import { useMutation } from "@tanstack/react-query";
import { verifyChain, type Verification } from "../../api/audit";
import { ErrorAlert } from "../../components/ErrorAlert";

function Result({ v }: { v: Verification }) {
  const what = v.scope === "org" ? "this organisation's events" : "the whole chain";
  if (v.ok)
    return (
      <Alert
        color="green"
        variant="light"
        role="status"
        title={`Intact: ${what}`}
        styles={{ title: { color: "var(--mantine-color-text)" } }} // green on light green is too faint (axe)
      >
        {v.checked} events checked; each matches its hash and links to the one before it.
      </Alert>
    );
  return (
    <Alert color="red" role="alert" title={`Broken: ${what}`}>
      Event {v.first_broken?.seq}: {v.first_broken?.reason}. {v.checked} events before it checked out. The trail
      was changed outside Atrium; tell the instance administrator.
    </Alert>
  );
}

export function ChainCheck({ orgId, instanceAdmin }: { orgId: string; instanceAdmin: boolean }) {
  const org = useMutation({ mutationFn: () => verifyChain(orgId) });
  const all = useMutation({ mutationFn: () => verifyChain(null) });
  return (
    <Stack gap="xs">
      <Group gap="sm">
        <Button size="xs" variant="default" loading={org.isPending} onClick={() => org.mutate()}>
          Verify this organisation's events
        </Button>
        {instanceAdmin ? (
          <Button size="xs" variant="default" loading={all.isPending} onClick={() => all.mutate()}>
            Verify the whole chain
          </Button>
        ) : null}
      </Group>
      {org.data ? <Result v={org.data} /> : null}
      {all.data ? <Result v={all.data} /> : null}
      <ErrorAlert error={org.error ?? all.error} title="Could not verify the chain" />
    </Stack>
  );
}
