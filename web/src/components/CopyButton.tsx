import { Button, CopyButton as MCopy } from "@mantine/core";

export function CopyButton({ value, label = "Copy" }: { value: string; label?: string }) {
  return (
    <MCopy value={value}>
      {({ copied, copy }) => (
        <Button size="xs" variant="light" onClick={copy} aria-label={`${label}: ${value.slice(0, 40)}`}>
          {copied ? "Copied" : label}
        </Button>
      )}
    </MCopy>
  );
}
