import { Center, Loader } from "@mantine/core";

// The label sits on the status region: Loader's root is a plain span, where axe refuses aria-label.
export function Loading({ label = "Loading" }: { label?: string }) {
  return (
    <Center py="xl" role="status" aria-live="polite" aria-label={label}>
      <Loader size="sm" aria-hidden />
    </Center>
  );
}
