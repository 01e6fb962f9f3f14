// Stop, after a confirmation: the app's own shutdown, then SIGTERM, then its cgroup is killed.
import { Button, Group, Modal, Stack, Text } from "@mantine/core";
import { useMutation } from "@tanstack/react-query";
import { useState } from "react";
import { stopEnv, type Env } from "../../api/envs";
import { ErrorAlert } from "../../components/ErrorAlert";

export function StopButton({ env, onStopped }: { env: Env; onStopped?: (e: Env) => void }) {
  const [open, setOpen] = useState(false);
  const stop = useMutation({
    mutationFn: () => stopEnv(env.id),
    onSuccess: (e) => {
      setOpen(false);
      onStopped?.(e);
    },
  });
  return (
    <>
      <Button size="xs" color="red" variant="light" onClick={() => setOpen(true)} aria-label={`Stop ${env.app} ${env.id}`}>
        Stop
      </Button>
      <Modal opened={open} onClose={() => setOpen(false)} title={`Stop ${env.app}?`} closeButtonProps={{ "aria-label": "Close" }}>
        <Stack>
          <Text size="sm">
            The environment {env.id} ends: its processes are stopped and what is not saved in /workspace or the home is lost.
          </Text>
          <ErrorAlert error={stop.error} title="It was not stopped" />
          <Group justify="flex-end">
            <Button variant="default" onClick={() => setOpen(false)}>
              Cancel
            </Button>
            <Button color="red" loading={stop.isPending} onClick={() => stop.mutate()}>
              Stop environment
            </Button>
          </Group>
        </Stack>
      </Modal>
    </>
  );
}
