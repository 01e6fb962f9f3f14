// "Delete X?": what it does, in words, then Keep / the action (red); the API's refusal in the
// dialog, which closes once the action is done.
import { Button, Group, Modal, Stack, Text } from "@mantine/core";
import { useMutation } from "@tanstack/react-query";
import type { ReactNode } from "react";
import { ErrorAlert } from "./ErrorAlert";

export function ConfirmDialog({
  title,
  children,
  confirm,
  failed,
  action,
  onClose,
}: {
  title: string;
  children: ReactNode; // what happens, in words
  confirm: string; // the action's button
  failed: string; // the error's title
  action: () => Promise<unknown>;
  onClose: () => void;
}) {
  const m = useMutation({ mutationFn: action, onSuccess: onClose });
  return (
    <Modal opened onClose={onClose} closeButtonProps={{ "aria-label": "Close" }} title={title}>
      <Stack gap="sm">
        <Text size="sm">{children}</Text>
        <ErrorAlert error={m.error} title={failed} />
        <Group justify="flex-end">
          <Button variant="default" onClick={onClose}>
            Keep it
          </Button>
          <Button color="red" loading={m.isPending} onClick={() => m.mutate()}>
            {confirm}
          </Button>
        </Group>
      </Stack>
    </Modal>
  );
}
