// What a page shows to someone who may not use it (the server refuses the calls as well).
import { Alert } from "@mantine/core";

export function Forbidden({ what }: { what: string }) {
  return (
    <Alert color="red" title="Not allowed" role="alert">
      You do not have permission to {what}. Ask an administrator if you need it.
    </Alert>
  );
}
