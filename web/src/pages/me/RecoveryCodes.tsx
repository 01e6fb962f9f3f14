// Recovery codes, shown once: copy them, or save them as a text file.
import { Alert, Button, Code, Group, Stack, Text } from "@mantine/core";
import { CopyButton } from "../../components/CopyButton";

export function RecoveryCodes({ codes }: { codes: string[] }) {
  const text = codes.join("\n") + "\n";
  const download = () => {
    const url = URL.createObjectURL(new Blob([text], { type: "text/plain" }));
    const a = document.createElement("a");
    a.href = url;
    a.download = "atrium-recovery-codes.txt";
    a.click();
    URL.revokeObjectURL(url);
  };
  return (
    <Stack gap="xs">
      <Alert color="blue" variant="light" role="status" title="Save your recovery codes now">
        Each code signs you in once if you lose your device. They are shown only this once.
      </Alert>
      <Code block aria-label="Recovery codes">
        {text}
      </Code>
      <Group>
        <CopyButton value={text} label="Copy codes" />
        <Button variant="default" size="xs" onClick={download}>
          Download .txt
        </Button>
      </Group>
      <Text size="sm" c="dimmed">
        Keep them somewhere safe, apart from your device.
      </Text>
    </Stack>
  );
}
